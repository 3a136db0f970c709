"""Run N training steps of a tiny network and save every G/D/Gs variable (used by test_distributed.py).

    python tests/dist_worker.py DATA OUT.npz STEPS        # one process, or one worker when TF_CONFIG is set
"""
import dataclasses
import os
import sys

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '3')
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import keras  # noqa: E402
import numpy as np  # noqa: E402

from sg2tf.nvidia import names as nvnames  # noqa: E402
from sg2tf.training.dataset import TFRecordDataset  # noqa: E402
from sg2tf.training.loop import CONFIGS, Trainer  # noqa: E402
from sg2tf.cli.train import is_chief, make_strategy  # noqa: E402

# No minibatch-stddev: with it D's output depends on how the batch is split over replicas (as in NVIDIA's
# multi-GPU training), so one process and two workers would compute different functions.
TINY = dict(fmap_base=32, fmap_max=16, latent_size=16, dlatent_size=16, mapping_layers=2, mapping_fmaps=16,
            batch_size=4, r1_gamma=1.0, ema_kimg=0.01, mbstd_group_size=1, G_reg_interval=2, D_reg_interval=2)


def main(data_dir, out, steps):
    keras.utils.set_random_seed(0)
    strategy = make_strategy('auto')
    chief = is_chief()
    cfg = dataclasses.replace(CONFIGS['f'], **TINY)
    run_dir = os.path.join(os.path.dirname(out), 'run' if chief else 'run-worker')
    trainer = Trainer(run_dir, TFRecordDataset(data_dir, max_label_size='full'), cfg, seed=5, strategy=strategy,
                      is_chief=chief)
    trainer.train(1.0, snapshot_kimg=1.0, max_steps=int(steps), log=lambda s: None)
    if chief:
        arrays = {f'{k}/{n}': v.numpy() for k, net in (('G', trainer.G), ('D', trainer.D), ('Gs', trainer.Gs))
                  for n, v in nvnames.nvidia_variables(net).items()}
        arrays['pl_mean'] = trainer.loss.pl_mean.numpy()
        arrays['replicas'] = np.int64(strategy.num_replicas_in_sync)
        np.savez(out, **arrays)


if __name__ == '__main__':
    main(*sys.argv[1:])
