"""Float32 against the opt-in float16 mode of an ADA generator (num_fp16_res), same run, same machine.

    python benchmarks/fp16.py [--resolution 256] [--num-fp16-res 4] [--batch 1] [--repeat 3]

Builds StyleGAN2-ADA's generator at train.py's widths (fmap_base 16384, fmap_max 512, 8 mapping layers,
conv_clamp 256) with random weights, and times `G(z, fp16=False)` and `G(z, fp16=True)` each compiled in a
tf.function (best and median of --repeat after a warm-up call), printing s/batch, the ratio and the relative
difference of the float16 images from the float32 ones. Prints the CPU model (lscpu) or the GPU TensorFlow sees.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import warnings

from _machine import cpu_model  # noqa: E402  (benchmarks/ is on sys.path when run as a script)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--resolution', type=int, default=256)
    ap.add_argument('--num-fp16-res', type=int, default=4)
    ap.add_argument('--batch', type=int, default=1)
    ap.add_argument('--repeat', type=int, default=3)
    args = ap.parse_args()

    os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
    import numpy as np
    import tensorflow as tf
    from sg2tf import arch
    from sg2tf.stylegan2_ada import AdaGenerator
    warnings.filterwarnings('ignore', message='.*float16 requested without a GPU')

    gpus = tf.config.list_logical_devices('GPU')
    device = f'GPU {gpus[0].name}' if gpus else f'CPU: {cpu_model()}, {os.cpu_count()} cores'
    G = AdaGenerator(resolution=args.resolution, mapping_kwargs=dict(mapping_layers=8),
                     synthesis_kwargs=dict(fmap_base=16384, fmap_max=512, conv_clamp=256,
                                           num_fp16_res=args.num_fp16_res))
    G.build()
    rng = np.random.default_rng(0)
    for v in G.weights:  # weights of the scale NVIDIA initialises (N(0, 1)); biases small
        v.assign(rng.standard_normal(v.shape).astype(np.float32) * (1.0 if len(v.shape) > 1 else 0.1))
    z = tf.constant(rng.standard_normal([args.batch, G.latent_size]).astype(np.float32))
    half = arch.fp16_resolutions(args.resolution, args.num_fp16_res)
    print(f'{device}; TensorFlow {tf.__version__}; ADA generator {args.resolution}x{args.resolution}, '
          f'num_fp16_res {args.num_fp16_res} (float16 blocks {half[0]}..{half[-1]}), batch {args.batch}, '
          f'random weights; best and median of {args.repeat} after one warm-up call')
    print('| precision | s / batch (best) | s / batch (median) | first call s |')
    print('|---|---|---|---|')
    results = {}
    for fp16 in (False, True):
        fn = tf.function(lambda z, fp16=fp16: G(z, fp16=fp16, truncation_psi=1.0))
        t0 = time.perf_counter()
        out = fn(z).numpy()
        first = time.perf_counter() - t0
        times = []
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            fn(z).numpy()
            times.append(time.perf_counter() - t0)
        results[fp16] = (min(times), out)
        print(f'| {"float16 blocks" if fp16 else "float32"} | {min(times):.3f} | {statistics.median(times):.3f} '
              f'| {first:.1f} |')
    (t32, a), (t16, b) = results[False], results[True]
    err = np.linalg.norm(b - a) / np.linalg.norm(a)
    print(f'float16 / float32 time: {t16 / t32:.2f}; relative difference of the images: {err:.2e}; '
          f'finite: {bool(np.all(np.isfinite(b)))}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
