"""sg2tf/cli/train.py end to end on a tiny network: snapshots, checkpoints, resume, NaN stop, SIGKILL safety."""
import glob
import json
import os
import signal
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

import legacy
from sg2tf.training.dataset import DatasetExporter, TFRecordDataset
from sg2tf.training.loop import CONFIGS, Trainer, TrainingDiverged
from sg2tf.cli import train as train_keras

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY = dict(fmap_base=32, fmap_max=16, latent_size=16, dlatent_size=16, mapping_layers=2, mapping_fmaps=16,
            batch_size=4, r1_gamma=1.0, ema_kimg=0.01)


def make_dataset(path, n=16, res=8, channels=1, label_size=3, seed=0):
    rnd = np.random.RandomState(seed)
    with DatasetExporter(str(path), n) as ex:
        for _ in range(n):
            ex.add_image(rnd.randint(0, 256, size=[channels, res, res]).astype(np.uint8))
        ex.add_labels(np.eye(label_size, dtype=np.float32)[rnd.randint(label_size, size=n)])
    return str(path)


@pytest.fixture(scope='module')
def data_dir(tmp_path_factory):
    return make_dataset(tmp_path_factory.mktemp('data') / 'tiny')


def _tiny_cfg(monkeypatch):
    import dataclasses
    monkeypatch.setitem(CONFIGS, 'tiny', dataclasses.replace(CONFIGS['f'], **TINY))


def test_train_snapshot_and_resume(tmp_path, data_dir, monkeypatch, capsys):
    _tiny_cfg(monkeypatch)
    out = str(tmp_path / 'run')
    # 5 steps of 4 images: checkpoints every 8 images, snapshots every 8 images.
    assert train_keras.main(['--data', data_dir, '--outdir', out, '--cfg', 'tiny', '--cond', '--kimg', '0.02',
                             '--snap', '0.008']) == 0
    log = capsys.readouterr().out
    assert 'kimg    0.008' in log and 'snapshot network-snapshot-000000.pkl' in log
    files = os.listdir(out)
    for name in ('reals.png', 'fakes_init.png', 'fakes000000.png', 'training_options.json', 'logs', 'checkpoints'):
        assert name in files
    assert not [f for f in files if '.tmp' in f]
    nets = legacy.load_network_pkl(os.path.join(out, 'network-snapshot-000000.pkl'))
    assert nets['Gs'].label_size == 3 and nets['G'].resolution == 8
    assert tf.train.latest_checkpoint(os.path.join(out, 'checkpoints')).endswith('ckpt-5')
    # Resume: same counters, then continue to 0.032 kimg (8 steps).
    assert train_keras.main(['--resume', out, '--kimg', '0.032', '--snap', '0.008']) == 0
    log = capsys.readouterr().out
    assert 'Resumed' in log and 'kimg 0.020 (step 5)' in log
    assert tf.train.latest_checkpoint(os.path.join(out, 'checkpoints')).endswith('ckpt-8')
    # TensorBoard scalars were written.
    events = glob.glob(os.path.join(out, 'logs', 'events.out.tfevents.*'))
    tags = {v.tag for e in events for ev in tf.compat.v1.train.summary_iterator(e) for v in ev.summary.value}
    assert {'Loss/G/loss', 'Loss/D/loss', 'Loss/G/pl_mean', 'Loss/D/r1_penalty', 'Timing/img_per_sec',
            'Progress/kimg'} <= tags


def test_restored_state_equals_saved(tmp_path, data_dir):
    import dataclasses
    cfg = dataclasses.replace(CONFIGS['f'], **TINY)
    data = TFRecordDataset(data_dir, max_label_size='full')
    a = Trainer(str(tmp_path), data, cfg, seed=3)
    a.train(1.0, snapshot_kimg=1.0, max_steps=3, log=lambda s: None)
    b = Trainer(str(tmp_path), data, cfg, seed=3)
    assert b.restore()
    for x, y in ((a.G, b.G), (a.D, b.D), (a.Gs, b.Gs)):
        for u, v in zip(x.weights, y.weights):
            np.testing.assert_array_equal(u.numpy(), v.numpy())
    assert int(b.step.numpy()) == 3 and int(b.cur_nimg.numpy()) == 12
    assert float(b.loss.pl_mean.numpy()) == float(a.loss.pl_mean.numpy()) != 0
    for oa, ob in ((a.G_opt, b.G_opt), (a.D_opt, b.D_opt)):
        for u, v in zip(oa.variables, ob.variables):
            np.testing.assert_array_equal(u.numpy(), v.numpy())


def test_nan_stops_with_step_and_term(tmp_path, data_dir):
    import dataclasses
    cfg = dataclasses.replace(CONFIGS['f'], **TINY)
    t = Trainer(str(tmp_path), TFRecordDataset(data_dir), cfg, jit=False)
    t.train(1.0, max_steps=1, log=lambda s: None)
    t.D.out.bias.assign([np.nan])
    with pytest.raises(TrainingDiverged, match=r'step 1 .*: Loss/G/loss is nan'):
        t.train(1.0, max_steps=1, log=lambda s: None)


KILL_STEP, CKPT_STEPS = 8, 3  # checkpoints at steps 3 and 6; killed during step 8's snapshot: steps 7-8 are lost


