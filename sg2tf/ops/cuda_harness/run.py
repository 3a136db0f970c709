"""Check the CUDA kernels against NumPy and time them, without TensorFlow.

    python sg2tf/ops/cuda_harness/run.py [--nvcc nvcc] [--arch sm_90] [--compile-only] [--iters 20]

Compiles harness.cu together with ../cc/sg2_kernels.cu (the source the TF GPU ops use) into a shared library,
drives it through ctypes with random inputs, compares with the NumPy references below (relative error
||a-b||/||b|| <= 1e-5) and prints ms per kernel call for the config-f 1024 op shapes. --compile-only just
runs `nvcc -c` (works on machines without a GPU). Needs only numpy and a CUDA toolkit.
"""
from __future__ import annotations

import argparse
import ctypes
import math
import os
import subprocess
import sys
import tempfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
CC = os.path.join(os.path.dirname(HERE), 'cc')
# Codes of sg2tf/ops/activations.py ACTIVATIONS (= C++ enum Act; tests/test_ops.py checks all three agree).
ACTS = {'linear': 0, 'relu': 1, 'lrelu': 2, 'tanh': 3, 'sigmoid': 4, 'elu': 5, 'selu': 6, 'softplus': 7, 'swish': 8}


def upfirdn2d_np(x, f, up, down, pad, flip, gain):
    """Literal definition, NHWC: zero-insert, pad/crop, true convolution with f, keep every down-th sample."""
    n, h, w, c = x.shape
    px0, px1, py0, py1 = pad
    u = np.zeros([n, h * up, w * up, c], np.float64)
    u[:, ::up, ::up] = x
    u = np.pad(u, [[0, 0], [max(py0, 0), max(py1, 0)], [max(px0, 0), max(px1, 0)], [0, 0]])
    u = u[:, max(-py0, 0):u.shape[1] - max(-py1, 0), max(-px0, 0):u.shape[2] - max(-px1, 0)]
    k = (f if flip else f[::-1, ::-1]) * gain
    oh, ow = u.shape[1] - k.shape[0] + 1, u.shape[2] - k.shape[1] + 1
    out = np.zeros([n, oh, ow, c])
    for i in range(k.shape[0]):
        for j in range(k.shape[1]):
            out += u[:, i:i + oh, j:j + ow] * k[i, j]
    return out[:, ::down, ::down]


def act_np(act, z, alpha, order):
    """order-th derivative (0, 1, 2) of the activation, float64."""
    s = 1 / (1 + np.exp(-z))
    t = np.tanh(z)
    sa, sc = 1.6732632423543772, 1.0507009873554805
    table = {
        'linear': (z, np.ones_like(z), np.zeros_like(z)),
        'relu': (np.maximum(z, 0), (z > 0) * 1.0, np.zeros_like(z)),
        'lrelu': (np.where(z > 0, z, alpha * z), np.where(z > 0, 1.0, alpha), np.zeros_like(z)),
        'tanh': (t, 1 - t * t, -2 * t * (1 - t * t)),
        'sigmoid': (s, s * (1 - s), s * (1 - s) * (1 - 2 * s)),
        'elu': (np.where(z > 0, z, np.expm1(z)), np.where(z > 0, 1.0, np.exp(z)), np.where(z > 0, 0.0, np.exp(z))),
        'selu': (sc * np.where(z > 0, z, sa * np.expm1(z)), sc * np.where(z > 0, 1.0, sa * np.exp(z)),
                 sc * np.where(z > 0, 0.0, sa * np.exp(z))),
        'softplus': (np.logaddexp(0, z), s, s * (1 - s)),
        'swish': (z * s, s * (1 + z * (1 - s)), s * (1 - s) * (2 + z * (1 - 2 * s))),
    }
    return table[act][order]


def bias_act_np(dy, x, b, act, alpha, gain, clamp, order):
    z = x.astype(np.float64) + (0 if b is None else b)
    y = act_np(act, z, alpha, 0) * gain
    if order == 0:
        return np.clip(y, -clamp, clamp) if clamp >= 0 else y
    g = dy * gain * act_np(act, z, alpha, order)
    return np.where(np.abs(y) <= clamp, g, 0.0) if clamp >= 0 else g


def rel_err(a, b):
    return float(np.linalg.norm(np.asarray(a, np.float64) - b) / max(np.linalg.norm(b), 1e-30))


