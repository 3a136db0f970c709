"""Config-f generation speed, peak memory and tracing cost per call path, op implementation and batch size
(random weights), against the machine's float32 GEMM speed measured in the same run.

    python benchmarks/generate.py [--impls ref,custom] [--batches 1,4] [--modes run,function,savedmodel]
                                  [--repeat 3] [--resolution 1024] [--sgemm-threads N]
                                  [--ada-pytorch DIR --torch-python PY]

Call paths (--modes):
  run         `Gs.run(z, None, truncation_psi=0.5, randomize_noise=False)`: the dnnlib API (sg2tf/compat.py; a
              cached tf.function per static options, NCHW float images back), the call issue 14's goals name,
              const noise like the stylegan2-ada-pytorch row (random noise, 2.8M normal draws an image, took 2-3%
              longer on the Intel Xeon)
  function    `tf.function(lambda z: G(z))`: the Keras call compiled (const noise)
  eager       `G(z)` called directly
  xla         `tf.function(jit_compile=True)` (pure-TF ops only: impl ref)
  savedmodel  the SavedModel of `sg2tf-export-savedmodel` (reference ops; z -> uint8 images, const noise, psi
              0.5), exported once in its own process (time and peak printed), then loaded by each worker

Each (impl, mode, batch) runs in a fresh subprocess, so its memory is its own. Peak RSS is per phase: build
(import + build, or SavedModel load), first call, steady calls (VmHWM reset between phases); 'TF tensors peak'
is the most bytes of live TensorFlow tensors during the steady calls (weights included: the BFC allocator's
count), so what the RSS holds beyond it is TensorFlow itself and the allocator's pool. 'trace s' is the
first call's time minus the steady median; 'traces' is the tf.function tracing count after all calls (1 = no
retracing; for run() the count of its cached function). GFLOP/s = the generator's analytic GFLOP per image
(`generator_gflop`) x images/s; '% sgemm' divides it by numpy's float32 2048^2 matmul GFLOP/s with TensorFlow's
thread count, measured by the same worker right after its timed calls ('sgemm' column: the speed of a shared
machine drifts, so the yardstick is taken beside each figure; the header has the one measured at the start).
Prints the CPU model with the table. With --ada-pytorch, each batch size also gets a row 'ada-pytorch | G(z)':
stylegan2-ada-pytorch's own config-f generator on the same threads, `G(z, None, truncation_psi=0.5,
noise_mode='const')` under torch.no_grad() (benchmarks/_compare.py says what it needs), and its ratio to sg2tf's
run() is printed under the table.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import _compare  # noqa: E402
from _machine import (blas_threads_env, cpu_model, worker_result, peak_rss_mib, reset_peak_rss, sgemm_gflops,  # noqa: E402
                      sgemm_in_process, tf_threads, time_calls)

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODES = ('run', 'function', 'eager', 'xla', 'savedmodel')
PSI = 0.5  # truncation of the run() and SavedModel calls (NVIDIA's example scripts); free compared with the convs


def generator_gflop(resolution: int, fmap_base: int = 16 << 10, fmap_max: int = 512, w_dim: int = 512,
                    mapping_layers: int = 8, channels: int = 3) -> float:
    """GFLOP (2 x multiply-adds) of one config-E/F skip generator image: mapping FCs, 3x3 convs (the up-conv as
    a stride-2 transposed conv at its input resolution), 4x4 blur after it, ToRGB 1x1 convs and the skip
    upsampling of the RGB image. Modulation, noise, bias and activations (O(H W C)) are not counted."""
    from sg2tf import arch
    macs = mapping_layers * w_dim * w_dim
    for res in arch.block_resolutions(resolution):
        stage = arch.log2_resolution(res)
        c_in, c_out = arch.nf(stage - 2, fmap_base, fmap_max=fmap_max), arch.nf(stage - 1, fmap_base, fmap_max=fmap_max)
        pixels = res * res
        if res > 4:
            macs += (pixels // 4) * c_in * c_out * 9   # Conv0_up: conv2d_transpose, stride 2
            macs += pixels * c_out * 16                 # its 4x4 blur
            macs += pixels * channels * 16              # skip: RGB upsampled with the 4x4 filter
        macs += pixels * c_out * c_out * 9              # Conv (4x4) / Conv1
        macs += pixels * c_out * channels               # ToRGB
    return 2 * macs / 1e9


def export_worker(resolution: int, path: str) -> dict:
    """Build a random-weights generator and write its SavedModel (with sg2tf's stock-op check)."""
    sys.path.insert(0, ROOT)
    import sg2tf
    from sg2tf.cli.export_savedmodel import export_savedmodel
    G = sg2tf.Generator(resolution=resolution)
    G.build()
    t0 = time.perf_counter()
    version_dir = export_savedmodel(G, path)
    return {'export_s': time.perf_counter() - t0, 'peak_rss_mib': peak_rss_mib(), 'dir': version_dir}


def _callable(impl: str, mode: str, batch: int, resolution: int, savedmodel: str | None):
    """(call, traces, owner) for one call path: `call()` runs one batch and returns host data, `traces()` the
    tf.function tracing count (None where there is none to read), owner keeps the model alive."""
    import numpy as np
    import tensorflow as tf
    z = np.random.RandomState(0).randn(batch, 512).astype(np.float32)
    if mode == 'savedmodel':
        loaded = tf.saved_model.load(savedmodel)
        fn, psi = loaded.signatures['serving_default'], tf.constant(PSI)
        zt = tf.constant(z)
        return (lambda: fn(z=zt, truncation_psi=psi)['images'].numpy()), (lambda: None), loaded
    import sg2tf
    from sg2tf import compat, ops
    ops.set_default_impl('ref' if mode == 'xla' else impl)
    G = sg2tf.Generator(resolution=resolution)
    G.build()
    if mode == 'run':
        def traces():  # run()'s cached tf.functions for this model (read-only look at sg2tf.compat's cache)
            return sum(f.experimental_get_tracing_count() for f in compat._COMPILED.get(G, {}).values())
        return (lambda: G.run(z, None, truncation_psi=PSI, randomize_noise=False)), traces, G
    zt = tf.constant(z)
    if mode == 'eager':
        return (lambda: G(zt).numpy()), (lambda: None), G
    fn = tf.function(lambda x: G(x), jit_compile=(mode == 'xla'), autograph=False)
    return (lambda: fn(zt).numpy()), fn.experimental_get_tracing_count, G


def _tensor_peak_mib(reset: bool = False) -> float | None:
    """Peak bytes of live TensorFlow tensors on the CPU since the last reset (the BFC allocator's count; importing
    sg2tf turns it on), MiB; None where the allocator does not count."""
    import tensorflow as tf
    try:
        if reset:
            tf.config.experimental.reset_memory_stats('CPU:0')
        return tf.config.experimental.get_memory_info('CPU:0')['peak'] / 2**20
    except (ValueError, RuntimeError, tf.errors.OpError):
        return None


def worker(impl: str, mode: str, batch: int, repeat: int, resolution: int, savedmodel: str | None = None) -> dict:
    """Times and per-phase peaks of one (impl, mode, batch) in this fresh process, then sgemm beside them."""
    sys.path.insert(0, ROOT)
    per_phase = reset_peak_rss()
    t0 = time.perf_counter()
    call, traces, _keep = _callable(impl, mode, batch, resolution, savedmodel)
    build_s, peak = time.perf_counter() - t0, {'build': peak_rss_mib()}
    reset_peak_rss()
    t0 = time.perf_counter()
    call()
    first = time.perf_counter() - t0
    peak['first'] = peak_rss_mib()
    reset_peak_rss()
    _tensor_peak_mib(reset=True)
    times = time_calls(call, repeat)
    peak['steady'] = peak_rss_mib()
    peak['tensors'] = _tensor_peak_mib()
    sgemm = sgemm_in_process()  # BLAS threads: set in this worker's environment by the parent
    return {'sgemm': sgemm, 'build_s': build_s, 'first_s': first, 'best_s': min(times),
            'median_s': sorted(times)[len(times) // 2], 'traces': traces(), 'peak_rss_mib': peak,
            'per_phase': per_phase}


def _one_line(e: BaseException) -> str:
    """The error's own message: Keras wraps it between 'Exception encountered when calling ...' and the call's
    arguments, with terminal bold codes."""
    lines = [re.sub(r'\x1b\[[0-9;]*m', '', ln).strip() for ln in str(e).splitlines()]
    lines = [ln for ln in lines if ln and not ln.startswith(('Exception encountered', 'Arguments received', '•'))]
    return f'{type(e).__name__}: {lines[0] if lines else ""}'[:300]


def _spawn(args: list[str], threads: int) -> tuple[dict | None, str]:
    """Run this script as a worker (numpy on `threads` BLAS threads); (its RESULT dict, '') or (None, why)."""
    env = dict(os.environ, **blas_threads_env(threads))
    res = subprocess.run([sys.executable, os.path.abspath(__file__), *args], capture_output=True, text=True,
                         env=env)
    return worker_result(res.stdout, res.stderr)


def _row(impl: str, mode: str, batch: int, r: dict, gflop: float) -> str:
    img_s = batch / r['best_s']
    achieved = gflop * img_s
    p = r['peak_rss_mib']
    traces = '-' if r['traces'] is None else str(r['traces'])
    tensors = '-' if p.get('tensors') is None else f'{p["tensors"]:.0f}'
    return (f'| {impl} | {mode} | {batch} | {r["best_s"]:.2f} | {r["median_s"]:.2f} | {img_s:.3f} | '
            f'{r["best_s"] / batch:.2f} | {achieved:.0f} | {r["sgemm"]:.0f} | {100 * achieved / r["sgemm"]:.0f}% | '
            f'{r["first_s"]:.1f} | '
            f'{r["first_s"] - r["median_s"]:.1f} | {traces} | {p["build"]:.0f} / {p["first"]:.0f} / '
            f'{p["steady"]:.0f} | {tensors} |')


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--impls', default='ref,custom')
    ap.add_argument('--modes', default='run,function,savedmodel', help=f'comma-separated, of {", ".join(MODES)}')
    ap.add_argument('--batches', default='1,4')
    ap.add_argument('--repeat', type=int, default=3)
    ap.add_argument('--resolution', type=int, default=1024)
    ap.add_argument('--sgemm-threads', type=int, default=None, help="numpy's BLAS threads (default: TF's)")
    _compare.add_args(ap)
    ap.add_argument('--band-rows', type=int, default=None,
                    help="rows per band of the banded high-resolution blocks (sg2tf.networks.BAND_ROWS; default: "
                         "sg2tf's), to measure the time / memory trade-off")
    ap.add_argument('--worker', default=None, help=argparse.SUPPRESS)
    ap.add_argument('--savedmodel', default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    modes = args.modes.split(',')
    bad = [m for m in modes if m not in MODES]
    if bad or args.repeat < 1:
        ap.error(f'unknown mode {bad[0]!r} (choose from {", ".join(MODES)})' if bad else '--repeat must be >= 1')
    _compare.check_args(ap, args)
    if args.worker:
        try:
            if args.worker == 'export':
                result = export_worker(args.resolution, args.savedmodel)
            else:
                impl, mode, batch = args.worker.split(':')
                if args.band_rows:
                    sys.path.insert(0, ROOT)
                    from sg2tf import networks
                    networks.BAND_ROWS = args.band_rows
                result = worker(impl, mode, int(batch), args.repeat, args.resolution, args.savedmodel)
        except Exception as e:  # one line for the table (a traceback's last line is Keras' argument list)
            print('ERROR ' + json.dumps(_one_line(e)))
            return 1
        print('RESULT ' + json.dumps(result))
        return 0
    threads = args.sgemm_threads or tf_threads()
    sgemm, sgemm_1 = sgemm_gflops(threads), sgemm_gflops(1)
    sys.path.insert(0, ROOT)
    gflop = generator_gflop(args.resolution)
    import tensorflow as tf
    print(f'CPU: {cpu_model()}, {os.cpu_count()} cores; TensorFlow {tf.__version__}; config-f {args.resolution}, '
          f'random weights; best and median of {args.repeat} after one warm-up call'
          f'{f"; BAND_ROWS {args.band_rows}" if args.band_rows else ""}')
    print(f'numpy sgemm (2048^2 float32, best of 10) at the start: {sgemm:.1f} GFLOP/s on {threads} threads '
          f'(TensorFlow uses {tf_threads()}), {sgemm_1:.1f} GFLOP/s on 1 thread')
    print(f'generator: {gflop:.1f} GFLOP per image (analytic: convs, FIR filters, mapping)')
    with tempfile.TemporaryDirectory() as tmp:
        savedmodel = None
        if 'savedmodel' in modes:
            r, err = _spawn(['--worker', 'export', '--resolution', str(args.resolution),
                             '--savedmodel', os.path.join(tmp, 'G')], threads)
            if r is None:
                print(f'SavedModel export failed: {err}')
            else:
                savedmodel = r['dir']
                print(f'SavedModel export (sg2tf-export-savedmodel, with its stock-op check): {r["export_s"]:.1f} s, '
                      f'peak RSS {r["peak_rss_mib"]:.0f} MiB')
        print('| impl | mode | batch | s / batch (best) | s / batch (median) | images/s | s / image | GFLOP/s | '
              'sgemm GFLOP/s | % sgemm | first call s | trace s | traces | peak RSS MiB build / first / steady | '
              'TF tensors peak MiB (steady) |')
        print('|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|')
        run_s, ada_s = {}, {}
        for batch in [int(b) for b in args.batches.split(',')]:
            for mode in modes:
                for impl in args.impls.split(','):
                    if mode in ('xla', 'savedmodel') and impl != 'ref':
                        continue  # pure-TF graphs: the reference ops only
                    if mode == 'savedmodel' and savedmodel is None:
                        continue
                    r, err = _spawn(['--worker', f'{impl}:{mode}:{batch}', '--repeat', str(args.repeat),
                                     '--resolution', str(args.resolution), '--savedmodel', str(savedmodel),
                                     *(['--band-rows', str(args.band_rows)] if args.band_rows else [])], threads)
                    if r is None:
                        print(f'| {impl} | {mode} | {batch} | failed: {err} |', flush=True)
                        continue
                    print(_row(impl, mode, batch, r, gflop), flush=True)
                    if not r['per_phase']:
                        print('(peak RSS cumulative: this kernel does not allow resetting VmHWM)')
                    if mode == 'run':
                        run_s.setdefault(batch, (impl, r['best_s'] / batch))
            if args.ada_pytorch:
                r, err = _compare.run(args, 'generate', threads, resolution=args.resolution, batch=batch,
                                      repeat=args.repeat)
                if r is None:
                    print(f'| ada-pytorch | G(z) | {batch} | failed: {err} |', flush=True)
                    continue
                print(_row('ada-pytorch', 'G(z)', batch, r, gflop), flush=True)
                ada_s[batch] = (r['best_s'] / batch, f"torch {r['torch']}, {r['threads']} threads")
        for batch, (s, torch_info) in ada_s.items():
            if batch in run_s:
                impl, ours = run_s[batch]
                print(f'batch {batch}: sg2tf run() ({impl}) {ours:.2f} s/img = {ours / s:.2f} x '
                      f"stylegan2-ada-pytorch's {s:.2f} ({torch_info})")
    return 0


if __name__ == '__main__':
    sys.exit(main())
