"""Latent editing: move W along a direction with a list of strengths on chosen layers, as a strip image; or compute
GANSpace-style principal directions of W (--pca K) to edit with.

    sg2tf-edit --seeds 0-3 --direction smile.npy --strengths=-3,-1.5,0,1.5,3 --outdir out     # W rows 0-7 edited
    sg2tf-edit --network ffhq.pkl --latents proj/projected_w.npz --direction d.npy --layers 0-17 --outdir out  # all 18
    sg2tf-edit --pca 8 --seeds 0-3 --outdir pca                 # directions pca/pc00.npy ... + a strip per component

Directions: [w_dim] or [1, w_dim] is a W direction (InterFaceGAN, GANSpace), added to each layer in --layers
(default 0-7, the usual age/smile recipe, clipped to the network's layers); [num_layers, w_dim] (or with a leading
1) is a W+ direction (StyleCLIP), its row l added to layer l for l in --layers (default every layer). Edited
W = W + strength * direction. Start points: seeds (z = RandomState(seed).randn, mapping, truncation --trunc) or
sg2tf-project outputs (their noise maps are used). Writes strip.png: one row per start point, one column per
strength. --pca K: the top K principal directions of W over --samples mapped z, saved as pc00.npy ... (unit
vectors [w_dim]) and pca.npz (components, stddev, mean); strips pc00.png ... with strengths in units of each
component's standard deviation.
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
    src = ap.add_mutually_exclusive_group()
    src.add_argument('--seeds', type=cli.int_list, default=None, help="start points, e.g. '0-3' (default 0-3)")
    src.add_argument('--latents', nargs='+', help='start points: sg2tf-project .npz or .npy W files')
    what = ap.add_mutually_exclusive_group(required=True)
    what.add_argument('--direction', help='.npy direction, [w_dim], [1, w_dim] or [num_layers, w_dim]')
    what.add_argument('--pca', type=int, metavar='K', help='compute K principal directions of W (GANSpace)')
    ap.add_argument('--samples', type=int, default=10000, help='--pca: number of mapped z (default 10000)')
    ap.add_argument('--strengths', type=cli.float_list, default=cli.float_list('-3,-1.5,0,1.5,3'),
                    help="strengths, e.g. '--strengths=-3,0,3' (write '=' before a leading minus; default -3,-1.5,0,1.5,3)")
    ap.add_argument('--layers', type=cli.int_list, default=None,
                    help="W layers to edit, e.g. '0-7' (default: 0-7 for a W direction, all for a W+ direction)")
    ap.add_argument('--trunc', type=float, default=0.7, help='truncation psi of seed start points (default 0.7)')
    ap.add_argument('--zoom', type=int, default=1, help='enlarge the strips N times (nearest neighbour)')
    cli.add_output_args(ap)
    return ap.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    return cli.run(lambda: _main(args))


def start_points(G, args) -> list[tuple[np.ndarray, list | None]]:
    """[(W [1, L, D], noise maps or None)] of the seeds or latent files."""
    from sg2tf import creative
    if args.latents:
        return [creative.load_latent(p, G.num_layers, G.dlatent_size) for p in args.latents]
    ws = creative.truncate(creative.map_seeds(G, args.seeds, args.class_idx), G.dlatent_avg.numpy(), args.trunc)
    return [(w[None], None) for w in ws]


def strip(G, synth, starts, direction, strengths, layers) -> np.ndarray:
    """[rows = start points, cols = strengths] image of the edits."""
    from sg2tf import creative
    rows = []
    for w, noise in starts:
        edited = creative.edit(w, direction, strengths, layers)[:, 0]  # [S, L, D]
        rows.append(synth(edited, noise))
    rows = np.stack(rows)                                                    # [N, S, H, W, C]
    return creative.tile_grid(rows.reshape(-1, *rows.shape[2:]), cols=len(strengths))


def _main(args) -> int:
    from tqdm import tqdm
    from sg2tf import creative
    if args.seeds is None and not args.latents:
        args.seeds = cli.int_list('0-3')
    if args.direction is not None and not os.path.isfile(args.direction):
        raise ValueError(f'{args.direction}: no such file')
    if args.pca is not None:
        names = ['pca.npz'] + [f'pc{k:02d}{e}' for k in range(max(args.pca, 0)) for e in ('.npy', '.png')]
    else:
        names = ['strip.png']
    paths = dict(zip(names, cli.check_outputs(args.outdir, names, args.overwrite)))
    G = cli.load(args)
    L, D = G.num_layers, G.dlatent_size
    if args.layers is not None and any(not 0 <= i < L for i in args.layers):
        raise ValueError(f'--layers {min(args.layers)}-{max(args.layers)} out of range: the network has W layers 0-{L - 1}')
    starts = start_points(G, args)
    synth = creative.Synthesizer(G, args.noise_mode)
    z = args.zoom
    if args.direction is not None:
        try:
            d = np.load(args.direction, allow_pickle=False)
        except Exception as e:  # noqa: BLE001
            raise ValueError(f'{args.direction}: not a .npy array ({type(e).__name__})') from None
        if not isinstance(d, np.ndarray):
            raise ValueError(f'{args.direction}: an .npz archive; expected one .npy array')
        direction, is_wplus = creative.direction_as_wplus(d, L, D, what=args.direction)
        layers = args.layers if args.layers is not None else (range(L) if is_wplus else range(min(8, L)))
        print(f'{"W+" if is_wplus else "W"} direction {list(d.shape)}, layers {sorted(set(layers))}, '
              f'strengths {args.strengths}')
        image = strip(G, synth, starts, direction, args.strengths, layers)
        cli.make_outdir(args.outdir)
        creative.save_png(creative.zoom(image, z), paths['strip.png'], overwrite=args.overwrite)
        print(f"strip: {paths['strip.png']} ({len(starts)} rows x {len(args.strengths)} strengths)")
        return 0
    pca = creative.pca_directions(G, args.pca, args.samples, class_idx=args.class_idx)
    layers = args.layers if args.layers is not None else range(min(8, L))
    strips = []
    for k in tqdm(range(args.pca), desc='components', unit='pc'):
        direction = np.tile(pca['components'][k][None], [L, 1])
        strengths = [s * float(pca['stddev'][k]) for s in args.strengths]
        strips.append(strip(G, synth, starts, direction, strengths, layers))
    cli.make_outdir(args.outdir)
    from sg2tf.fileio import atomic_write
    with atomic_write(paths['pca.npz'], overwrite=args.overwrite) as tmp:
        np.savez(tmp, **pca)
    for k, image in enumerate(strips):
        with atomic_write(paths[f'pc{k:02d}.npy'], overwrite=args.overwrite) as tmp:
            np.save(tmp, pca['components'][k])
        creative.save_png(creative.zoom(image, z), paths[f'pc{k:02d}.png'], overwrite=args.overwrite)
    print(f"{args.pca} directions: {paths['pca.npz']}, pc00.npy ...; stddev "
          f"{', '.join(f'{s:.3f}' for s in pca['stddev'])}; strips pc00.png ... (strengths x stddev)")
    return 0


if __name__ == '__main__':
    sys.exit(main())
