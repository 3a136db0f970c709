"""Generate images from a StyleGAN2 network: an NVIDIA pickle or an sg2tf `.keras` file.

    sg2tf-generate --seeds 0-7 --trunc 0.7 --outdir out            # the network shipped with sg2tf
    sg2tf-generate --network stylegan2-ffhq-config-f.pkl --seeds 6600-6625 --trunc 0.5 --outdir out --grid

z comes from `np.random.RandomState(seed).randn(1, latent_size)` as in NVIDIA's `run_generator.py`.
`--noise-mode seed` also reproduces its noise: the buffers redrawn from the same RandomState after z.
"""
from __future__ import annotations

import argparse
import math
import os
import sys
import time

import numpy as np

from sg2tf.cli._common import FP16_HELP, ToolError, fail, load_generator, set_fp16
from sg2tf.fileio import OutputError, atomic_write

# The network shipped with sg2tf (package data): 32x32 one-channel digits, trained by sg2tf (README).
DEFAULT_NETWORK = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), 'assets',
                               'digits32.pkl')


MAX_SEED = 2 ** 32 - 1   # np.random.RandomState accepts 0 .. 2**32 - 1
MAX_SEEDS = 1_000_000    # images per run
MAX_GRID = 1024          # images in grid.png


def parse_seeds(text: str) -> list[int]:
    """'0-3,7,10-11' -> [0, 1, 2, 3, 7, 10, 11]; seeds in 0..2**32-1, ranges ascending, at most MAX_SEEDS."""
    seeds: list[int] = []
    shown = text if len(text) <= 60 else text[:60] + '...'
    for part in text.split(','):
        part = part.strip()
        try:
            lo, hi = (int(v) for v in part.split('-')) if '-' in part else (int(part), int(part))
        except ValueError:
            raise argparse.ArgumentTypeError(f"bad seed list {shown!r}: expected e.g. '0-7' or '1,5,9'") from None
        if not 0 <= lo <= MAX_SEED or not 0 <= hi <= MAX_SEED:
            raise argparse.ArgumentTypeError(f'seed {hi if lo <= MAX_SEED else lo} out of range: seeds are '
                                             f'0..{MAX_SEED} (NumPy RandomState)')
        if hi < lo:
            raise argparse.ArgumentTypeError(f"empty seed range {part!r}: write it low-high, e.g. '{hi}-{lo}'")
        if len(seeds) + hi - lo + 1 > MAX_SEEDS:
            raise argparse.ArgumentTypeError(f'{shown!r} asks for more than {MAX_SEEDS:,} images in one run')
        seeds.extend(range(lo, hi + 1))
    return seeds


