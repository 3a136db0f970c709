"""What every benchmark prints beside its numbers: the CPU model (lscpu), peak memory, and the machine's float32
GEMM speed (numpy sgemm), the yardstick for a fraction of peak."""
from __future__ import annotations

import os
import resource
import subprocess
import sys
import time

_STATUS = '/proc/self/status'


def cpu_model() -> str:
    """lscpu's 'Model name' with its CPU family/model and widest vector unit, e.g. 'AMD EPYC (family 26 model 2,
    AVX-512)': one model name covers CPUs of several generations (AVX2-only and AVX-512 EPYCs), or 'unknown'."""
    try:
        out = subprocess.run(['lscpu'], capture_output=True, text=True).stdout
    except OSError:
        return 'unknown'
    fields = dict(ln.split(':', 1) for ln in out.splitlines() if ':' in ln)
    fields = {k.strip(): v.strip() for k, v in fields.items()}
    name = fields.get('Model name', 'unknown')
    flags = set(fields.get('Flags', '').split())
    vector = 'AMX' if 'amx_tile' in flags else 'AVX-512' if 'avx512f' in flags else 'AVX2' if 'avx2' in flags else None
    detail = [f"family {fields['CPU family']} model {fields.get('Model', '?')}"] if 'CPU family' in fields else []
    detail += [vector] if vector else []
    return f"{name} ({', '.join(detail)})" if detail else name


def peak_rss_mib() -> float:
    """Peak resident memory of this process, MiB: VmHWM (since the last `reset_peak_rss`), else getrusage's
    ru_maxrss (which Linux keeps across exec, so a worker process would see its parent's peak)."""
    try:
        with open(_STATUS) as f:
            return next(int(ln.split()[1]) for ln in f if ln.startswith('VmHWM:')) / 1024
    except (OSError, StopIteration):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def reset_peak_rss() -> bool:
    """Restart VmHWM at the current RSS (Linux: '5' to /proc/self/clear_refs), so the next `peak_rss_mib` is
    the peak of one phase. False where the kernel does not allow it (peaks are then cumulative)."""
    try:
        with open('/proc/self/clear_refs', 'w') as f:
            f.write('5')
        return True
    except OSError:
        return False


def tf_threads() -> int:
    """The intra-op thread count TensorFlow uses by default: the CPUs this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, 'sched_getaffinity') else (os.cpu_count() or 1)


def blas_threads_env(threads: int) -> dict[str, str]:
    """Environment variables that fix numpy's BLAS thread count (read when numpy loads)."""
    return {k: str(int(threads)) for k in ('OPENBLAS_NUM_THREADS', 'OMP_NUM_THREADS', 'MKL_NUM_THREADS')}


def sgemm_in_process(n: int = 2048, repeat: int = 10) -> float:
    """numpy float32 n x n matmul GFLOP/s (2 n^3 flops, best of `repeat`) in this process, on the BLAS threads
    numpy loaded with."""
    import numpy as np
    rng = np.random.RandomState(0)
    a, b = rng.rand(n, n).astype(np.float32), rng.rand(n, n).astype(np.float32)
    a @ b  # warm-up: thread pool start, page faults
    best = float('inf')
    for _ in range(repeat):
        t0 = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - t0)
    return 2.0 * n ** 3 / best / 1e9


def sgemm_gflops(threads: int, n: int = 2048, repeat: int = 10) -> float:
    """`sgemm_in_process` on `threads` BLAS threads, in a fresh interpreter (the thread count is read from the
    environment when numpy loads)."""
    env = dict(os.environ, **blas_threads_env(threads))
    code = (f'import sys; sys.path.insert(0, {os.path.dirname(os.path.abspath(__file__))!r}); import _machine; '
            f'print(_machine.sgemm_in_process({int(n)}, {int(repeat)}))')
    res = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, env=env)
    if res.returncode:
        raise RuntimeError(f'sgemm measurement failed: {(res.stderr.strip().splitlines() or ["?"])[-1]}')
    return float(res.stdout.strip().splitlines()[-1])


def worker_result(stdout: str, stderr: str) -> tuple[dict | None, str]:
    """A benchmark worker's 'RESULT {json}' line -> (dict, ''), or its 'ERROR "why"' line / last stderr line ->
    (None, why)."""
    import json
    for ln in stdout.splitlines():
        if ln.startswith('RESULT '):
            return json.loads(ln[7:]), ''
        if ln.startswith('ERROR '):
            return None, json.loads(ln[6:])
    return None, (stderr.strip().splitlines() or ['?'])[-1]


def time_calls(call, repeat: int) -> list[float]:
    """Wall seconds of `repeat` calls of `call()`, one after the other."""
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        call()
        times.append(time.perf_counter() - t0)
    return times
