"""Which non-fused modulated-convolution path is faster, per batch size: per-sample kernels or shared weights.

    python benchmarks/modconv_paths.py [--resolution 1024] [--batches 1,2,4] [--repeat 2]

sg2tf.layers.modulated_conv2d has two CPU paths with the same math (the fused grouped conv is GPU only):
per-sample (each sample convolved with its own modulated kernel) and shared (activations scaled by the styles,
one convolution with the shared weight over the whole batch, outputs scaled by the demodulation coefficients).
`PER_SAMPLE_MODCONV_MAX_BATCH` picks per-sample up to that batch. This times config-f's whole generator (random
weights, compiled tf.function, psi 0.5, const noise) with each path at each batch size, in one run, and prints
seconds per image. Prints the CPU model (lscpu).
"""
from __future__ import annotations

import argparse
import os
import sys
import time

from _machine import cpu_model  # noqa: E402  (benchmarks/ is on sys.path when run as a script)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--resolution', type=int, default=1024)
    ap.add_argument('--batches', default='1,2,4')
    ap.add_argument('--repeat', type=int, default=2)
    args = ap.parse_args()
    os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
    import numpy as np
    import tensorflow as tf
    import sg2tf.layers as layers
    from sg2tf.networks import Generator

    G = Generator(resolution=args.resolution)
    G.build()
    rng = np.random.default_rng(0)
    for v in G.weights:
        v.assign(rng.standard_normal(v.shape).astype(np.float32) * 0.1)
    batches = [int(b) for b in args.batches.split(',')]
    print(f'CPU: {cpu_model()}, {os.cpu_count()} cores; TensorFlow {tf.__version__}; config-f '
          f'{args.resolution}x{args.resolution}, random weights; best of {args.repeat} after a warm-up call')
    print('| path | ' + ' | '.join(f'b{b} s/img' for b in batches) + ' |')
    print('|---|' + '---|' * len(batches))
    default = layers.PER_SAMPLE_MODCONV_MAX_BATCH
    try:
        for name, limit in (('per-sample kernels', 1 << 30), ('shared weights', 0)):
            layers.PER_SAMPLE_MODCONV_MAX_BATCH = limit  # read when a function is traced
            cells = []
            for b in batches:
                z = tf.constant(rng.standard_normal([b, G.latent_size]).astype(np.float32))
                fn = tf.function(lambda z: G(z, truncation_psi=0.5))
                fn(z).numpy()
                times = []
                for _ in range(args.repeat):
                    t0 = time.perf_counter()
                    fn(z).numpy()
                    times.append(time.perf_counter() - t0)
                cells.append(f'{min(times) / b:.3f}')
            print(f'| {name} | ' + ' | '.join(cells) + ' |', flush=True)
    finally:
        layers.PER_SAMPLE_MODCONV_MAX_BATCH = default
    return 0


if __name__ == '__main__':
    sys.exit(main())
