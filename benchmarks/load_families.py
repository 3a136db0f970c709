"""Load time and peak memory of a 1024x1024 snapshot of every family, at the real configs, random weights.

    python benchmarks/load_families.py [--dir DIR] [--repeat 2]

Writes (once, into DIR) config-f StyleGAN2 (tools/make_random_pkl.py), StyleGAN2-ADA TF (train.py's
`paper1024`/`stylegan2` widths: fmap_base 16384, fmap_max 512, 8 mapping layers, num_fp16_res 4, conv_clamp 256),
the same ADA networks as a stylegan2-ada-pytorch snapshot (written without torch by tests/torch_snapshot.py),
and StyleGAN (v1) at its release config (fmap_base 8192). Each file is then loaded with `legacy.load_network_pkl`
in a fresh process (TensorFlow imported first); the table gives seconds and peak RSS (VmHWM: the whole process,
TF included), and each family's ratio to config-f. Prints the CPU model (lscpu).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

from _machine import cpu_model  # noqa: E402  (benchmarks/ is on sys.path when run as a script)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LOAD = r'''
import json, os, sys, time
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '3')
def peak_mib():  # VmHWM: this process's own peak (getrusage's ru_maxrss would include the parent's, across fork)
    with open('/proc/self/status') as f:
        return next(int(ln.split()[1]) for ln in f if ln.startswith('VmHWM:')) / 1024
import tensorflow as tf, legacy
rss0 = peak_mib()
t0 = time.perf_counter()
nets = legacy.load_network_pkl(sys.argv[1])
dt = time.perf_counter() - t0
print(json.dumps({'load_s': dt, 'peak_rss_mib': peak_mib(), 'rss_after_imports_mib': rss0,
                  'networks': sorted(nets)}))
'''


def _randomize(model, rng):
    import numpy as np
    model.build()
    for v in model.weights:
        v.assign((rng.standard_normal(v.shape) * 0.1).astype(np.float32))


def write_files(d: str) -> dict:
    import numpy as np
    import legacy
    import sg2tf
    sys.path.insert(0, os.path.join(ROOT, 'tests'))
    import torch_snapshot as ts
    files = {'StyleGAN2 config-f (TF)': os.path.join(d, 'config-f-1024.pkl'),
             'StyleGAN2-ADA (TF)': os.path.join(d, 'ada-tf-1024.pkl'),
             'stylegan2-ada-pytorch': os.path.join(d, 'ada-pt-1024.pkl'),
             'StyleGAN (v1)': os.path.join(d, 'stylegan1-1024.pkl')}
    if not os.path.exists(files['StyleGAN2 config-f (TF)']):
        subprocess.run([sys.executable, os.path.join(ROOT, 'tools', 'make_random_pkl.py'), '--out',
                        files['StyleGAN2 config-f (TF)']], check=True)
    rng = np.random.RandomState(0)
    if not (os.path.exists(files['StyleGAN2-ADA (TF)']) and os.path.exists(files['stylegan2-ada-pytorch'])):
        syn = dict(fmap_base=16384, fmap_max=512, num_fp16_res=4, conv_clamp=256)
        G = sg2tf.AdaGenerator(1024, 3, 0, mapping_kwargs=dict(mapping_layers=8), synthesis_kwargs=syn, name='G')
        D = sg2tf.AdaDiscriminator(1024, 3, 0, fmap_base=16384, fmap_max=512, num_fp16_res=4, conv_clamp=256,
                                   mbstd_group_size=4, name='D')
        for m in (G, D):
            _randomize(m, rng)
        legacy.save_network_pkl(files['StyleGAN2-ADA (TF)'], G, D, G, protocol=3)
        pt_g = {'z_dim': 512, 'c_dim': 0, 'w_dim': 512, 'img_resolution': 1024, 'img_channels': 3,
                'mapping_kwargs': {'num_layers': 8},
                'synthesis_kwargs': {'channel_base': 32768, 'channel_max': 512, 'num_fp16_res': 4, 'conv_clamp': 256}}
        pt_d = {'c_dim': 0, 'img_resolution': 1024, 'img_channels': 3, 'channel_base': 32768, 'channel_max': 512,
                'num_fp16_res': 4, 'conv_clamp': 256, 'epilogue_kwargs': {'mbstd_group_size': 4}}
        snap = {'G': ts.generator_module(G, pt_g), 'D': ts.discriminator_module(D, pt_d),
                'G_ema': ts.generator_module(G, pt_g), 'augment_pipe': None,
                'training_set_kwargs': {'resolution': 1024}}
        with open(files['stylegan2-ada-pytorch'], 'wb') as f:
            f.write(ts.dumps(snap))
    if not os.path.exists(files['StyleGAN (v1)']):
        from sg2tf import stylegan1
        G = stylegan1.Generator(1024, 3, 0, synthesis_kwargs=dict(fmap_base=8192), name='G')
        D = stylegan1.Discriminator(1024, 3, 0, fmap_base=8192, name='D')
        for m in (G, D):
            _randomize(m, rng)
        legacy.save_network_pkl(files['StyleGAN (v1)'], G, D, G)
    return files


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--dir', default=os.path.join(tempfile.gettempdir(), 'sg2tf-families-1024'))
    ap.add_argument('--repeat', type=int, default=2, help='loads per file (the best is reported)')
    args = ap.parse_args()
    os.makedirs(args.dir, exist_ok=True)
    os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '3')
    t0 = time.perf_counter()
    files = write_files(args.dir)
    print(f'CPU: {cpu_model()}, {os.cpu_count()} cores; files ready in {time.perf_counter() - t0:.0f} s ({args.dir})')
    results = {}
    for family, path in files.items():
        runs = []
        for _ in range(args.repeat):
            out = subprocess.run([sys.executable, '-c', LOAD, path], capture_output=True, text=True, check=True,
                                 env=dict(os.environ, PYTHONWARNINGS='ignore'))
            runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
        results[family] = min(runs, key=lambda r: r['load_s'])
        results[family]['size_mib'] = os.path.getsize(path) / 2**20
    base = results['StyleGAN2 config-f (TF)']
    print(f'{"family":28s} {"file MiB":>9s} {"load s":>7s} {"x f":>5s} {"peak RSS MiB":>13s} {"x f":>5s} '
          f'{"after imports":>14s}')
    for family, r in results.items():
        print(f'{family:28s} {r["size_mib"]:9.0f} {r["load_s"]:7.2f} {r["load_s"] / base["load_s"]:5.2f} '
              f'{r["peak_rss_mib"]:13.0f} {r["peak_rss_mib"] / base["peak_rss_mib"]:5.2f} '
              f'{r["rss_after_imports_mib"]:14.0f}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
