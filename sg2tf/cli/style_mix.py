"""Style mixing grid: rows take their coarse styles from the row seeds and the layers in --col-styles from the
column seeds, as NVIDIA's `run_generator.py style-mixing-example`.

    sg2tf-style-mix --row-seeds 85,100,75,458,1500 --col-seeds 55,821,1789,293 --outdir out   # digits network
    sg2tf-style-mix --network stylegan2-ffhq-config-f.pkl --row-seeds 85,100 --col-seeds 55,821 --trunc 1 --outdir out

z = RandomState(seed).randn(latent_size) per seed; W = mapping(z), truncated on every layer with the network's
dlatent_avg (`w_avg + (w - w_avg) * psi`); cell (row, col) = row W with the layers in --col-styles (NVIDIA's
default 0-6) from the column W. Writes grid.png (NVIDIA's figure: empty corner, column sources on top, row sources
on the left, mixes inside) and every image as ROW-COL.png (the sources as SEED-SEED.png), NVIDIA's names.
"""
from __future__ import annotations

import argparse
import sys

from sg2tf.cli import _creative as cli


def parse_args(argv=None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0], epilog=__doc__.split('\n', 1)[1],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    cli.add_network_args(ap)
    ap.add_argument('--row-seeds', type=cli.int_list, default=cli.int_list('85,100,75,458,1500'),
                    help="row sources (default NVIDIA's README example 85,100,75,458,1500)")
    ap.add_argument('--col-seeds', type=cli.int_list, default=cli.int_list('55,821,1789,293'),
                    help="column sources (default 55,821,1789,293)")
    ap.add_argument('--col-styles', type=cli.int_list, default=cli.int_list('0-6'),
                    help="W layers taken from the column source (NVIDIA's default '0-6')")
    ap.add_argument('--trunc', type=float, default=0.5, help='truncation psi on every layer (NVIDIA default 0.5)')
    ap.add_argument('--zoom', type=int, default=1, help='enlarge the written images N times (nearest neighbour)')
    cli.add_output_args(ap)
    return ap.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    return cli.run(lambda: _main(args))


def _main(args) -> int:
    from tqdm import tqdm
    from sg2tf import creative
    names = ['grid.png'] + [f'{s}-{s}.png' for s in dict.fromkeys(args.row_seeds + args.col_seeds)] + \
            [f'{r}-{c}.png' for r in args.row_seeds for c in args.col_seeds]
    paths = cli.check_outputs(args.outdir, names, args.overwrite)
    G = cli.load(args)
    w_avg = G.dlatent_avg.numpy()
    w_rows = creative.truncate(creative.map_seeds(G, args.row_seeds, args.class_idx), w_avg, args.trunc)
    w_cols = creative.truncate(creative.map_seeds(G, args.col_seeds, args.class_idx), w_avg, args.trunc)
    mixed = creative.style_mix(w_rows, w_cols, args.col_styles)
    synth = creative.Synthesizer(G, args.noise_mode, batch=4)  # NVIDIA: minibatch 4
    row_img, col_img = synth(w_rows), synth(w_cols)
    R, C = mixed.shape[:2]
    cells = synth(mixed.reshape(R * C, *mixed.shape[2:])).reshape(R, C, *row_img.shape[1:])
    z = args.zoom
    grid = creative.style_mix_figure(creative.zoom(row_img, z), creative.zoom(col_img, z), creative.zoom(cells, z))
    cli.make_outdir(args.outdir)
    images = {f'{s}-{s}.png': img for s, img in zip(args.row_seeds + args.col_seeds, list(row_img) + list(col_img))}
    images.update({f'{r}-{c}.png': cells[i, j] for i, r in enumerate(args.row_seeds)
                   for j, c in enumerate(args.col_seeds)})
    for name, img in tqdm(list(images.items()), desc='writing', unit='img', leave=False):
        creative.save_png(creative.zoom(img, z), paths[names.index(name)], overwrite=args.overwrite)
    creative.save_png(grid, paths[0], overwrite=args.overwrite)
    print(f'grid: {paths[0]} ({R} rows x {C} columns, col-styles {sorted(set(args.col_styles))})')
    return 0


if __name__ == '__main__':
    sys.exit(main())
