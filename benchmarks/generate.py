"""Config-f 1024 generation speed and peak memory per op implementation and batch size (random weights).

    python benchmarks/generate.py [--impls ref,custom] [--batches 1,4] [--modes eager,function] [--repeat 3]

Each (impl, mode, batch) runs in a fresh subprocess, so the peak RSS is its own. 'eager' calls `G(z)` directly
(how `Gs.run` and the README baseline call it); 'function' wraps the call in `tf.function`; 'xla' in
`tf.function(jit_compile=True)` (pure-TF ops only). Prints the CPU model with the table.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from _machine import cpu_model  # noqa: E402  (benchmarks/ is on sys.path when run as a script)

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))



def worker(impl: str, mode: str, batch: int, repeat: int, resolution: int) -> dict:
    sys.path.insert(0, ROOT)
    import numpy as np
    import tensorflow as tf
    import sg2tf
    from sg2tf import ops
    ops.set_default_impl('ref' if mode == 'xla' else impl)
    G = sg2tf.Generator(resolution=resolution)
    G.build()

    def call(z):
        return G(z)
    fn = call if mode == 'eager' else tf.function(call, jit_compile=(mode == 'xla'), autograph=False)
    z = tf.constant(np.random.RandomState(0).randn(batch, 512).astype(np.float32))
    t0 = time.perf_counter()
    fn(z).numpy()
    first = time.perf_counter() - t0
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn(z).numpy()
        times.append(time.perf_counter() - t0)
    return {'first_s': first, 'best_s': min(times), 'median_s': sorted(times)[len(times) // 2],
            'peak_rss_mib': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument('--impls', default='ref,custom')
    ap.add_argument('--modes', default='eager,function')
    ap.add_argument('--batches', default='1,4')
    ap.add_argument('--repeat', type=int, default=3)
    ap.add_argument('--resolution', type=int, default=1024)
    ap.add_argument('--worker', default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        impl, mode, batch = args.worker.split(':')
        print('RESULT ' + json.dumps(worker(impl, mode, int(batch), args.repeat, args.resolution)))
        return 0
    import tensorflow as tf
    print(f'CPU: {cpu_model()}, {os.cpu_count()} cores; TensorFlow {tf.__version__}; config-f {args.resolution}, '
          f'random weights; best and median of {args.repeat} after one warm-up call')
    print('| impl | mode | batch | s / batch (best) | s / batch (median) | images/s | first call s | peak RSS MiB |')
    print('|---|---|---|---|---|---|---|---|')
    for batch in [int(b) for b in args.batches.split(',')]:
        for mode in args.modes.split(','):
            for impl in args.impls.split(','):
                if mode == 'xla' and impl != 'ref':
                    continue
                cmd = [sys.executable, os.path.abspath(__file__), '--worker', f'{impl}:{mode}:{batch}',
                       '--repeat', str(args.repeat), '--resolution', str(args.resolution)]
                res = subprocess.run(cmd, capture_output=True, text=True)
                line = next((ln for ln in res.stdout.splitlines() if ln.startswith('RESULT ')), None)
                if line is None:
                    print(f'| {impl} | {mode} | {batch} | failed: {(res.stderr.strip().splitlines() or ["?"])[-1]} |')
                    continue
                r = json.loads(line[7:])
                print(f'| {impl} | {mode} | {batch} | {r["best_s"]:.2f} | {r["median_s"]:.2f} | '
                      f'{batch / r["best_s"]:.2f} | {r["first_s"]:.1f} | {r["peak_rss_mib"]:.0f} |', flush=True)
    return 0


if __name__ == '__main__':
    sys.exit(main())
