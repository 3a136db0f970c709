"""Cost of the loader's opcode pre-pass (sg2tf.nvidia.errors.check_opcodes) against a whole load.

    python benchmarks/prepass.py [PKL ...]     # default: the config-f 1024 random pickle of load_generate.py

The pass as the loader runs it (streamed from the file, large payloads seeked over), the same pass over the
file's bytes in memory, the streamed unpickling (array data left in the file) and a whole load. Best of 3 for
each; prints the CPU model (lscpu).
"""
from __future__ import annotations

import os
import sys
import tempfile
import time

from _machine import cpu_model  # noqa: E402  (benchmarks/ is on sys.path when run as a script)

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '3')


def best(fn, n=3) -> float:
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> int:
    paths = sys.argv[1:] or [os.path.join(tempfile.gettempdir(), 'sg2tf-config-f-1024-random.pkl')]
    import legacy
    from sg2tf.nvidia.errors import check_opcodes
    from sg2tf.nvidia.unpickler import open_pickle
    print(f'CPU: {cpu_model()}, {os.cpu_count()} cores')

    def streamed(path, unpickle=False):
        with open_pickle(path) as f:
            f.check()
            if unpickle:
                f.load()
    for path in paths:
        with open(path, 'rb') as f:
            data = f.read()
        t_pass = best(lambda: streamed(path))
        t_bytes = best(lambda: check_opcodes(data, path))
        t_unpickle = best(lambda: streamed(path, unpickle=True)) - t_pass
        t_load = best(lambda: legacy.load_network_pkl(path))
        print(f'{os.path.basename(path)} ({len(data) / 2**20:.0f} MiB): pre-pass {t_pass * 1000:.1f} ms streamed '
              f'({t_bytes * 1000:.1f} ms over the bytes in memory), streamed unpickling {t_unpickle * 1000:.1f} ms, '
              f'whole load {t_load:.2f} s (pre-pass {100 * t_pass / t_load:.1f}%)')
    return 0


if __name__ == '__main__':
    sys.exit(main())
