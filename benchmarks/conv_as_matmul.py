"""Convolutions of one many-channel image as TensorFlow's conv kernels or as matmuls (sg2tf's batch-1 routes).

    python benchmarks/conv_as_matmul.py [--repeat 8]

sg2tf.ops.conv2d_resample runs one float32 image with at least MATMUL_CONV_MIN_CHANNELS input channels as
matmuls: a 3x3 stride-1 conv of at most MATMUL_CONV_MAX_PIXELS pixels (`conv2d_stride1`: one matmul per kernel
row over shifted copies of the input), and the 2x up-convolution of an input of at most MATMUL_UP_MAX_PIXELS
pixels (`_up2_as_matmul`: one matmul for the nine taps, added into the four phases). This prints, in one process:
each config-f shape at batch 1 both ways (best ms and GFLOP/s of --repeat calls in a tf.function; the
up-convolution without its FIR filter, GFLOP of the stride-2 transposed conv), then the whole config-f 1024
generator (random weights, psi 0.5, batch 1) traced once with both routes off and once with both on, the two
functions' calls interleaved (best and median s), with numpy's sgemm GFLOP/s and the CPU model (lscpu) beside.
"""
from __future__ import annotations

import argparse
import importlib
import os
import sys
import time

from _machine import cpu_model, sgemm_in_process  # noqa: E402  (benchmarks/ is on sys.path when run as a script)

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--repeat', type=int, default=8)
    args = ap.parse_args()
    import numpy as np
    import tensorflow as tf
    import sg2tf
    resample = importlib.import_module('sg2tf.ops.conv2d_resample')
    print(f'CPU: {cpu_model()}, {os.cpu_count()} cores; TensorFlow {tf.__version__}; numpy sgemm '
          f'{sgemm_in_process():.0f} GFLOP/s; MATMUL_CONV_MIN_CHANNELS {resample.MATMUL_CONV_MIN_CHANNELS}, '
          f'MATMUL_CONV_MAX_PIXELS {resample.MATMUL_CONV_MAX_PIXELS}, '
          f'MATMUL_UP_MAX_PIXELS {resample.MATMUL_UP_MAX_PIXELS}')
    limits = {name: getattr(resample, name) for name in ('MATMUL_CONV_MAX_PIXELS', 'MATMUL_UP_MAX_PIXELS')}

    def routes(on: bool):
        for name, limit in limits.items():
            setattr(resample, name, limit if on else 0)

    def best(f, *a):
        f(*a)
        times = []
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            f(*a).numpy()
            times.append(time.perf_counter() - t0)
        return min(times)

    print('| batch 1 | conv ms | conv GFLOP/s | matmuls ms | matmuls GFLOP/s |')
    print('|---|---|---|---|---|')
    cases = [('3x3', res, c, c) for res, c in ((8, 512), (16, 512), (32, 512), (64, 512), (128, 256))]
    cases += [('up 2x', res, 512, 512) for res in (4, 8, 16, 32)]
    for kind, res, cin, cout in cases:
        x, w = tf.random.normal([1, res, res, cin]), tf.random.normal([3, 3, cin, cout])
        op = ((lambda x, w: resample.conv2d_stride1(x, w, 'SAME')) if kind == '3x3' else
              (lambda x, w: resample._polyphase_up2(x, w)))
        row = []
        for on in (False, True):
            routes(on)
            row.append(best(tf.function(op), x, w))
        gflop = 2 * 9 * res * res * cin * cout / 1e9
        print(f'| {kind} {res}x{res}, {cin} -> {cout} | {row[0] * 1e3:.1f} | {gflop / row[0]:.0f} | '
              f'{row[1] * 1e3:.1f} | {gflop / row[1]:.0f} |')
    routes(True)

    G = sg2tf.Generator(resolution=1024)
    G.build()
    z = tf.constant(np.random.RandomState(0).randn(1, G.latent_size).astype(np.float32))
    fns = {}
    for name, on in (('conv', False), ('matmuls', True)):
        routes(on)
        fns[name] = tf.function(lambda z: G(z, truncation_psi=0.5))
        fns[name](z)  # traced now, with this setting
    routes(True)
    times = {name: [] for name in fns}
    for _ in range(args.repeat):
        for name, f in fns.items():
            t0 = time.perf_counter()
            f(z).numpy()
            times[name].append(time.perf_counter() - t0)
    a, b = fns['conv'](z), fns['matmuls'](z)
    print(f'config-f 1024 generator, batch 1, {args.repeat} interleaved calls each: ' + ', '.join(
        f'{name} best {min(t):.3f} s, median {sorted(t)[len(t) // 2]:.3f} s' for name, t in times.items()) +
        f'; relative difference of the images {float(tf.norm(a - b) / tf.norm(a)):.1e}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
