"""Memory that TensorFlow's CPU kernels keep or take beyond their tensors, for the choices networks.py and
ops/conv2d_resample.py make (bands of one shape, the four-phase up-convolution).

    python benchmarks/op_memory.py [--width 1024]

1. Kept: the 2x up-convolution of one band of the 1024x1024 block (config-f: 64 -> 32 channels), as the transposed
   conv and as its four phases (`conv2d_resample(..., polyphase=True)`), for input heights 131, 134, 131 (again)
   and 200 (after a warm-up shape). Printed: how much memory glibc has handed out and not got back after two calls (mallinfo2
   hblkhd + uordblks), minus TensorFlow's live tensors: what the kernels keep for the life of the process.
   The first height also includes one-time growth that both formulations show; the later ones are per shape.
   Run in a fresh subprocess per formulation, with TensorFlow's BFC allocator off and a small mmap threshold so
   that freed tensors go back to the system and only what is kept shows.
2. Taken: TensorFlow's peak tensor bytes (BFC count) of `tf.pad` against an elementwise op of the same output.
"""
from __future__ import annotations

import argparse
import ctypes
import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HEIGHTS = (131, 134, 131, 200)


class _MallInfo2(ctypes.Structure):
    _fields_ = [(n, ctypes.c_size_t) for n in ('arena', 'ordblks', 'smblks', 'hblks', 'hblkhd', 'usmblks',
                                                'fsmblks', 'uordblks', 'fordblks', 'keepcost')]


def _handed_out_mib() -> float:
    libc = ctypes.CDLL('libc.so.6')
    libc.mallinfo2.restype = _MallInfo2
    m = libc.mallinfo2()
    return (m.hblkhd + m.uordblks) / 2**20


def kept_worker(formulation: str, width: int) -> dict:
    import numpy as np
    import tensorflow as tf
    sys.path.insert(0, ROOT)
    from sg2tf import ops
    f = ops.setup_filter([1, 3, 3, 1])
    w = tf.constant(np.random.RandomState(0).randn(3, 3, 64, 32).astype(np.float32))
    kept = []
    for h in (60,) + HEIGHTS:  # 60: warm-up (thread pools, first kernels), not reported
        x = tf.constant(np.random.RandomState(h).randn(1, h, width // 2, 64).astype(np.float32))
        fn = tf.function(lambda x: tf.reduce_sum(ops.conv2d_resample(x, w, f, up=2,
                                                                    polyphase=formulation == 'phases')))
        before = _handed_out_mib() - tf.config.experimental.get_memory_info('CPU:0')['current'] / 2**20
        fn(x).numpy(), fn(x).numpy()
        after = _handed_out_mib() - tf.config.experimental.get_memory_info('CPU:0')['current'] / 2**20
        kept.append(round(after - before, 1))
    return {'kept_mib': kept[1:]}


def pad_peaks() -> list[tuple[str, float, float]]:
    import numpy as np
    import tensorflow as tf
    x = tf.constant(np.random.RandomState(0).randn(1, 1024, 1024, 32).astype(np.float32))
    rows = []
    for name, op, side in (('tf.pad (1, 2) on rows and columns', lambda x: tf.pad(x, [[0, 0], [1, 2], [1, 2], [0, 0]]),
                            1027),
                           ('tf.square', tf.square, 1024)):
        fn = tf.function(lambda x: tf.reduce_sum(op(x)))
        fn(x).numpy()
        base = tf.config.experimental.get_memory_info('CPU:0')['current']
        tf.config.experimental.reset_memory_stats('CPU:0')
        fn(x).numpy()
        peak = tf.config.experimental.get_memory_info('CPU:0')['peak'] - base
        rows.append((name, side * side * 32 * 4 / 2**20, peak / 2**20))
    return rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--width', type=int, default=1024, help='output width of the up-convolution (default 1024)')
    ap.add_argument('--worker', default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
    if args.worker:
        print('RESULT ' + json.dumps(kept_worker(args.worker, args.width)))
        return 0
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from _machine import cpu_model
    import tensorflow as tf
    print(f'CPU: {cpu_model()}, {os.cpu_count()} cores; TensorFlow {tf.__version__}')
    print(f'1. kept after two calls, MiB, up-convolution 64 -> 32 channels to width {args.width}, '
          f'input heights {", ".join(map(str, HEIGHTS))} in turn (BFC off, MALLOC_MMAP_THRESHOLD_=65536)')
    env = dict(os.environ, TF_CPU_ALLOCATOR_USE_BFC='false', MALLOC_MMAP_THRESHOLD_='65536')
    for formulation in ('transposed', 'phases'):
        out = subprocess.run([sys.executable, __file__, '--worker', formulation, '--width', str(args.width)],
                             capture_output=True, text=True, env=env)
        line = next((ln for ln in out.stdout.splitlines() if ln.startswith('RESULT ')), None)
        if line is None:
            print(f'{formulation}: failed: {(out.stderr.strip().splitlines() or ["no output"])[-1][:200]}')
            continue
        kept = json.loads(line[7:])['kept_mib']
        print(f'{formulation:>10}: ' + ', '.join(f'{k:+.1f}' for k in kept) + f' (sum {sum(kept):+.1f})')
    print('2. peak tensor bytes beyond the input, MiB (BFC count), 1024x1024x32 float32 input')
    for name, out, peak in pad_peaks():
        print(f'{name}: output {out:.0f}, peak {peak:.0f}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
