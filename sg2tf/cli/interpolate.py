"""Interpolation videos: walks between seeds (slerp in z or lerp in W) or saved latents (lerp in W), as GIF or MP4.

    sg2tf-interpolate --seeds 1,2,3,4 --frames 24 --loop --out walk.gif                  # the digits network
    sg2tf-interpolate --seeds 0,1,2 --seeds 3,4,5 --seeds 6,7,8 --seeds 9,10,11 --out walks.mp4   # 2x2 grid
    sg2tf-interpolate --latents a/projected_w.npz b/projected_w.npz --space w --out ab.gif       # projections

Each --seeds is one walk (several: a grid of walks, same number of keys each); z = RandomState(seed).randn
(NVIDIA's run_generator.py). --space z: slerp between the z then mapping and truncation per frame; --space w:
mapping and truncation of the keys, then lerp. --frames per segment; --loop returns to the first key. MP4 needs
imageio's ffmpeg plugin (pip install imageio-ffmpeg); without an encoder a GIF is written beside it instead, with
a message (or, with --no-fallback, an error and no output).
"""
from __future__ import annotations

import argparse
import os
import sys

import numpy as np

from sg2tf.cli import _creative as cli


def parse_args(argv=None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0], epilog=__doc__.split('\n', 1)[1],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    cli.add_network_args(ap)
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument('--seeds', type=cli.int_list, action='append', help="keys of one walk, e.g. '1,2,3' (repeat for a grid)")
    src.add_argument('--latents', nargs='+', help='keys of one walk: sg2tf-project .npz or .npy W files (W space)')
    ap.add_argument('--space', choices=['z', 'w'], default=None, help='z: slerp (default for seeds); w: lerp')
    ap.add_argument('--frames', type=int, default=30, help='frames per segment (default 30)')
    ap.add_argument('--loop', action='store_true', help='return to the first key (a seamless loop)')
    ap.add_argument('--trunc', type=float, default=1.0, help='truncation psi on every layer (default 1 = none)')
    ap.add_argument('--fps', type=float, default=24.0)
    ap.add_argument('--zoom', type=int, default=1, help='enlarge frames N times (nearest neighbour)')
    ap.add_argument('--out', required=True, help='output video, .gif or .mp4')
    ap.add_argument('--no-fallback', action='store_true', help='MP4 without an encoder is an error instead of a GIF')
    cli.add_output_args(ap, outdir=False)
    return ap.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    return cli.run(lambda: _main(args))


def walk_latents(G, args) -> np.ndarray:
    """[num_walks, T, num_layers, dlatent_size] W of every frame."""
    from sg2tf import creative
    w_avg = G.dlatent_avg.numpy()
    if args.latents:
        keys = np.concatenate([creative.load_latent(p, G.num_layers, G.dlatent_size)[0] for p in args.latents])
        return creative.walk(keys, args.frames, args.loop, 'w')[None]
    if len({len(s) for s in args.seeds}) != 1:
        raise ValueError(f'every --seeds walk needs the same number of keys, got {[len(s) for s in args.seeds]}')
    walks = []
    for seeds in args.seeds:
        if args.space == 'w':
            keys = creative.truncate(creative.map_seeds(G, seeds, args.class_idx), w_avg, args.trunc)
            walks.append(creative.walk(keys, args.frames, args.loop, 'w'))
        else:
            zs = creative.walk(np.stack([creative.seed_z(s, G.latent_size) for s in seeds]), args.frames, args.loop, 'z')
            walks.append(creative.truncate(creative.map_z(G, zs, args.class_idx), w_avg, args.trunc))
    return np.stack(walks)


def _main(args) -> int:
    from tqdm import tqdm
    from sg2tf import creative
    from sg2tf.cli._common import check_output
    if args.latents and args.space == 'z':
        raise ValueError('--latents are W vectors: interpolate them with --space w')
    args.space = args.space or ('w' if args.latents else 'z')
    if os.path.splitext(args.out)[1].lower() not in ('.gif', '.mp4'):
        raise ValueError(f'{args.out}: the video must end in .gif or .mp4')
    out = args.out
    if out.lower().endswith('.mp4') and creative.find_mp4_encoder() is None:
        if args.no_fallback:
            raise creative.NoEncoderError(creative.NO_ENCODER)
        out = os.path.splitext(out)[0] + '.gif'
        print(f'warning: {creative.NO_ENCODER}; writing {out} instead', file=sys.stderr)
    check_output(out, overwrite=args.overwrite)
    G = cli.load(args)
    ws = walk_latents(G, args)                                    # [walks, T, L, D]
    synth = creative.Synthesizer(G, args.noise_mode)
    walks, T = ws.shape[:2]
    frames = (creative.tile_grid(creative.zoom(synth(ws[:, t]), args.zoom))                 # all walks at time t
              for t in tqdm(range(T), desc='frames', unit='frame'))
    creative.save_video(frames, out, fps=args.fps, overwrite=args.overwrite)
    print(f'{out}: {T} frames, {walks} walk(s), {args.space} space')
    return 0


if __name__ == '__main__':
    sys.exit(main())
