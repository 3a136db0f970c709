"""Peak resident memory of repeated batch-1 `Gs.run` calls with and without handing the C heap's free pages back
to the OS after each call (sg2tf.misc.release_free_heap, which run() does).

    python benchmarks/heap_trim.py [--calls 14] [--resolution 1024]

Each setting runs in its own process (peak RSS is per process): config-f with random weights, `Gs.run(z, None,
truncation_psi=0.5, randomize_noise=False)` --calls times; printed per setting, the peak RSS (VmHWM) after the
first, 4th and last call, and the best and median s a call; with the CPU model (lscpu).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

from _machine import cpu_model, peak_rss_mib, worker_result  # noqa: E402  (benchmarks/ is on sys.path as a script)

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def worker(args) -> int:
    import numpy as np
    import sg2tf
    import sg2tf.compat
    if not args.trim:
        sg2tf.compat.release_free_heap = lambda: None
    G = sg2tf.Generator(resolution=args.resolution)
    G.build()
    z = np.random.RandomState(0).randn(1, G.latent_size).astype(np.float32)
    times, peaks = [], []
    for _ in range(args.calls):
        t0 = time.perf_counter()
        G.run(z, None, truncation_psi=0.5, randomize_noise=False)
        times.append(time.perf_counter() - t0)
        peaks.append(peak_rss_mib())
    print('RESULT ' + json.dumps({'times': times, 'peaks': peaks}))
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--calls', type=int, default=14)
    ap.add_argument('--resolution', type=int, default=1024)
    ap.add_argument('--worker', action='store_true', help=argparse.SUPPRESS)
    ap.add_argument('--trim', type=int, default=1, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.calls < 4:
        ap.error('--calls must be at least 4')
    if args.worker:
        return worker(args)
    print(f'CPU: {cpu_model()}, {os.cpu_count()} cores; config-f {args.resolution}, batch 1, {args.calls} run() calls '
          f'a process')
    print('| heap after each call | peak RSS MiB after call 1 / 4 / last | s a call (best / median of calls 2..) |')
    print('|---|---|---|')
    for trim in (0, 1):
        proc = subprocess.run([sys.executable, os.path.abspath(__file__), '--worker', '--trim', str(trim),
                               '--calls', str(args.calls), '--resolution', str(args.resolution)],
                              capture_output=True, text=True)
        result, err = worker_result(proc.stdout, proc.stderr)
        if result is None:
            print(f'error: worker (trim={trim}) failed: {err}', file=sys.stderr)
            return 1
        p, t = result['peaks'], sorted(result['times'][1:])
        print(f'| {"trimmed (malloc_trim)" if trim else "kept (untrimmed)"} | {p[0]:.0f} / {p[3]:.0f} / {p[-1]:.0f} '
              f'| {t[0]:.3f} / {t[len(t) // 2]:.3f} |')
    return 0


if __name__ == '__main__':
    sys.exit(main())
