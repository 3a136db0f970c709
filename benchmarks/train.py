"""Training images/s on this machine for a config, with and without the lazy regularization steps.

    python benchmarks/train.py [--cfg small] [--resolution 32] [--channels 1] [--steps 30]
                               [--ada-pytorch DIR --torch-python PY]

Uses a random uint8 dataset of the given shape (speed does not depend on the content). Prints the CPU model, then
per variant the img/s and ms per training step overall, then the time of each step function (G main, G reg = path
length, D main, D reg = R1; ms per call) and of the rest of a step (random draws, host reads of the statistics), so
the lazy-regularisation steps are seen apart from the main steps. With --ada-pytorch (config `small` only),
stylegan2-ada-pytorch trains the same config with its own networks, loss and phase schedule in the same run
(benchmarks/ada_pytorch_worker.py, task train) and the ratio of the two is printed.
"""
from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import tempfile
import time
import _compare  # noqa: E402
from _machine import cpu_model, tf_threads  # noqa: E402  (benchmarks/ is on sys.path when run as a script)

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
STEPS = ('G_main_step', 'G_reg_step', 'D_main_step', 'D_reg_step')


class StepTimer:
    """Stands in for one step function and sums its wall time. A tf.function call on CPU returns after its graph
    ran (synchronous eager execution), so the time of the call is the time of the step."""

    def __init__(self, fn):
        self.fn, self.calls, self.seconds = fn, 0, 0.0

    def __call__(self, *args):
        t0 = time.perf_counter()
        out = self.fn(*args)
        self.seconds += time.perf_counter() - t0
        self.calls += 1
        return out

    def reset(self) -> None:
        self.calls, self.seconds = 0, 0.0



def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument('--cfg', default='small')
    ap.add_argument('--resolution', type=int, default=32)
    ap.add_argument('--channels', type=int, default=1)
    ap.add_argument('--steps', type=int, default=30)
    _compare.add_args(ap)
    args = ap.parse_args()
    _compare.check_args(ap, args)
    if args.ada_pytorch and args.cfg != 'small':
        ap.error('--ada-pytorch compares config small only')
    import numpy as np
    import tensorflow as tf
    from sg2tf.training.dataset import DatasetExporter, TFRecordDataset
    from sg2tf.training.loop import CONFIGS, Trainer

    tmp = tempfile.mkdtemp()
    rnd = np.random.RandomState(0)
    with DatasetExporter(os.path.join(tmp, 'data'), 64) as ex:
        for _ in range(64):
            ex.add_image(rnd.randint(0, 256, [args.channels, args.resolution, args.resolution]).astype(np.uint8))
    data = TFRecordDataset(os.path.join(tmp, 'data'))
    print(f'CPU: {cpu_model()}, {os.cpu_count()} cores; TensorFlow {tf.__version__}; cfg {args.cfg}, '
          f'{args.resolution}x{args.resolution}x{args.channels}')
    print(f'{"variant":<28}{"batch":>6}{"img/s":>9}{"ms/step":>10}')
    breakdown, img_s = [], []
    for label, overrides in (('with lazy R1 + path length', {}),
                             ('without regularization', dict(r1_gamma=0.0, pl_weight=0.0))):
        cfg = dataclasses.replace(CONFIGS[args.cfg], **overrides)
        trainer = Trainer(os.path.join(tmp, label.split()[0]), data, cfg)
        it = iter(data.make_dataset(cfg.batch_size, seed=0))
        timers = {name: StepTimer(getattr(trainer.steps, name)) for name in STEPS}
        for name, timer in timers.items():
            setattr(trainer.steps, name, timer)
        for _ in range(cfg.D_reg_interval):  # trace every step function (all are due at step 0) and warm up
            trainer.train_step(*next(it))
        for timer in timers.values():
            timer.reset()
        t0 = time.perf_counter()
        for _ in range(args.steps):
            trainer.train_step(*next(it))
        dt = time.perf_counter() - t0
        print(f'{label:<28}{cfg.batch_size:>6}{args.steps * cfg.batch_size / dt:>9.1f}{1000 * dt / args.steps:>10.1f}')
        img_s.append(args.steps * cfg.batch_size / dt)
        breakdown.append((label, timers, dt))
    print(f'\nper step function over the {args.steps} timed steps (ms per call, calls; rest = draws and host reads '
          f'outside the step functions, per training step)')
    print(f'{"variant":<28}' + ''.join(f'{name[:-5]:>16}' for name in STEPS) + f'{"rest":>10}{"traces":>10}')
    for label, timers, dt in breakdown:
        cells = [f'{1000 * t.seconds / t.calls:>9.1f} ({t.calls:>3})' if t.calls else f'{"-":>16}'
                 for t in timers.values()]
        rest = dt - sum(t.seconds for t in timers.values())
        traces = '/'.join(str(t.fn.experimental_get_tracing_count()) for t in timers.values())
        print(f'{label:<28}' + ''.join(cells) + f'{1000 * rest / args.steps:>10.1f}{traces:>10}')
    print('traces: tf.function tracing counts after all steps, in column order (0: never called)')
    if args.ada_pytorch:
        r, err = _compare.run(args, 'train', tf_threads(), resolution=args.resolution, channels=args.channels,
                              steps=args.steps)
        if r is None:
            print(f'stylegan2-ada-pytorch: failed: {err}')
            return 1
        phases = ', '.join(f'{k} {v[0]:.1f} ({v[1]})' for k, v in r['phases'].items() if v[0] is not None)
        print(f"stylegan2-ada-pytorch (torch {r['torch']}, {r['threads']} threads), with lazy R1 + path length: "
              f"{r['img_s']:.1f} img/s, {r['ms_step']:.1f} ms/step; ms per phase call (calls): {phases}")
        print(f'sg2tf / stylegan2-ada-pytorch: {img_s[0] / r["img_s"]:.2f} x (with regularization)')
    return 0


if __name__ == '__main__':
    sys.exit(main())
