"""Project a real image into the generator: the W (or W+) and noise maps that reproduce it, with NVIDIA's
projector schedule (`run_projector.py project-real-images`).

    sg2tf-project --target digit.png --outdir proj                                   # the digits network
    sg2tf-project --network ffhq.pkl --target face.png --vgg16 vgg16_notop.h5 --video --outdir proj

The target must have the network's size and channels (grayscale for 1-channel networks). Distance: pixel MSE
always; with --vgg16 also an LPIPS-style VGG16 feature distance. --vgg16 takes a local Keras VGG16 weights file
(nothing is downloaded): vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5 from
https://storage.googleapis.com/tensorflow/keras-applications/vgg16/ , or the copy Keras keeps in ~/.keras/models/
after keras.applications.VGG16(weights='imagenet') ran on a machine with internet access.
Writes to --outdir: projected_w.npz (w [1, num_layers, w_dim] and noise0, noise1, ... NHWC), proj.png,
target_proj.png (target | projection), loss.csv (per step), and with --video proj.mp4 (target | progression;
a GIF if no MP4 encoder). Nothing is written until the projection has finished.
"""
from __future__ import annotations

import argparse
import csv
import io
import os
import sys

import numpy as np

from sg2tf.cli import _creative as cli


def parse_args(argv=None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0], epilog=__doc__.split('\n', 1)[1],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    cli.add_network_args(ap, noise=False)
    ap.add_argument('--target', required=True, help='target image (PNG/JPEG...), network size and channels')
    ap.add_argument('--steps', type=int, default=1000, help="optimisation steps (NVIDIA's default 1000)")
    ap.add_argument('--seed', type=int, default=0, help='initial noise maps and W perturbations (default 0)')
    ap.add_argument('--w-plus', action='store_true', help='optimise one W per layer (W+) instead of a single W')
    ap.add_argument('--vgg16', default=None, metavar='FILE',
                    help='Keras VGG16 weights .h5 for the perceptual distance (see below where to get it)')
    ap.add_argument('--video', action='store_true', help='also write the progression as proj.mp4')
    ap.add_argument('--video-every', type=int, default=5, help='one video frame every N steps (default 5)')
    ap.add_argument('--eager', action='store_true', help='run steps eagerly (slower; default: compiled tf.function)')
    ap.add_argument('--zoom', type=int, default=1, help='enlarge the written pictures N times (nearest neighbour)')
    cli.add_output_args(ap)
    return ap.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    return cli.run(lambda: _main(args))


def read_target(path: str, num_channels: int) -> np.ndarray:
    """[H, W, C] float in [-1, 1]; grayscale for 1-channel networks, RGB for 3; anything else a ValueError."""
    from PIL import Image, UnidentifiedImageError
    if not os.path.isfile(path):
        raise ValueError(f'{path}: no such file')
    try:
        with Image.open(path) as im:
            mode = {'1': 'L', 'P': 'RGB' if num_channels == 3 else 'L'}.get(im.mode, im.mode)
            im = im.convert(mode) if mode != im.mode else im
            arr = np.asarray(im)
    except (UnidentifiedImageError, OSError) as e:
        raise ValueError(f'{path}: not a readable image ({type(e).__name__})') from None
    channels = {'L': 1, 'LA': 2, 'RGB': 3, 'RGBA': 4, 'CMYK': 4}.get(mode)
    if channels is None or arr.dtype != np.uint8:
        raise ValueError(f'{path}: image mode {mode} is not 8-bit grayscale or RGB')
    if channels != num_channels:
        raise ValueError(f'{path}: {channels}-channel image ({mode}); the network makes {num_channels}-channel '
                         f'images ({"grayscale L" if num_channels == 1 else "RGB"})')
    arr = arr.reshape(arr.shape[0], arr.shape[1], channels)
    return arr.astype(np.float32) / 127.5 - 1.0


def losses_csv(losses: list[dict]) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(losses[0]), lineterminator='\n')
    writer.writeheader()
    writer.writerows(losses)
    return buf.getvalue()


def _main(args) -> int:
    from tqdm import tqdm
    from sg2tf import creative, projector
    from sg2tf.fileio import atomic_open, atomic_write
    from sg2tf.images import convert_images_to_uint8
    if args.steps < 1:
        raise ValueError(f'--steps must be >= 1, got {args.steps}')
    if args.video and args.video_every < 1:
        raise ValueError(f'--video-every must be >= 1, got {args.video_every}')
    if args.vgg16 is not None and not os.path.isfile(args.vgg16):
        raise ValueError(f'{args.vgg16}: no such file (--vgg16 needs {projector.VGG16_HELP})')
    video = 'proj.mp4'
    if args.video and creative.find_mp4_encoder() is None:
        video = 'proj.gif'
        print(f'warning: {creative.NO_ENCODER}; writing {video} instead', file=sys.stderr)
    names = ['projected_w.npz', 'proj.png', 'target_proj.png', 'loss.csv'] + ([video] if args.video else [])
    paths = dict(zip(names, cli.check_outputs(args.outdir, names, args.overwrite)))
    if not os.path.isfile(args.target):
        raise ValueError(f'{args.target}: no such file')
    G = cli.load(args)
    target = projector.check_target(G, read_target(args.target, G.num_channels), what=args.target)
    proj = projector.Projector(G, num_steps=args.steps, w_plus=args.w_plus, vgg16=args.vgg16, seed=args.seed,
                               class_idx=args.class_idx, compiled=not args.eager)
    with tqdm(total=args.steps, desc='projecting', unit='step') as bar:
        def progress(step: int, losses: dict) -> None:
            bar.update(1)
            if step % 20 == 0 or step == args.steps - 1:
                bar.set_postfix(mse=f"{losses['mse']:.5f}")
        result = proj.run(target, progress=progress, frame_every=args.video_every if args.video else 0)
    to8 = lambda x: convert_images_to_uint8(np.asarray(x)[None])[0]  # noqa: E731
    target8, proj8 = to8(target), to8(result.image)
    psnr = projector.psnr(target8, proj8)
    cli.make_outdir(args.outdir)
    with atomic_write(paths['projected_w.npz'], overwrite=args.overwrite) as tmp:
        np.savez(tmp, w=result.w, **{f'noise{k}': n for k, n in enumerate(result.noise)})
    z = args.zoom
    creative.save_png(creative.zoom(proj8, z), paths['proj.png'], overwrite=args.overwrite)
    creative.save_png(creative.zoom(np.concatenate([target8, proj8], axis=1), z), paths['target_proj.png'],
                      overwrite=args.overwrite)
    with atomic_open(paths['loss.csv'], 'w', overwrite=args.overwrite) as f:
        f.write(losses_csv(result.losses))
    if args.video:
        frames = np.stack([creative.zoom(np.concatenate([target8, f], axis=1), z) for f in result.frames])
        creative.save_video(frames, paths[video], fps=24, overwrite=args.overwrite)
    print(f"projected in {args.steps} steps: PSNR {psnr:.2f} dB, final mse {result.losses[-1]['mse']:.5f}; "
          f"{args.outdir}: {', '.join(names)}")
    return 0


if __name__ == '__main__':
    sys.exit(main())
