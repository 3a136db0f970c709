"""Where a batch of config-f generation spends its time: busy milliseconds per synthesis layer and per op type,
from TensorFlow's profiler trace of one compiled call (random weights, psi 0.5, const noise).

    python benchmarks/profile_layers.py [--resolution 1024] [--batch 1] [--calls 2]

Per layer (resolution x NVIDIA scope: Conv0_up, Conv1, ToRGB, ...): 'busy ms' is the wall time during which at
least one of its ops ran (TensorFlow overlaps ops on its inter-op threads, so op durations add up to more),
'op ms' the sum of its ops' durations, and for the convolutions the GFLOP/s that busy time gives (the stride-2
transposed conv's multiply count for Conv0_up, as benchmarks/generate.py counts). Then the op types by summed
duration. Averages over --calls traced calls after two warm-up calls; the profiler's own overhead makes the call
some 10% slower than untraced (both printed). Reads the trace with the XSpace proto that ships inside
TensorFlow (tensorflow.tsl.profiler.protobuf).
"""
from __future__ import annotations

import argparse
import collections
import glob
import os
import re
import sys
import tempfile
import time

from _machine import cpu_model, sgemm_in_process  # noqa: E402  (benchmarks/ is on sys.path when run as a script)

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
LAYER = re.compile(r'/(\d+)x\d+(?:_\d+)?/([A-Za-z]+\d*(?:_up)?)(?:_\d+)?/')


def busy_seconds(intervals: list) -> float:
    """Length of the union of (start, end) intervals."""
    total, end = 0.0, None
    for s, e in sorted(intervals):
        if end is None or s > end:
            total, end = total + (e - s), e
        elif e > end:
            total, end = total + (e - end), e
    return total


def layer_gflop(res: int, layer: str, batch: int) -> float | None:
    """Config-f GFLOP of one layer (None for the non-conv scopes)."""
    from sg2tf import arch
    stage = arch.log2_resolution(res)
    c_in, c_out = arch.nf(stage - 2), arch.nf(stage - 1)
    if layer == 'Conv0_up':
        return batch * 2 * 9 * c_in * c_out * (res // 2) ** 2 / 1e9
    if layer in ('Conv', 'Conv1'):
        return batch * 2 * 9 * c_out * c_out * res * res / 1e9
    return None


def _by_type(events: list, calls: int, top: int = 12) -> str:
    by_type = collections.Counter()
    for s, e, name in events:
        by_type[name.rsplit(':', 1)[-1]] += (e - s) / calls
    return ', '.join(f'{t} {d * 1e3:.1f}' for t, d in by_type.most_common(top))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--resolution', type=int, default=1024)
    ap.add_argument('--batch', type=int, default=1)
    ap.add_argument('--calls', type=int, default=2)
    ap.add_argument('--layer-ops', type=int, default=0, metavar='N',
                    help='also the op types by summed duration within each of the N busiest layers')
    args = ap.parse_args()
    import numpy as np
    import tensorflow as tf
    try:
        from tensorflow.tsl.profiler.protobuf import xplane_pb2
    except ImportError as e:
        print(f'error: this TensorFlow has no XSpace proto to read its profiler trace with ({e})', file=sys.stderr)
        return 2
    import sg2tf
    print(f'CPU: {cpu_model()}, {os.cpu_count()} cores; TensorFlow {tf.__version__}; numpy sgemm '
          f'{sgemm_in_process():.0f} GFLOP/s; config-f {args.resolution}, batch {args.batch}')
    G = sg2tf.Generator(resolution=args.resolution)
    G.build()
    z = tf.constant(np.random.RandomState(0).randn(args.batch, G.latent_size).astype(np.float32))
    fn = tf.function(lambda z: G(z, truncation_psi=0.5, noise_mode='const'), autograph=False)
    for _ in range(2):
        fn(z).numpy()
    t0 = time.perf_counter()
    fn(z).numpy()
    untraced = time.perf_counter() - t0
    with tempfile.TemporaryDirectory() as logdir:
        tf.profiler.experimental.start(logdir)
        t0 = time.perf_counter()
        for _ in range(args.calls):
            fn(z).numpy()
        traced = (time.perf_counter() - t0) / args.calls
        tf.profiler.experimental.stop()
        space = xplane_pb2.XSpace()
        with open(glob.glob(os.path.join(logdir, '**', '*.xplane.pb'), recursive=True)[0], 'rb') as f:
            space.ParseFromString(f.read())
    events = []  # (start s, end s, 'scope/op:Type')
    for plane in space.planes:
        names = {k: v.name for k, v in plane.event_metadata.items()}
        for line in plane.lines:
            for ev in line.events:
                name = names.get(ev.metadata_id, '')
                if ':' in name and '/' in name:
                    start = (line.timestamp_ns * 1000 + ev.offset_ps) / 1e12
                    events.append((start, start + ev.duration_ps / 1e12, name))
    print(f'call: {untraced:.3f} s untraced, {traced:.3f} s traced (mean of {args.calls}); ops busy '
          f'{busy_seconds([(s, e) for s, e, _ in events]) / args.calls:.3f} s a call')
    layers = collections.defaultdict(list)
    for s, e, name in events:
        m = LAYER.search(name)
        layers[(int(m.group(1)), m.group(2)) if m else (0, 'other')].append((s, e))
    print('| resolution | layer | busy ms | op ms | GFLOP/s (busy) |')
    print('|---|---|---|---|---|')
    for (res, layer), iv in sorted(layers.items()):
        busy = busy_seconds(iv) / args.calls
        gflop = layer_gflop(res, layer, args.batch) if res else None
        rate = f'{gflop / busy:.0f}' if gflop and busy > 0 else '-'
        print(f'| {res or "-"} | {layer} | {busy * 1e3:.1f} | {sum(e - s for s, e in iv) / args.calls * 1e3:.1f} '
              f'| {rate} |')
    print('op types by summed duration, ms a call: ' + _by_type(events, args.calls))
    busiest = sorted(layers, key=lambda key: -busy_seconds(layers[key]))[:args.layer_ops]
    for res, layer in busiest:
        inside = [ev for ev in events if (LAYER.search(ev[2]) and (int(LAYER.search(ev[2]).group(1)),
                                                                   LAYER.search(ev[2]).group(2))) == (res, layer)
                  or (not res and not LAYER.search(ev[2]))]
        print(f'{res or "-"} {layer}, ms a call: ' + _by_type(inside, args.calls))
    return 0


if __name__ == '__main__':
    sys.exit(main())
