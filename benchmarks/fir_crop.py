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

from _ab import best_of, generator_ab  # noqa: E402  (benchmarks/ is on sys.path when run as a script)
from _machine import cpu_model, sgemm_in_process  # noqa: E402

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--repeat', type=int, default=15)
    args = ap.parse_args()
    import tensorflow as tf
    from sg2tf import ops
    fir_module = importlib.import_module('sg2tf.ops.upfirdn2d')
    print(f'CPU: {cpu_model()}, {os.cpu_count()} cores; TensorFlow {tf.__version__}; numpy sgemm '
          f'{sgemm_in_process():.0f} GFLOP/s')

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
            row.append(best_of(fn, x, repeat=args.repeat))
        print(f'| {2 * h + 4}x{2 * wd + 4}x{c} | {row[0] * 1e3:.2f} | {row[1] * 1e3:.2f} |')

    def set_zero_tap(on: bool):
        fir_module.CROP_AS_ZERO_TAP = on
    generator_ab([('crop', lambda: set_zero_tap(False)), ('zero tap', lambda: set_zero_tap(True))],
                 lambda: set_zero_tap(True), args.repeat)
    return 0


if __name__ == '__main__':
    sys.exit(main())