def build(nvcc: str, arch: str | None, out_dir: str, compile_only: bool) -> str:
    arch_flags = [f'-arch={arch}'] if arch else []
    srcs = [os.path.join(HERE, 'harness.cu'), os.path.join(CC, 'sg2_kernels.cu')]
    if compile_only:
        for src in srcs:
            cmd = [nvcc, '-c', '-O3', '-std=c++17', *arch_flags, f'-I{CC}', src, '-o',
                   os.path.join(out_dir, os.path.basename(src) + '.o')]
            print('+', ' '.join(cmd))
            subprocess.run(cmd, check=True)
        return ''
    lib = os.path.join(out_dir, 'libsg2h.so')
    cmd = [nvcc, '-O3', '-std=c++17', '-shared', '-Xcompiler', '-fPIC', *arch_flags, f'-I{CC}', *srcs, '-o', lib]
    print('+', ' '.join(cmd))
    subprocess.run(cmd, check=True)
    return lib


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument('--nvcc', default=os.environ.get('NVCC', 'nvcc'))
    ap.add_argument('--arch', default=None, help='e.g. sm_90 (H100); default: nvcc default')
    ap.add_argument('--compile-only', action='store_true')
    ap.add_argument('--iters', type=int, default=20)
    args = ap.parse_args()
    out_dir = tempfile.mkdtemp(prefix='sg2h-')
    lib_path = build(args.nvcc, args.arch, out_dir, args.compile_only)
    if args.compile_only:
        print(f'compiled OK into {out_dir}')
        return 0
    lib = ctypes.CDLL(lib_path)
    lib.sg2h_error_string.restype = ctypes.c_char_p
    fp = ctypes.POINTER(ctypes.c_float)
    ptr = lambda a: None if a is None else a.ctypes.data_as(fp)  # noqa: E731
    failures = 0

    def upfirdn(x, f, up, down, pad, flip, gain, iters):
        n, h, w, c = x.shape
        oh = (h * up + pad[2] + pad[3] - f.shape[0]) // down + 1
        ow = (w * up + pad[0] + pad[1] - f.shape[1]) // down + 1
        y = np.empty([n, oh, ow, c], np.float32)
        dims = (ctypes.c_longlong * 13)(n, h, w, c, up, down, *pad, f.shape[0], f.shape[1], int(flip))
        ms = ctypes.c_float()
        err = lib.sg2h_upfirdn2d(ptr(x), ptr(f), ptr(y), dims, ctypes.c_float(gain), iters, ctypes.byref(ms))
        if err:
            raise RuntimeError(lib.sg2h_error_string(err).decode())
        return y, ms.value

    def bias_act(dy, x, b, act, alpha, gain, clamp, order, iters):
        y = np.empty_like(x)
        ms = ctypes.c_float()
        err = lib.sg2h_bias_act(ptr(dy), ptr(x), ptr(b), ptr(y), ctypes.c_longlong(x.size),
                                ctypes.c_longlong(0 if b is None else b.size), ACTS[act], ctypes.c_float(alpha),
                                ctypes.c_float(gain), ctypes.c_float(clamp), order, 0 if iters is None else iters,
                                ctypes.byref(ms))
        if err:
            raise RuntimeError(lib.sg2h_error_string(err).decode())
        return y, ms.value

    rnd = np.random.RandomState(0)
    k4 = np.outer([1, 3, 3, 1], [1, 3, 3, 1]).astype(np.float32) / 64
    cases = [(1, 1, (0, 0, 0, 0), k4, False, 1.0), (2, 1, (2, 1, 2, 1), k4, False, 4.0),
             (1, 2, (1, 1, 1, 1), k4, True, 1.0), (3, 2, (-1, 2, 1, -2), rnd.rand(5, 3).astype(np.float32), False, .5),
             (2, 3, (1, 0, 3, 2), rnd.rand(2, 4).astype(np.float32), True, 2.0)]
    print('correctness (relative error vs NumPy):')
    for up, down, pad, f, flip, gain in cases:
        for c in (3, 32):
            x = rnd.randn(2, 13, 11, c).astype(np.float32)
            y, _ = upfirdn(x, f, up, down, pad, flip, gain, 0)
            e = rel_err(y, upfirdn2d_np(x, f, up, down, pad, flip, gain))
            failures += e > 1e-5
            print(f'  upfirdn2d up={up} down={down} pad={pad} f={f.shape} flip={flip} C={c}: {e:.2e}')
    for act in ACTS:
        for order in (0, 1, 2):
            x = rnd.randn(4, 7, 16).astype(np.float32)
            b = rnd.randn(16).astype(np.float32)
            dy = rnd.randn(*x.shape).astype(np.float32)
            y, _ = bias_act(dy if order else None, x, b, act, 0.2, 1.4, 1.1, order, 0)
            e = rel_err(y, bias_act_np(dy, x, b, act, 0.2, 1.4, 1.1, order))
            failures += e > 1e-5
            print(f'  bias_act {act} order {order}: {e:.2e}')
    print(f'timings, ms per call (mean of {args.iters}), config-f 1024 generator shapes, batch 1:')
    for res in (64, 128, 256, 512, 1024):
        c = min(16384 // (res // 2), 512)
        x = rnd.randn(1, res + 1, res + 1, c).astype(np.float32)
        _, ms_fir = upfirdn(x, k4, 1, 1, (1, 1, 1, 1), False, 4.0, args.iters)
        xr = rnd.randn(1, res // 2, res // 2, 3).astype(np.float32)
        _, ms_up = upfirdn(xr, k4, 2, 1, (2, 1, 2, 1), False, 4.0, args.iters)
        xa = rnd.randn(1, res, res, c).astype(np.float32)
        _, ms_ba = bias_act(None, xa, rnd.randn(c).astype(np.float32), 'lrelu', 0.2, math.sqrt(2), -1, 0, args.iters)
        print(f'  res {res:4d} C={c:3d}: FIR {ms_fir:.3f}  upsample_2d rgb {ms_up:.3f}  bias+lrelu {ms_ba:.3f}')
    print('FAILED' if failures else 'all kernels match NumPy')
    return 1 if failures else 0


if __name__ == '__main__':
    sys.exit(main())