def test_sigkill_then_resume(tmp_path, data_dir, capsys):
    """Kill -9 at a fixed point (the child kills itself as it starts writing the snapshot of step KILL_STEP, two
    steps after its last checkpoint): nothing is corrupt, the resumed run starts at the last checkpoint (so only
    the steps since it are lost) and continues from there."""
    out = str(tmp_path / 'run')
    env = dict(os.environ, PYTHONPATH=ROOT, SG2TF_TEST_TINY='1')
    child = ('import os, signal, sys, dataclasses\n'
             'from sg2tf.training.loop import CONFIGS, Trainer\n'
             f'CONFIGS["tiny"] = dataclasses.replace(CONFIGS["f"], **{TINY!r})\n'
             'save_snapshot = Trainer.save_snapshot\n'
             'def killing_save_snapshot(self):\n'
             f'    if int(self.step.numpy()) == {KILL_STEP}:\n'
             '        os.kill(os.getpid(), signal.SIGKILL)\n'
             '    return save_snapshot(self)\n'
             'Trainer.save_snapshot = killing_save_snapshot\n'
             'from sg2tf.cli.train import main\n'
             'sys.exit(main(sys.argv[1:]))\n')
    batch = TINY['batch_size']
    cmd = [sys.executable, '-c', child, '--data', data_dir, '--outdir', out, '--cfg', 'tiny', '--kimg', '10',
           '--snap', str(batch / 1000), '--ckpt', str(CKPT_STEPS * batch / 1000)]
    res = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert res.returncode == -signal.SIGKILL, res.stderr[-2000:]
    assert f'step {KILL_STEP - 1:6d}' in res.stdout and f'step {KILL_STEP:6d}' not in res.stdout, res.stdout
    ckpt_dir = os.path.join(out, 'checkpoints')
    saved_step = int(tf.train.latest_checkpoint(ckpt_dir).rsplit('-', 1)[1])
    last_ckpt = KILL_STEP // CKPT_STEPS * CKPT_STEPS
    assert saved_step == last_ckpt and KILL_STEP - saved_step < CKPT_STEPS
    for snap in glob.glob(os.path.join(out, 'network-snapshot-*.pkl')):
        legacy.load_network_pkl(snap)  # every complete-named file is a complete pickle
    with open(os.path.join(out, 'training_options.json')) as f:
        json.load(f)
    capsys.readouterr()
    assert train_keras.main(['--resume', out, '--kimg', str((saved_step + 2) * batch / 1000), '--snap', '1']) == 0
    log = capsys.readouterr().out
    assert f'kimg {saved_step * batch / 1000:.3f} (step {saved_step})' in log, log
    assert tf.train.latest_checkpoint(ckpt_dir).endswith(f'ckpt-{saved_step + 2}')


def test_resume_from_pickle_fine_tunes(tmp_path, data_dir, monkeypatch, capsys):
    """--resume-from takes architecture and weights from an NVIDIA-format (G, D, Gs) pickle."""
    from sg2tf.nvidia import save_network_pkl
    from sg2tf import Discriminator, Generator
    kw = dict(latent_size=8, dlatent_size=8, mapping_kwargs=dict(mapping_layers=1, mapping_fmaps=8),
              synthesis_kwargs=dict(fmap_base=16, fmap_max=8, architecture='orig'))
    G, Gs = Generator(8, 1, 3, name='G', **kw), Generator(8, 1, 3, name='Gs', **kw)
    D = Discriminator(8, 1, 3, fmap_base=16, fmap_max=8, architecture='skip')
    for net in (G, Gs, D):
        net.build()
    pkl = str(tmp_path / 'start.pkl')
    save_network_pkl(pkl, G, D, Gs)
    out = str(tmp_path / 'ft')
    args = ['--data', data_dir, '--outdir', out, '--cond', '--resume-from', pkl, '--kimg', '0.008', '--snap', '1',
            '--batch', '4']
    assert train_keras.main(args) == 0
    nets = legacy.load_network_pkl(os.path.join(out, 'network-snapshot-000000.pkl'))
    assert nets['G'].synthesis.architecture == 'orig' and nets['D'].architecture == 'skip'
    assert nets['G'].latent_size == 8
    moved = [not np.array_equal(a, b) for a, b in zip(G.get_weights(), nets['G'].get_weights())]
    assert any(moved)
    assert train_keras.main(['--resume', out, '--kimg', '0.016', '--snap', '1']) == 0  # same architecture again
    # A pickle of another shape than the dataset is refused with one line.
    bad = Generator(16, 1, 3, name='G', **kw)
    bad.build()
    Dbad = Discriminator(16, 1, 3, fmap_base=16, fmap_max=8)
    Dbad.build()
    save_network_pkl(tmp_path / 'bad.pkl', bad, Dbad, bad)
    capsys.readouterr()
    assert train_keras.main(['--data', data_dir, '--outdir', str(tmp_path / 'x'), '--cond', '--resume-from',
                             str(tmp_path / 'bad.pkl')]) == 1
    assert 'the networks are 16x16x1 with label_size 3, the dataset 8x8x1' in capsys.readouterr().err
