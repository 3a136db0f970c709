"""Which modulated-convolution path is fastest on the CPU, per batch size: per-sample kernels, shared weights, grouped.

    python benchmarks/modconv_paths.py [--resolution 1024] [--batches 1,2,4] [--repeat 2] [--split-res 256]

sg2tf.layers.modulated_conv2d has two CPU paths with the same math (the fused grouped conv, timed here too, is
built only where a GPU is visible):
per-sample (each sample convolved with its own modulated kernel) and shared (activations scaled by the styles,
one convolution with the shared weight over the whole batch, outputs scaled by the demodulation coefficients).
`PER_SAMPLE_MODCONV_MAX_BATCH` picks per-sample up to that batch; sg2tf.networks.run_synthesis_blocks runs the
blocks from `PER_SAMPLE_BLOCKS_FROM_RES` up once per sample for small batches ('blocks >= R per sample': shared
weights below R, the batch-1 path above; --split-res R,...). This times config-f's whole generator (random
weights, compiled tf.function, psi 0.5, const noise) with each path at each batch size, in one run, the paths'
calls interleaved, and prints the best seconds per image. Prints the CPU model (lscpu).
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
    ap.add_argument('--split-res', default='256', help='comma-separated: time per-sample blocks from these resolutions')
    args = ap.parse_args()
    os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
    import numpy as np
    import tensorflow as tf
    import sg2tf.layers as layers
    import sg2tf.networks as networks
    from sg2tf.networks import Generator

    G = Generator(resolution=args.resolution)
    G.build()
    rng = np.random.default_rng(0)
    for v in G.weights:
        v.assign(rng.standard_normal(v.shape).astype(np.float32) * 0.1)
    batches = [int(b) for b in args.batches.split(',')]
    split_res = [int(r) for r in args.split_res.split(',') if r]
    print(f'CPU: {cpu_model()}, {os.cpu_count()} cores; TensorFlow {tf.__version__}; config-f '
          f'{args.resolution}x{args.resolution}, random weights; best of {args.repeat} after a warm-up call')
    # The grouped conv (fused modulation, NVIDIA's default) is built only where a GPU is visible; a copy of G
    # built as if one were times it on the CPU too (forward only: TF's CPU kernels lack its gradient).
    visible = layers.gpu_visible
    layers.gpu_visible = lambda: True
    try:
        G_grouped = Generator(resolution=args.resolution)
        G_grouped.build()
    finally:
        layers.gpu_visible = visible
    G_grouped.set_weights(G.get_weights())
    # (name, PER_SAMPLE_MODCONV_MAX_BATCH, PER_SAMPLE_BLOCKS_MAX_BATCH, PER_SAMPLE_BLOCKS_FROM_RES, network)
    paths = [('per-sample kernels', 1 << 30, 0, 0, G), ('shared weights', 0, 0, 0, G)]
    paths += [(f'blocks >= {r} per sample{" (default)" if r == networks.PER_SAMPLE_BLOCKS_FROM_RES else ""}',
               layers.PER_SAMPLE_MODCONV_MAX_BATCH, 1 << 30, r, G) for r in split_res]
    paths += [('grouped conv (fused)', 0, 0, 0, G_grouped)]
    print('| path | ' + ' | '.join(f'b{b} s/img' for b in batches) + ' |')
    print('|---|' + '---|' * len(batches))
    defaults = (layers.PER_SAMPLE_MODCONV_MAX_BATCH, networks.PER_SAMPLE_BLOCKS_MAX_BATCH,
                networks.PER_SAMPLE_BLOCKS_FROM_RES)
    best = {path[0]: {} for path in paths}
    try:
        for b in batches:
            z = tf.constant(rng.standard_normal([b, G.latent_size]).astype(np.float32))
            fns = {}
            for name, modconv, blocks, from_res, net in paths:
                # read when the function is traced
                layers.PER_SAMPLE_MODCONV_MAX_BATCH = modconv
                networks.PER_SAMPLE_BLOCKS_MAX_BATCH, networks.PER_SAMPLE_BLOCKS_FROM_RES = blocks, from_res
                fns[name] = tf.function(lambda z, net=net: net(z, truncation_psi=0.5))
                fns[name](z).numpy()  # trace + warm-up
            # Interleaved: the paths take turns, so a drift of the shared machine's speed hits both alike
            # (measured one after the other, the first path measured was 10-30% slower on an AMD EPYC).
            for _ in range(args.repeat):
                for name, *_settings in paths:
                    t0 = time.perf_counter()
                    fns[name](z).numpy()
                    elapsed = (time.perf_counter() - t0) / b
                    best[name][b] = min(best[name].get(b, elapsed), elapsed)
    finally:
        (layers.PER_SAMPLE_MODCONV_MAX_BATCH, networks.PER_SAMPLE_BLOCKS_MAX_BATCH,
         networks.PER_SAMPLE_BLOCKS_FROM_RES) = defaults
    for name, *_settings in paths:
        print(f'| {name} | ' + ' | '.join(f'{best[name][b]:.3f}' for b in batches) + ' |', flush=True)
    return 0


if __name__ == '__main__':
    sys.exit(main())
