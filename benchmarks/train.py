"""Training images/s on this machine for a config, with and without the lazy regularization steps.

    python benchmarks/train.py [--cfg small] [--resolution 32] [--channels 1] [--steps 30]

Uses a random uint8 dataset of the given shape (speed does not depend on the content). Prints the CPU model.
"""
from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import tempfile
import time
from _machine import cpu_model  # noqa: E402  (benchmarks/ is on sys.path when run as a script)

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))



def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument('--cfg', default='small')
    ap.add_argument('--resolution', type=int, default=32)
    ap.add_argument('--channels', type=int, default=1)
    ap.add_argument('--steps', type=int, default=30)
    args = ap.parse_args()
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
    for label, overrides in (('with lazy R1 + path length', {}),
                             ('without regularization', dict(r1_gamma=0.0, pl_weight=0.0))):
        cfg = dataclasses.replace(CONFIGS[args.cfg], **overrides)
        trainer = Trainer(os.path.join(tmp, label.split()[0]), data, cfg)
        it = iter(data.make_dataset(cfg.batch_size, seed=0))
        for _ in range(cfg.D_reg_interval):  # trace every step function (all are due at step 0) and warm up
            trainer.train_step(*next(it))
        t0 = time.perf_counter()
        for _ in range(args.steps):
            trainer.train_step(*next(it))
        dt = time.perf_counter() - t0
        print(f'{label:<28}{cfg.batch_size:>6}{args.steps * cfg.batch_size / dt:>9.1f}{1000 * dt / args.steps:>10.1f}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
