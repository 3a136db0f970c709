"""Per-op timings for the upfirdn2d / bias_act calls a config-f 1024 generator makes (batch 1 by default).

    python benchmarks/ops.py [--batch 1] [--repeat 5] [--impls ref,custom,xla] [--max-res 1024]

Columns: milliseconds per call, forward and forward+backward (gradient w.r.t. the input), for the pure-TF path
('ref', in a tf.function), the compiled custom ops ('custom') and the pure-TF path under XLA ('xla').
"""
from __future__ import annotations

import argparse
import os
import sys
import time

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from sg2tf import ops  # noqa: E402
from _machine import cpu_model  # noqa: E402  (benchmarks/ is on sys.path when run as a script)



def nf(res: int) -> int:
    """Config-f feature maps at a resolution (fmap_base 16384, fmap_max 512)."""
    return min(16384 // (res // 2), 512)


def op_calls(max_res: int, batch: int):
    """(name, input shape, fn(x, impl)) for the distinct op calls of a config-f synthesis network."""
    f = ops.setup_filter([1, 3, 3, 1])
    calls = []
    res = 8
    while res <= max_res:
        c = nf(res)
        calls.append((f'FIR after up-conv {res}', (batch, res + 1, res + 1, c),
                      lambda x, impl: ops.upfirdn2d(x, f, padding=(1, 1), gain=4, impl=impl)))
        calls.append((f'bias+lrelu {res}', (batch, res, res, c),
                      lambda x, impl, c=c: ops.bias_act(x, tf.ones([c]), act='lrelu', impl=impl)))
        calls.append((f'upsample_2d rgb {res}', (batch, res // 2, res // 2, 3),
                      lambda x, impl: ops.upsample_2d(x, f, impl=impl)))
        res *= 2
    return calls


def timeit(fn, x, repeat: int) -> float:
    fn(x)  # trace / compile / warm up
    best = float('inf')
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn(x)
        (out[0] if isinstance(out, (list, tuple)) else out).numpy()
        best = min(best, time.perf_counter() - t0)
    return best * 1e3


def make(fn, impl: str, backward: bool):
    real_impl = 'ref' if impl == 'xla' else impl

    def fwd(x):
        return fn(x, real_impl)

    def fwd_bwd(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = fn(x, real_impl)
        return y, tape.gradient(y, x, output_gradients=tf.ones_like(y))
    return tf.function(fwd_bwd if backward else fwd, jit_compile=(impl == 'xla'))


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument('--batch', type=int, default=1)
    ap.add_argument('--repeat', type=int, default=5)
    ap.add_argument('--impls', default='ref,custom,xla')
    ap.add_argument('--max-res', type=int, default=1024)
    args = ap.parse_args()
    impls = args.impls.split(',')
    print(f'CPU: {cpu_model()}, {os.cpu_count()} cores; TensorFlow {tf.__version__}; batch {args.batch}; '
          f'best of {args.repeat}, ms per call')
    header = f'| {"op call":<24} | {"input shape":<20} |' + ''.join(
        f' {i + " fwd":>11} | {i + " f+b":>11} |' for i in impls)
    print(header)
    print('|' + '---|' * (2 + 2 * len(impls)))
    totals = {(i, b): 0.0 for i in impls for b in (False, True)}
    rnd = np.random.RandomState(0)
    for name, shape, fn in op_calls(args.max_res, args.batch):
        x = tf.constant(rnd.randn(*shape).astype(np.float32))
        row = f'| {name:<24} | {str(list(shape)):<20} |'
        for impl in impls:
            for backward in (False, True):
                ms = timeit(make(fn, impl, backward), x, args.repeat)
                totals[(impl, backward)] += ms
                row += f' {ms:11.2f} |'
        print(row, flush=True)
    print(f'| {"total":<24} | {"":<20} |' + ''.join(
        f' {totals[(i, False)]:11.2f} | {totals[(i, True)]:11.2f} |' for i in impls))
    return 0


if __name__ == '__main__':
    sys.exit(main())