def parse_trunc(text: str) -> float:
    """A finite truncation psi."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f'bad truncation psi {text[:40]!r}: expected a finite number (1 = off)')
    return value


def save_png(image: np.ndarray, path: str) -> None:
    """Write a uint8 HWC image (C = 1 or 3) as PNG, atomically (`sg2tf.fileio.atomic_write`)."""
    from PIL import Image
    with atomic_write(path) as tmp:
        Image.fromarray(image[:, :, 0] if image.shape[2] == 1 else image).save(tmp, format='PNG')


def make_grid(images: list[np.ndarray]) -> np.ndarray:
    cols = math.ceil(math.sqrt(len(images)))
    rows = math.ceil(len(images) / cols)
    h, w, c = images[0].shape
    grid = np.zeros([rows * h, cols * w, c], np.uint8)
    for i, img in enumerate(images):
        grid[(i // cols) * h:(i // cols + 1) * h, (i % cols) * w:(i % cols + 1) * w] = img
    return grid


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--network', default=DEFAULT_NETWORK, help='NVIDIA pickle or .keras (default: the shipped digits network)')
    ap.add_argument('--seeds', type=parse_seeds, default=parse_seeds('0-7'), help="e.g. '0-7' or '1,5,9'")
    ap.add_argument('--trunc', type=parse_trunc, default=None,
                    help="truncation psi (1 = off); default NVIDIA's 0.5, or stylegan2-ada-pytorch's 1 for its snapshots")
    ap.add_argument('--trunc-cutoff', type=int, default=None, help='truncate only W layers < cutoff')
    ap.add_argument('--noise-mode', choices=['const', 'random', 'none', 'seed'], default='const',
                    help='const: stored buffers; random: fresh; none: no noise; seed: NVIDIA run_generator.py')
    ap.add_argument('--class', dest='class_idx', type=int, default=None, help='class index (conditional nets)')
    ap.add_argument('--outdir', required=True)
    ap.add_argument('--grid', action='store_true', help='also write grid.png with all seeds')
    ap.add_argument('--fp16', action='store_true', help=FP16_HELP)
    args = ap.parse_args(argv)

    try:  # before the slow loading: an --outdir that is a file or cannot be written
        if args.grid and len(args.seeds) > MAX_GRID:
            raise OutputError(f'--grid takes at most {MAX_GRID} seeds (got {len(args.seeds)})')
        outdir = os.path.abspath(args.outdir)
        if os.path.lexists(outdir) and not os.path.isdir(outdir):
            raise OutputError(f'{args.outdir}: exists and is not a directory')
        existing = outdir
        while not os.path.isdir(existing):
            existing = os.path.dirname(existing)
        if not os.access(existing, os.W_OK | os.X_OK):
            raise OutputError(f'{args.outdir}: cannot write to {existing} (permission denied)')
    except OutputError as e:
        print(f'error: {e}', file=sys.stderr)
        return 1

    os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
    import tensorflow as tf
    from sg2tf.images import convert_images_to_uint8
    from sg2tf.misc import release_free_heap

    try:
        t0 = time.perf_counter()
        G = load_generator(args.network)
        print(f'Loaded {args.network} ({G.resolution}x{G.resolution}, {G.num_channels} ch, '
              f'label_size {G.label_size}) in {time.perf_counter() - t0:.1f} s')
        note = set_fp16(G, args.fp16)
        if note:
            print(note)
    except ToolError as e:
        print(f'error: {e}', file=sys.stderr)
        return 1
    c = np.zeros([1, G.label_size], np.float32)
    if G.label_size:
        if args.class_idx is None or not 0 <= args.class_idx < G.label_size:
            print(f'error: the network is conditional with {G.label_size} classes: pass --class 0..'
                  f'{G.label_size - 1}', file=sys.stderr)
            return 1
        c[0, args.class_idx] = 1
    elif args.class_idx is not None:
        print('warning: --class ignored: the network is unconditional', file=sys.stderr)

    mode = 'const' if args.noise_mode == 'seed' else args.noise_mode
    if args.trunc is None:  # the defaults of the tool the network came from: run_generator.py 0.5, generate.py 1
        from sg2tf.nvidia.loader import SOURCE_PYTORCH
        args.trunc = 1.0 if getattr(G, 'source_format', None) == SOURCE_PYTORCH else 0.5

    @tf.function(reduce_retracing=True)  # a compiled graph, traced once
    def synthesize(z, c, noise):
        return G(z, c, truncation_psi=args.trunc, truncation_cutoff=args.trunc_cutoff, noise_mode=mode, noise=noise)

    try:
        os.makedirs(args.outdir, exist_ok=True)
        print(f'Generating {len(args.seeds)} image(s) into {args.outdir}')
        images = []
        for seed in args.seeds:
            t0 = time.perf_counter()
            rnd = np.random.RandomState(seed)
            z = rnd.randn(1, G.latent_size).astype(np.float32)
            noise = None
            if args.noise_mode == 'seed':  # run_generator.py: noise buffers redrawn, in order, from the same rnd
                noise = [tf.constant(rnd.randn(*v.shape).astype(np.float32)) for v in G.synthesis.noise_buffers]
            img = synthesize(z, c, noise)
            img = convert_images_to_uint8(img.numpy())[0]
            release_free_heap()
            path = os.path.join(args.outdir, f'seed{seed:04d}.png')
            save_png(img, path)
            if args.grid:
                images.append(img)
            print(f'seed {seed}: {path} ({time.perf_counter() - t0:.2f} s)')
        if args.grid and images:
            save_png(make_grid(images), os.path.join(args.outdir, 'grid.png'))
            print(f"grid: {os.path.join(args.outdir, 'grid.png')}")
    except (OutputError, OSError) as e:
        return fail(e, args.outdir)
    return 0


if __name__ == '__main__':
    sys.exit(main())
