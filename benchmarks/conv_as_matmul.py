"""Stride-1 convolutions as TensorFlow's conv kernel or as matmuls over shifted copies of the input (im2col).

    python benchmarks/conv_as_matmul.py [--repeat 8]

sg2tf.ops.conv2d_resample.conv2d_stride1 runs one float32 image of at most MATMUL_CONV_MAX_PIXELS pixels with at
least MATMUL_CONV_MIN_CHANNELS input channels as matmuls. This prints, in one process: each config-f conv shape
at batch 1 both ways (best ms and GFLOP/s of --repeat calls in a tf.function), then the whole config-f 1024
generator (random weights, psi 0.5, batch 1) traced once each way, the two functions' calls
interleaved (best and median s), with numpy's sgemm GFLOP/s and the CPU model (lscpu) beside them.
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
          f'{sgemm_in_process():.0f} GFLOP/s; MATMUL_CONV_MAX_PIXELS {resample.MATMUL_CONV_MAX_PIXELS}, '
          f'MATMUL_CONV_MIN_CHANNELS {resample.MATMUL_CONV_MIN_CHANNELS}')
    limit = resample.MATMUL_CONV_MAX_PIXELS

    def best(f, *a):
        f(*a)
        times = []
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            f(*a).numpy()
            times.append(time.perf_counter() - t0)
        return min(times)

    print('| 3x3 conv, batch 1 | conv ms | conv GFLOP/s | matmuls ms | matmuls GFLOP/s |')
    print('|---|---|---|---|---|')
    for res, c in ((8, 512), (16, 512), (32, 512), (64, 512)):
        x, w = tf.random.normal([1, res, res, c]), tf.random.normal([3, 3, c, c])
        row = []
        for pixels in (0, limit):
            resample.MATMUL_CONV_MAX_PIXELS = pixels
            row.append(best(tf.function(lambda x, w: resample.conv2d_stride1(x, w, 'SAME')), x, w))
        gflop = 2 * 9 * res * res * c * c / 1e9
        print(f'| {res}x{res}, {c} -> {c} | {row[0] * 1e3:.1f} | {gflop / row[0]:.0f} | {row[1] * 1e3:.1f} | '
              f'{gflop / row[1]:.0f} |')

    G = sg2tf.Generator(resolution=1024)
    G.build()
    z = tf.constant(np.random.RandomState(0).randn(1, G.latent_size).astype(np.float32))
    fns = {}
    for name, pixels in (('conv', 0), ('matmuls', limit)):
        resample.MATMUL_CONV_MAX_PIXELS = pixels
        fns[name] = tf.function(lambda z: G(z, truncation_psi=0.5))
        fns[name](z)  # traced now, with this setting
    resample.MATMUL_CONV_MAX_PIXELS = limit
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
