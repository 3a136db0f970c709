"""Time and memory of the banded high-resolution synthesis blocks (sg2tf.networks._run_in_bands) per band height
and up-convolution route: the settings the batch-1 generator's defaults come from.

    python benchmarks/bands.py [--rows 64,128,256] [--transposed 0,64] [--repeat 8] [--processes 2]

config-f 1024 with random weights, `Gs.run(z, None, truncation_psi=0.5, randomize_noise=False)` at batch 1.
Printed, with the CPU model (lscpu):
- memory: each (BAND_ROWS, TRANSPOSED_UP_MAX_CHANNELS) in its own process (peak RSS is per process), --processes
  times: peak RSS (VmHWM) of the build, of the first call and of 5 calls after it, the peak of live TensorFlow
  tensors in those calls, and the ops of the traced graph (its while-loop body included);
- time: every setting traced in one process and their calls interleaved (--repeat each), best and median s.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

from _machine import cpu_model, peak_rss_mib, reset_peak_rss, sgemm_in_process, worker_result  # noqa: E402

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)


def _apply(rows: int, transposed: int) -> None:
    import importlib
    from sg2tf import networks
    networks.BAND_ROWS = rows
    importlib.import_module('sg2tf.ops.conv2d_resample').TRANSPOSED_UP_MAX_CHANNELS = transposed


def worker(rows: int, transposed: int) -> dict:
    import numpy as np
    import tensorflow as tf
    import sg2tf
    import sg2tf.compat
    _apply(rows, transposed)
    reset_peak_rss()
    G = sg2tf.Generator(resolution=1024)
    G.build()
    peaks = {'build': peak_rss_mib()}
    z = np.random.RandomState(0).randn(1, G.latent_size).astype(np.float32)
    reset_peak_rss()
    G.run(z, None, truncation_psi=0.5, randomize_noise=False)
    peaks['first'] = peak_rss_mib()
    reset_peak_rss()
    tf.config.experimental.reset_memory_stats('CPU:0')
    for _ in range(5):
        G.run(z, None, truncation_psi=0.5, randomize_noise=False)
    peaks['steady'] = peak_rss_mib()
    peaks['tensors'] = tf.config.experimental.get_memory_info('CPU:0')['peak'] / 2**20
    graph = next(iter(sg2tf.compat._COMPILED[G].values())).get_concrete_function(
        tf.TensorSpec([1, G.latent_size]), tf.TensorSpec([1, 0])).graph
    ops = len(graph.get_operations()) + sum(len(f.graph.get_operations()) for f in graph._functions.values()
                                            if hasattr(f, 'graph'))
    return {**peaks, 'ops': ops}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--rows', default='64,128,256', help='BAND_ROWS values, comma-separated')
    ap.add_argument('--transposed', default='0,64', help='TRANSPOSED_UP_MAX_CHANNELS values, comma-separated')
    ap.add_argument('--repeat', type=int, default=8)
    ap.add_argument('--processes', type=int, default=2, help='memory runs per setting')
    ap.add_argument('--worker', default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        try:
            print('RESULT ' + json.dumps(worker(*(int(v) for v in args.worker.split(',')))))
        except Exception as e:  # one line for the table
            print('ERROR ' + json.dumps(f'{type(e).__name__}: {e}'[:300]))
            return 1
        return 0
    try:
        settings = [(int(r), int(t)) for r in args.rows.split(',') for t in args.transposed.split(',')]
    except ValueError:
        ap.error('--rows and --transposed take comma-separated integers')
    import importlib
    import tensorflow as tf
    resample = importlib.import_module('sg2tf.ops.conv2d_resample')
    from sg2tf import networks
    print(f'CPU: {cpu_model()}, {os.cpu_count()} cores; TensorFlow {tf.__version__}; numpy sgemm '
          f'{sgemm_in_process():.0f} GFLOP/s; defaults: BAND_FROM_RES {networks.BAND_FROM_RES}, BAND_ROWS '
          f'{networks.BAND_ROWS}, transposed_up_max_channels() {resample.transposed_up_max_channels()}')
    print('| BAND_ROWS | TRANSPOSED_UP_MAX_CHANNELS | run | peak RSS MiB build / first / steady | '
          'TF tensors peak MiB | graph ops |')
    print('|---|---|---|---|---|---|')
    for rows, transposed in settings:
        for run in range(args.processes):
            res = subprocess.run([sys.executable, os.path.abspath(__file__), '--worker', f'{rows},{transposed}'],
                                 capture_output=True, text=True)
            r, err = worker_result(res.stdout, res.stderr)
            if r is None:
                print(f'| {rows} | {transposed} | {run + 1} | failed: {err} | | |')
            else:
                print(f'| {rows} | {transposed} | {run + 1} | {r["build"]:.0f} / {r["first"]:.0f} / '
                      f'{r["steady"]:.0f} | {r["tensors"]:.0f} | {r["ops"]} |', flush=True)
    from _ab import generator_ab
    defaults = (networks.BAND_ROWS, resample.TRANSPOSED_UP_MAX_CHANNELS)

    def restore():
        networks.BAND_ROWS, resample.TRANSPOSED_UP_MAX_CHANNELS = defaults
    generator_ab([(f'BAND_ROWS {r}, TRANSPOSED_UP_MAX_CHANNELS {t}', lambda r=r, t=t: _apply(r, t))
                  for r, t in settings], restore, args.repeat)
    return 0


if __name__ == '__main__':
    sys.exit(main())
