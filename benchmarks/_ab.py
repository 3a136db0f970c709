"""In-process A/B timing of sg2tf settings (module constants read at trace time), shared by the benchmarks that
choose a formulation: each setting gets its own traced function, and their calls are interleaved so that the
shared machine's drift falls on all of them alike."""
from __future__ import annotations

import time

from _machine import time_calls  # noqa: E402  (benchmarks/ is on sys.path when run as a script)


def best_of(fn, *args, repeat: int) -> float:
    """Least wall seconds of `repeat` calls of `fn(*args)` (its result read to the host), after one warm-up."""
    fn(*args)
    return min(time_calls(lambda: fn(*args).numpy(), repeat))


def generator_ab(variants: list, restore, repeat: int, resolution: int = 1024) -> None:
    """Print best and median seconds of a random-weights config-f generator at batch 1 (psi 0.5, const noise) under
    each `(name, apply)` of `variants` (`apply()` sets the setting, the function is traced under it, `restore()`
    puts the defaults back), `repeat` interleaved calls each, and each image's relative difference from the
    first variant's."""
    import numpy as np
    import tensorflow as tf
    import sg2tf
    G = sg2tf.Generator(resolution=resolution)
    G.build()
    z = tf.constant(np.random.RandomState(0).randn(1, G.latent_size).astype(np.float32))
    fns = {}
    for name, apply in variants:
        apply()
        fns[name] = tf.function(lambda z: G(z, truncation_psi=0.5, noise_mode='const'))
        fns[name](z)  # traced now, with this setting
        restore()
    times = {name: [] for name in fns}
    for _ in range(repeat):
        for name, fn in fns.items():
            t0 = time.perf_counter()
            fn(z).numpy()
            times[name].append(time.perf_counter() - t0)
    first = next(iter(fns))
    a = fns[first](z)
    print(f'config-f {resolution} generator, batch 1, {repeat} interleaved calls each:')
    for name, t in times.items():
        b = fns[name](z)
        print(f'- {name}: best {min(t):.3f} s, median {sorted(t)[len(t) // 2]:.3f} s; relative difference of the '
              f'image from {first!r} {float(tf.norm(a - b) / tf.norm(a)):.1e}')
