"""The FIR filter after sg2tf's phase up-convolutions, whose output is one sample too long at the end: cropped
(a copy) and filtered, or filtered with a zero tap that skips the sample (upfirdn2d.CROP_AS_ZERO_TAP).

    python benchmarks/fir_crop.py [--repeat 15]

Printed: per config-f shape that takes the phases at batch 1 (the FIR, bias and leaky ReLU after them, as in a
synthesis layer), best ms of --repeat calls in a tf.function both ways; then the whole config-f 1024 generator
(random weights, psi 0.5, const noise, batch 1) traced both ways, the calls interleaved (best and median s), with
the CPU model (lscpu) and numpy's sgemm GFLOP/s.
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
    ap.add_argument('--repeat', type=int, default=15)
    args = ap.parse_args()
    import numpy as np
    import tensorflow as tf
    import sg2tf
    from sg2tf import ops
    fir_module = importlib.import_module('sg2tf.ops.upfirdn2d')
    print(f'CPU: {cpu_model()}, {os.cpu_count()} cores; TensorFlow {tf.__version__}; numpy sgemm '
          f'{sgemm_in_process():.0f} GFLOP/s')

    def best(f, *a):
        f(*a)
        times = []
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            f(*a).numpy()
            times.append(time.perf_counter() - t0)
        return min(times)

    f = ops.setup_filter([1, 3, 3, 1])
    print('| phases output (batch 1) | crop + 4x4 FIR ms | zero tap, 5x5 FIR ms |')
    print('|---|---|---|')
    # The interleaved phases of an input H x W: 2H + 4 x 2W + 4 (conv2d_resample._polyphase_up2); 512 px: one band.
    for h, wd, c in ((32, 32, 512), (64, 64, 256), (128, 128, 128), (68, 256, 64)):
        x = tf.random.normal([1, 2 * h + 4, 2 * wd + 4, c])
        b = tf.random.normal([c])
        row = []
        for zero_tap in (False, True):
            fir_module.CROP_AS_ZERO_TAP = zero_tap
            fn = tf.function(lambda x: tf.nn.leaky_relu(ops.upfirdn2d(x, f, padding=(0, -1), gain=4) + b, 0.2))
            row.append(best(fn, x))
        print(f'| {2 * h + 4}x{2 * wd + 4}x{c} | {row[0] * 1e3:.2f} | {row[1] * 1e3:.2f} |')

    G = sg2tf.Generator(resolution=1024)
    G.build()
    z = tf.constant(np.random.RandomState(0).randn(1, G.latent_size).astype(np.float32))
    fns = {}
    for name, zero_tap in (('crop', False), ('zero tap', True)):
        fir_module.CROP_AS_ZERO_TAP = zero_tap
        fns[name] = tf.function(lambda z: G(z, truncation_psi=0.5, noise_mode='const'))
        fns[name](z)  # traced now, with this setting
    fir_module.CROP_AS_ZERO_TAP = True
    times = {name: [] for name in fns}
    for _ in range(args.repeat):
        for name, fn in fns.items():
            t0 = time.perf_counter()
            fn(z).numpy()
            times[name].append(time.perf_counter() - t0)
    a, b = (fn(z) for fn in fns.values())
    print(f'config-f 1024 generator, batch 1, {args.repeat} interleaved calls each: ' + ', '.join(
        f'{name} best {min(t):.3f} s, median {sorted(t)[len(t) // 2]:.3f} s' for name, t in times.items()) +
        f'; relative difference of the images {float(tf.norm(a - b) / tf.norm(a)):.1e}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
