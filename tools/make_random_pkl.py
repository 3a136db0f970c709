"""Write a StyleGAN2 (config E/F family) snapshot `(G, D, Gs)` with random weights in NVIDIA's pickle format.

    python tools/make_random_pkl.py --out ffhq-config-f-random.pkl            # the real config-f 1024 layout

Weights follow NVIDIA's storage convention (N(0, 1/lrmul)); Gs is a copy of G and `dlatent_avg` the mean
W of 1000 random z. Useful to test and benchmark at real sizes when NVIDIA's files cannot be downloaded.
A developer utility (used by tests/test_architectures.py and benchmarks/load_generate.py); not installed.
"""
from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--out', required=True)
    ap.add_argument('--config', choices=['e', 'f'], default='f', help='fmap_base 8192 (e) or 16384 (f)')
    ap.add_argument('--resolution', type=int, default=1024)
    ap.add_argument('--num-channels', type=int, default=3)
    ap.add_argument('--label-size', type=int, default=0)
    ap.add_argument('--g-arch', choices=['orig', 'skip', 'resnet'], default='skip')
    ap.add_argument('--d-arch', choices=['orig', 'skip', 'resnet'], default='resnet')
    ap.add_argument('--seed', type=int, default=0)
    args = ap.parse_args(argv)
    os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
    import keras
    from sg2tf.nvidia import save_network_pkl
    from sg2tf import Discriminator, Generator

    keras.utils.set_random_seed(args.seed)
    kwargs = {'num_channels': args.num_channels, 'resolution': args.resolution, 'label_size': args.label_size}
    if args.config == 'e':
        kwargs['fmap_base'] = 8192
    g_kwargs = dict(kwargs, **({'architecture': args.g_arch} if args.g_arch != 'skip' else {}))
    d_kwargs = dict(kwargs, **({'architecture': args.d_arch} if args.d_arch != 'resnet' else {}))
    syn = {k: v for k, v in g_kwargs.items() if k in ('fmap_base', 'architecture')}
    t0 = time.perf_counter()
    nets = {}
    for name in ('G', 'Gs'):
        nets[name] = Generator(args.resolution, args.num_channels, args.label_size, synthesis_kwargs=syn,
                               nvidia_static_kwargs=g_kwargs, name=name)
        nets[name].build()
    D = Discriminator(**{k: v for k, v in d_kwargs.items()}, nvidia_static_kwargs=d_kwargs, name='D')
    D.build()
    G, Gs = nets['G'], nets['Gs']
    rnd = np.random.RandomState(args.seed)
    labels = np.eye(max(args.label_size, 1), dtype=np.float32)[rnd.randint(max(args.label_size, 1), size=1000)]
    w = G.mapping(rnd.randn(1000, G.latent_size).astype(np.float32), labels[:, :args.label_size])
    G.dlatent_avg.assign(np.mean(w[:, 0], axis=0))
    Gs.set_weights(G.get_weights())
    save_network_pkl(args.out, G, D, Gs)
    print(f'wrote {args.out} ({os.path.getsize(args.out) / 2**20:.0f} MiB) in {time.perf_counter() - t0:.1f} s')
    return 0


if __name__ == '__main__':
    sys.exit(main())
