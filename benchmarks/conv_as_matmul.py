"""sg2tf's batch-1 convolution routes against TensorFlow's plain conv kernels, per config-f shape and whole.

    python benchmarks/conv_as_matmul.py [--repeat 8]

For one float32 image sg2tf.ops.conv2d_resample runs
- with at least MATMUL_CONV_MIN_CHANNELS input channels, as matmuls: a 3x3 stride-1 conv of at most
  MATMUL_CONV_MAX_PIXELS pixels (`conv2d_stride1`: one matmul per kernel row over shifted copies of the flattened
  input), the 2x up-convolution of an input of at most MATMUL_UP_MAX_PIXELS pixels (`_up2_as_matmul`: one matmul
  for the nine taps, added into the four phases); both limits per CPU (MATMUL_LIMITS, `matmul_limits`);
- the other 2x up-convolutions as four phase convs (`_polyphase_up2`), except those of at most
  `transposed_up_max_channels()` input channels (per CPU): TensorFlow's transposed conv.
Printed, in one process: each config-f shape at batch 1 with the routes off (TensorFlow's 3x3 conv, four phase
convs for every up-convolution) and on with the widest limits of MATMUL_LIMITS (best ms and GFLOP/s of --repeat
calls in a tf.function; an up-convolution with its FIR filter, counted as the stride-2 transposed conv's GFLOP; a
512 and 1024 px one as one band of networks.BAND_ROWS output rows), then the whole config-f 1024 generator (random
weights, psi 0.5, batch 1) traced with the routes off and on with each entry of MATMUL_LIMITS (this CPU's marked),
the functions' calls interleaved (best and median s), with numpy's sgemm GFLOP/s and the CPU model (lscpu) beside.
The routes are forced on and off (BATCH1_ROUTES) whichever kernels TensorFlow runs; by default they are on only
with its oneDNN kernels: run with TF_ENABLE_ONEDNN_OPTS=0 to measure them against the Eigen kernels.
"""
from __future__ import annotations

import argparse
import importlib
import os
import sys

from _ab import best_of, generator_ab  # noqa: E402  (benchmarks/ is on sys.path when run as a script)
from _machine import cpu_model, sgemm_in_process  # noqa: E402

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--repeat', type=int, default=8)
    args = ap.parse_args()
    import tensorflow as tf
    import sg2tf
    from sg2tf import networks
    resample = importlib.import_module('sg2tf.ops.conv2d_resample')
    conv_limit, up_limit = resample.matmul_limits()
    defaults = {'MATMUL_CONV_MAX_PIXELS': conv_limit, 'MATMUL_UP_MAX_PIXELS': up_limit,
                'TRANSPOSED_UP_MAX_CHANNELS': resample.transposed_up_max_channels()}
    widest = [max(limits[i] for limits in resample.MATMUL_LIMITS.values()) for i in (0, 1)]
    print(f'CPU: {cpu_model()}, {os.cpu_count()} cores; TensorFlow {tf.__version__}; numpy sgemm '
          f'{sgemm_in_process():.0f} GFLOP/s; oneDNN kernels {"on" if resample._onednn_enabled() else "off"} (routes '
          f'{"on" if resample.batch1_routes() else "off"} by default); MATMUL_CONV_MIN_CHANNELS '
          f'{resample.MATMUL_CONV_MIN_CHANNELS}, '
          + ', '.join(f'{name} {value}' for name, value in defaults.items()))

    def routes(on: bool, limits=(None, None)):  # forced on or off, oneDNN kernels or not; pixel limits
        resample.BATCH1_ROUTES = on
        resample.MATMUL_CONV_MAX_PIXELS, resample.MATMUL_UP_MAX_PIXELS = limits

    fir = sg2tf.ops.setup_filter([1, 3, 3, 1])
    print('| batch 1, input | routes off ms | GFLOP/s | routes on ms | GFLOP/s | route on |')
    print('|---|---|---|---|---|---|')
    cases = [('3x3', res, res, c, c) for res, c in ((8, 512), (16, 512), (32, 512), (64, 512), (128, 256))]
    cases += [('up 2x', res, res, 512, 512) for res in (4, 8, 16, 32)]
    cases += [('up 2x', 64, 64, 512, 256), ('up 2x', 128, 128, 256, 128)]
    # One band of BAND_ROWS final rows: the 512 and 1024 px blocks' input rows, 4 of them margins (_run_in_bands).
    cases += [('up 2x', networks.BAND_ROWS // 4 + 4, 256, 128, 64), ('up 2x', networks.BAND_ROWS // 2 + 4, 512, 64, 32)]
    for kind, h, wd, cin, cout in cases:
        x, w = tf.random.normal([1, h, wd, cin]), tf.random.normal([3, 3, cin, cout])
        op = ((lambda x, w: resample.conv2d_stride1(x, w, 'SAME')) if kind == '3x3' else
              (lambda x, w: resample.conv2d_resample(x, w, fir, up=2, polyphase=True)))
        row = []
        for on in (False, True):
            routes(on, widest)
            fn = tf.function(op)
            row.append(best_of(fn, x, w, repeat=args.repeat))
        used = {o.type for o in fn.get_concrete_function(x, w).graph.get_operations()}  # routes on
        route = ('matmuls' if 'MatMul' in used else 'transposed conv' if 'Conv2DBackpropInput' in used else
                 'conv' if kind == '3x3' else 'phases')
        gflop = 2 * 9 * h * wd * cin * cout / 1e9
        print(f'| {kind} {h}x{wd}, {cin} -> {cout} | {row[0] * 1e3:.1f} | {gflop / row[0]:.0f} | '
              f'{row[1] * 1e3:.1f} | {gflop / row[1]:.0f} | {route} |')
    routes(None)

    mine = 'amx' if resample._cpu_has_amx() else 'other'
    variants = [('routes off', lambda: routes(False))] + [
        (f"routes on, '{key}' limits{' (this CPU)' if key == mine else ''}", lambda limits=limits: routes(True, limits))
        for key, limits in resample.MATMUL_LIMITS.items()]
    generator_ab(variants, lambda: routes(None), args.repeat)
    return 0


if __name__ == '__main__':
    sys.exit(main())
