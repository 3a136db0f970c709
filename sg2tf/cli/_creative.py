"""Shared by the creative commands (sg2tf-style-mix, -interpolate, -edit, -project): arguments, loading, errors."""
from __future__ import annotations

import argparse
import os
import sys
import time
from typing import Callable

from sg2tf.cli._common import FP16_HELP, ToolError, load_generator, set_fp16
from sg2tf.cli.generate import DEFAULT_NETWORK, parse_seeds


def int_list(text: str) -> list[int]:
    """'0-6' or '0,2,4-5' -> [0, 1, ...] (the seed-list syntax of sg2tf-generate)."""
    return parse_seeds(text)


def float_list(text: str) -> list[float]:
    """'-3,0,1.5' -> [-3.0, 0.0, 1.5]."""
    try:
        return [float(p) for p in text.split(',') if p.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"bad number list {text!r}: expected e.g. '-2,0,2'") from None


def add_network_args(ap: argparse.ArgumentParser, noise: bool = True) -> None:
    ap.add_argument('--network', default=DEFAULT_NETWORK,
                    help='NVIDIA pickle, stylegan2-ada-pytorch snapshot or .keras (default: the shipped digits network)')
    ap.add_argument('--class', dest='class_idx', type=int, default=None, help='class index (conditional networks)')
    if noise:
        ap.add_argument('--noise-mode', choices=['const', 'random', 'none'], default='const',
                        help="const (default): the network's stored noise buffers, as NVIDIA's tools; random; none")
    ap.add_argument('--fp16', action='store_true', help=FP16_HELP)


def load(args) -> object:
    """The generator of `args.network`, its class checked; prints one line about it."""
    t0 = time.perf_counter()
    G = load_generator(args.network)
    if G.label_size and (args.class_idx is None or not 0 <= args.class_idx < G.label_size):
        raise ToolError(f'the network is conditional with {G.label_size} classes: pass --class 0..{G.label_size - 1}')
    if not G.label_size and args.class_idx is not None:
        raise ToolError('--class given but the network is unconditional')
    print(f'Loaded {args.network} ({G.resolution}x{G.resolution}, {G.num_channels} ch, {G.num_layers} W layers, '
          f'label_size {G.label_size}) in {time.perf_counter() - t0:.1f} s')
    note = set_fp16(G, args.fp16)
    if note:
        print(note)
    return G


def one_line(e: BaseException) -> str:
    return ' '.join(str(e).split()) or type(e).__name__


def run(body: Callable[[], int]) -> int:
    """Run a command body: the user-fixable errors become one line `error: ...` and exit status 1."""
    os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
    from sg2tf.creative import NoEncoderError
    from sg2tf.fileio import OutputError
    try:
        return body()
    except (ToolError, OutputError, NoEncoderError, ValueError) as e:
        print(f'error: {one_line(e)}', file=sys.stderr)
        return 1
    except OSError as e:
        print(f'error: {getattr(e, "filename", None) or ""}: {e.strerror or one_line(e)}', file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print('error: interrupted (no output written)', file=sys.stderr)
        return 1


def add_output_args(ap: argparse.ArgumentParser, outdir: bool = True) -> None:
    if outdir:
        ap.add_argument('--outdir', required=True, help='output directory (created if missing)')
    ap.add_argument('--overwrite', action='store_true', help='replace existing output files')


def check_outputs(outdir: str, names: list[str], overwrite: bool) -> list[str]:
    """Paths of `names` in `outdir`, refused up front (before slow work) if they cannot be written: nothing is
    created until the results exist."""
    from sg2tf.cli._common import check_output
    check_output(outdir, directory=True, overwrite=True)
    paths = [os.path.join(outdir, n) for n in names]
    if os.path.isdir(outdir):
        for p in paths:
            check_output(p, overwrite=overwrite)
    return paths


def make_outdir(outdir: str) -> None:
    os.makedirs(outdir, exist_ok=True)
