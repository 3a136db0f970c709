"""Images/s and peak memory of the ONNX and TFLite exports in their runtimes vs sg2tf's own tf.function path.

    python benchmarks/export.py [--network sg2tf/assets/digits32.pkl] [--batches 1,4] [--repeat 5]

For the config-f 1024 generator with random weights: `python tools/make_random_pkl.py` writes a pickle to pass
as --network. The full generator (z -> uint8 images, const noise, psi 0.7) is exported once with
sg2tf-export-onnx / sg2tf-export-tflite; each (runtime, batch) then runs in a fresh subprocess (onnxruntime's
CPU execution provider; LiteRT's interpreter; TensorFlow running `tf.function(G)`), so its peak RSS is its own.
Prints the CPU model with the table.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

from _machine import cpu_model  # noqa: E402  (benchmarks/ is on sys.path when run as a script)

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '3')
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _vm_hwm_mib() -> float:
    """This process's peak RSS (VmHWM), MiB. Not getrusage's ru_maxrss: that survives fork + exec, so a
    worker would report the parent's peak."""
    with open('/proc/self/status') as f:
        return next(int(ln.split()[1]) for ln in f if ln.startswith('VmHWM:')) / 1024


def _feed(z_dim: int, label_size: int, batch: int) -> dict:
    import numpy as np
    rng = np.random.RandomState(0)
    feed = {'z': rng.randn(batch, z_dim).astype(np.float32), 'truncation_psi': np.array(0.7, np.float32)}
    if label_size:
        feed['labels'] = np.eye(label_size, dtype=np.float32)[rng.randint(label_size, size=batch)]
    return feed


def worker(runtime: str, path: str, batch: int, repeat: int, z_dim: int, label_size: int) -> dict:
    feed = _feed(z_dim, label_size, batch)
    if runtime == 'onnxruntime':
        import onnxruntime as ort
        sess = ort.InferenceSession(path, providers=['CPUExecutionProvider'])
        call = lambda: sess.run(None, feed)  # noqa: E731
    elif runtime == 'litert':
        from ai_edge_litert.interpreter import Interpreter
        runner = Interpreter(model_path=path).get_signature_runner('serving_default')
        call = lambda: runner(**feed)  # noqa: E731
    else:
        sys.path.insert(0, ROOT)
        from sg2tf import export as ex
        from sg2tf.cli._common import load_generator
        fn = ex.endpoint(load_generator(path), 'full')
        args = [feed[s.name] for s in fn.input_signature]
        call = lambda: fn(*args)['images'].numpy()  # noqa: E731
    t0 = time.perf_counter()
    call()
    first = time.perf_counter() - t0
    t0 = time.perf_counter()
    for _ in range(repeat):
        call()
    dt = (time.perf_counter() - t0) / repeat
    return {'first_s': first, 'images_per_s': batch / dt, 'peak_rss_mib': _vm_hwm_mib()}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--network', default=os.path.join(ROOT, 'sg2tf', 'assets', 'digits32.pkl'))
    ap.add_argument('--batches', default='1,4')
    ap.add_argument('--repeat', type=int, default=5)
    ap.add_argument('--worker', nargs=6, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        runtime, path, batch, repeat, z_dim, label_size = args.worker
        print(json.dumps(worker(runtime, path, int(batch), int(repeat), int(z_dim), int(label_size))))
        return 0
    sys.path.insert(0, ROOT)
    from sg2tf.cli._common import load_generator
    from sg2tf.cli.export_onnx import export_onnx
    from sg2tf.cli.export_tflite import export_tflite
    G = load_generator(args.network)
    print(f'CPU: {cpu_model()}; network: {os.path.basename(args.network)} ({G.resolution}x{G.resolution}, '
          f'{type(G).__name__}); full generator, const noise, psi 0.7')
    with tempfile.TemporaryDirectory() as tmp:
        paths = {'onnxruntime': os.path.join(tmp, 'G.onnx'), 'litert': os.path.join(tmp, 'G.tflite'),
                 'sg2tf tf.function': args.network}
        t0 = time.perf_counter()
        export_onnx(G, paths['onnxruntime'])
        t1 = time.perf_counter()
        export_tflite(G, paths['litert'])
        print(f'export (with check): onnx {t1 - t0:.1f} s, tflite {time.perf_counter() - t1:.1f} s')
        print(f'{"runtime":<18} {"batch":>5} {"images/s":>9} {"first call s":>12} {"peak RSS MiB":>12}')
        for runtime, path in paths.items():
            for batch in [int(b) for b in args.batches.split(',')]:
                res = subprocess.run([sys.executable, __file__, '--worker', runtime, path, str(batch),
                                      str(args.repeat), str(G.latent_size), str(G.label_size)],
                                     capture_output=True, text=True)
                if res.returncode:
                    print(f'{runtime:<18} {batch:>5} failed: {(res.stderr.strip().splitlines() or ["?"])[-1]}')
                    continue
                r = json.loads(res.stdout.strip().splitlines()[-1])
                print(f'{runtime:<18} {batch:>5} {r["images_per_s"]:>9.1f} {r["first_s"]:>12.2f} '
                      f'{r["peak_rss_mib"]:>12.0f}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
