"""Time and peak memory to load an NVIDIA pickle and to make one image (config-f 1024 by default).

    python benchmarks/load_generate.py [--pkl PATH] [--images 3] [--networks Gs] [--call run|eager]
                                       [--ada-pytorch DIR --torch-python PY [--rounds N]]

Without --pkl it first writes a random-weights config-f 1024 snapshot with tools/make_random_pkl.py. Images come
from `Gs.run(z, None, truncation_psi=0.5, randomize_noise=False)` (compiled), or with --call eager from the
Keras call `Gs(z)` run eagerly (each op dispatched from Python: more memory, see the records).
Prints the CPU model (lscpu) beside the figures. With --ada-pytorch, stylegan2-ada-pytorch converts the same pickle
into its own format once (its legacy.py), then a fresh process of it loads that (G, D, G_ema) and makes the same
images from G_ema (`noise_mode='const'`), with its load time and peak RSS (benchmarks/_compare.py). --rounds N
then loads both N more times, alternating fresh processes: the load is mostly first touches of new memory, whose
cost (system time) drifts on a shared machine from minute to minute, so only loads close in time compare.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import _compare  # noqa: E402
from _machine import cpu_model, peak_rss_mib, tf_threads, worker_result  # noqa: E402  (benchmarks/ is on sys.path when run as a script)

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')



def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument('--pkl', default=None)
    ap.add_argument('--images', type=int, default=3)
    ap.add_argument('--networks', default=None, help="e.g. 'Gs': build only these (load_network_pkl(networks=...))")
    ap.add_argument('--call', default='run', choices=('run', 'eager'),
                    help="run: the dnnlib Gs.run() (compiled, NVIDIA's API); eager: the Keras call Gs(z) uncompiled")
    _compare.add_args(ap)
    ap.add_argument('--rounds', type=int, default=0,
                    help='with --ada-pytorch: N more loads of each, alternating fresh processes (no images)')
    ap.add_argument('--load-worker', action='store_true', help=argparse.SUPPRESS)
    args = ap.parse_args()
    _compare.check_args(ap, args)
    if args.rounds and not args.ada_pytorch:
        ap.error('--rounds needs --ada-pytorch')
    path = args.pkl
    if path is None:
        path = os.path.join(tempfile.gettempdir(), 'sg2tf-config-f-1024-random.pkl')
        if not os.path.exists(path):
            script = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), 'tools',
                                  'make_random_pkl.py')
            subprocess.run([sys.executable, script, '--out', path], check=True)
    import numpy as np
    import tensorflow as tf
    import legacy
    print(f'CPU: {cpu_model()}, {os.cpu_count()} cores; TensorFlow {tf.__version__}')
    print(f'pickle: {path} ({os.path.getsize(path) / 2**20:.0f} MiB)')
    rss0 = peak_rss_mib()
    r0, t0 = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
    wanted = None if args.networks is None else tuple(args.networks.split(','))
    nets = legacy.load_network_pkl(path, networks=wanted)
    t_load, r1 = time.perf_counter() - t0, resource.getrusage(resource.RUSAGE_SELF)
    what = ', '.join(k for k in ('G', 'D', 'Gs') if k in nets)
    if args.load_worker:
        print('RESULT ' + json.dumps({'load_s': t_load, 'load_system_s': r1.ru_stime - r0.ru_stime,
                                      'load_faults': r1.ru_minflt - r0.ru_minflt}))
        return 0
    print(f'load ({what}): {t_load:.1f} s, peak RSS {peak_rss_mib():.0f} MiB (after TF import: {rss0:.0f} MiB); '
          f'CPU time user {r1.ru_utime - r0.ru_utime:.2f} s, system {r1.ru_stime - r0.ru_stime:.2f} s, '
          f'{r1.ru_minflt - r0.ru_minflt} page faults (first touches of new memory)')
    Gs = nets['Gs']
    for i in range(args.images):
        z = np.random.RandomState(i).randn(1, Gs.latent_size).astype(np.float32)
        t0 = time.perf_counter()
        if args.call == 'run':
            img = Gs.run(z, None, truncation_psi=0.5, randomize_noise=False)   # NCHW
        else:
            img = np.transpose(Gs(z, truncation_psi=0.5).numpy(), [0, 3, 1, 2])
        dt = time.perf_counter() - t0
        print(f'image {i} ({img.shape[2]}x{img.shape[3]}, {args.call}): {dt:.2f} s{" (first call)" if i == 0 else ""}, '
              f'peak RSS {peak_rss_mib():.0f} MiB')
    if args.ada_pytorch:
        ada_pkl = path + '.ada-pytorch.pkl'
        if not os.path.exists(ada_pkl):
            r, err = _compare.run(args, 'convert', tf_threads(), pkl=path, out=ada_pkl)
            if r is None:
                print(f'stylegan2-ada-pytorch: converting the pickle failed: {err}')
                return 1
        r, err = _compare.run(args, 'load', tf_threads(), pkl=ada_pkl, images=args.images)
        if r is None:
            print(f'stylegan2-ada-pytorch: failed: {err}')
            return 1
        print(f"stylegan2-ada-pytorch (torch {r['torch']}, {r['threads']} threads), its converted pickle "
              f"({os.path.getsize(ada_pkl) / 2**20:.0f} MiB): load (G, D, G_ema): {r['load_s']:.1f} s, peak RSS "
              f"{r['peak_rss_mib']['load']:.0f} MiB (after torch import: {r['peak_rss_mib']['import']:.0f} MiB)")
        print(f"stylegan2-ada-pytorch images: {', '.join(f'{t:.2f}' for t in r['image_s'])} s, "
              f"peak RSS {r['peak_after_images']:.0f} MiB")
        if args.rounds:
            _rounds(args, path, ada_pkl)
    return 0


def _rounds(args, path: str, ada_pkl: str) -> None:
    """Alternating fresh-process loads of sg2tf and stylegan2-ada-pytorch, a table row each."""
    print(f'{args.rounds} rounds of alternating fresh-process loads (G, D, Gs / G_ema), after imports:')
    print('| round | sg2tf s | system s | page faults | stylegan2-ada-pytorch s | system s | page faults |')
    print('|---|---|---|---|---|---|---|')
    cmd = [sys.executable, os.path.abspath(__file__), '--pkl', path, '--load-worker']
    for i in range(args.rounds):
        res = subprocess.run(cmd + (['--networks', args.networks] if args.networks else []), capture_output=True,
                             text=True)
        ours, err = worker_result(res.stdout, res.stderr)
        theirs, err2 = _compare.run(args, 'load', tf_threads(), pkl=ada_pkl, images=0)
        cells = []
        for r, e in ((ours, err), (theirs, err2)):
            cells += ([f'{r["load_s"]:.2f}', f'{r["load_system_s"]:.2f}', str(r['load_faults'])] if r else
                      [f'failed: {e}', '', ''])
        print(f'| {i + 1} | ' + ' | '.join(cells) + ' |', flush=True)


if __name__ == '__main__':
    sys.exit(main())
