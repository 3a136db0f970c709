"""Projection speed (steps/s) of sg2tf.projector.Projector, compiled step (tf.function, the default) vs eager.

    python benchmarks/project.py                          # digits network, then a 1024x1024 config-f network
    python benchmarks/project.py --nets digits --steps 50
    python benchmarks/project.py --nets f1024 --f1024-steps 3
    python benchmarks/project.py --network my.pkl         # any generator file sg2tf loads

'f1024' is `sg2tf.Generator(resolution=1024)` with random weights (config-f sizes; the same network
`python tools/make_random_pkl.py --config f --resolution 1024 --out f.pkl` writes as a pickle). Steps/s is measured
after one warm-up step (which includes tracing for the compiled step); the target is an image the network made.
Prints the CPU model (lscpu) and peak memory.
"""
from __future__ import annotations

import argparse
import os
import sys
import time

from _machine import cpu_model, peak_rss_mib  # noqa: E402  (benchmarks/ is on sys.path when run as a script)

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def make_net(name: str):
    sys.path.insert(0, ROOT)
    if name == 'digits':
        from sg2tf.cli._common import load_generator
        from sg2tf.cli.generate import DEFAULT_NETWORK
        return load_generator(DEFAULT_NETWORK)
    if name == 'f1024':
        import sg2tf
        G = sg2tf.Generator(resolution=1024)
        G.build()
        return G
    from sg2tf.cli._common import load_generator
    return load_generator(name)


def steps_per_s(G, steps: int, compiled: bool) -> tuple[float, float]:
    """(steps/s after the warm-up step, seconds of the warm-up step)."""
    from sg2tf import creative, projector
    target = creative.Synthesizer(G).float_images(creative.map_seeds(G, [0]))[0]
    proj = projector.Projector(G, num_steps=steps + 1, compiled=compiled)
    stamps = []
    t0 = time.perf_counter()
    proj.run(target, progress=lambda step, losses: stamps.append(time.perf_counter()))
    return steps / (stamps[-1] - stamps[0]), stamps[0] - t0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--nets', default='digits,f1024', help="comma list of 'digits', 'f1024'")
    ap.add_argument('--network', default=None, help='a generator file instead of --nets')
    ap.add_argument('--steps', type=int, default=100, help='timed steps on the digits network / --network')
    ap.add_argument('--f1024-steps', type=int, default=2, help='timed steps on the 1024 network')
    ap.add_argument('--modes', default='compiled,eager')
    args = ap.parse_args()
    print(f'CPU: {cpu_model()}')
    print(f'{"network":>10} {"mode":>9} {"steps":>6} {"steps/s":>9} {"warm-up s":>10}')
    for name in ([args.network] if args.network else args.nets.split(',')):
        G = make_net(name)
        steps = args.f1024_steps if name == 'f1024' else args.steps
        for mode in args.modes.split(','):
            rate, warm = steps_per_s(G, steps, compiled=(mode == 'compiled'))
            print(f'{os.path.basename(name):>10} {mode:>9} {steps:>6} {rate:>9.3f} {warm:>10.2f}', flush=True)
    print(f'peak RSS: {peak_rss_mib():.0f} MiB')
    return 0


if __name__ == '__main__':
    sys.exit(main())
