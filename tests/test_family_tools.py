"""Every family through the commands: sg2tf-generate, sg2tf-convert (.keras, NVIDIA pickle),
sg2tf-export-savedmodel (stock ops only) and sg2tf-train --resume-from (fine-tuning an ADA snapshot)."""
import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

import legacy
import sg2tf
from sg2tf.cli import convert, export_savedmodel, generate
from sg2tf.cli import train as train_cli
from conftest import DATA, rel_err

HERE = os.path.dirname(os.path.abspath(__file__))
# One fixture per family: configs B-D, StyleGAN1, ADA-TF, stylegan2-ada-pytorch.
FAMILY_PICKLES = ('revised32', 'sg1_128cond', 'ada64', 'adapt32cond')


def _gs(name):
    nets = legacy.load_network_pkl(os.path.join(DATA, f'{name}.pkl'))
    return nets, nets['Gs']


@pytest.mark.parametrize('name', FAMILY_PICKLES)
def test_generate_every_family(tmp_path, name):
    """The PNG is NVIDIA's run_generator image: z = RandomState(seed).randn(1, z_dim), stored noise, psi 0.7."""
    _, Gs = _gs(name)
    argv = ['--network', os.path.join(DATA, f'{name}.pkl'), '--seeds', '3', '--trunc', '0.7', '--trunc-cutoff', '4',
            '--outdir', str(tmp_path)]
    if Gs.label_size:
        argv += ['--class', '1']
    assert generate.main(argv) == 0
    img = np.asarray(Image.open(tmp_path / 'seed0003.png'))
    z = np.random.RandomState(3).randn(1, Gs.latent_size).astype(np.float32)
    c = np.eye(Gs.label_size, dtype=np.float32)[[1]] if Gs.label_size else None
    x = Gs(z, c, truncation_psi=0.7, truncation_cutoff=4, noise_mode='const').numpy()[0]
    expected = sg2tf.convert_images_to_uint8(x)
    got = img if img.ndim == 3 else img[:, :, None]
    diff = np.abs(got.astype(int) - expected.astype(int))
    near = np.abs(x * 127.5 + 128 - np.round(x * 127.5 + 128)) <= 1e-4 * 127.5  # graph vs eager round-off
    assert got.shape == expected.shape and diff.max() <= 1 and np.all(near[diff == 1])


@pytest.mark.parametrize('name', ('sg1_128cond', 'adapt32cond'))
def test_convert_every_family(tmp_path, name):
    """A snapshot -> .keras (the generator) and -> an NVIDIA pickle in the family's own format, same outputs."""
    nets, Gs = _gs(name)
    src = os.path.join(DATA, f'{name}.pkl')
    assert convert.main(['--in', src, '--out', str(tmp_path / 'Gs.keras')]) == 0
    assert convert.main(['--in', src, '--out', str(tmp_path / 'snap.pkl')]) == 0
    z = np.random.RandomState(0).randn(2, Gs.latent_size).astype(np.float32)
    c = np.eye(max(Gs.label_size, 1), dtype=np.float32)[[0, 1]][:, :Gs.label_size]
    want = Gs(z, c, truncation_psi=1.0, noise_mode='const').numpy()
    import keras
    again = keras.models.load_model(tmp_path / 'Gs.keras')
    np.testing.assert_array_equal(again(z, c, truncation_psi=1.0, noise_mode='const').numpy(), want)
    pkl = legacy.load_network_pkl(str(tmp_path / 'snap.pkl'))
    assert type(pkl['Gs']) is type(Gs) and type(pkl['D']) is type(nets['D'])
    np.testing.assert_array_equal(pkl['Gs'](z, c, truncation_psi=1.0, noise_mode='const').numpy(), want)


def test_export_savedmodel_of_a_pytorch_snapshot(tmp_path):
    """The export of an ADA-PT snapshot passes the stock-op check and serves the same images."""
    _, Gs = _gs('adapt32cond')
    out = tmp_path / 'model'
    assert export_savedmodel.main(['--network', os.path.join(DATA, 'adapt32cond.pkl'), '--out', str(out)]) == 0
    z = np.random.RandomState(0).randn(2, Gs.latent_size).astype(np.float32)
    c = np.eye(Gs.label_size, dtype=np.float32)[[0, 2]]
    np.savez(tmp_path / 'in.npz', z=z, labels=c, psi=np.float32(0.5), w=np.zeros([2, Gs.num_layers, Gs.dlatent_size],
                                                                                 np.float32))
    res = subprocess.run([sys.executable, '-I', os.path.join(HERE, 'savedmodel_runner.py'), str(out / '1'),
                          str(tmp_path / 'in.npz'), str(tmp_path / 'out.npz')], capture_output=True, text=True,
                         env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL='3'))
    assert res.returncode == 0, res.stderr[-3000:]
    got = dict(np.load(tmp_path / 'out.npz'))
    assert not got['sg2tf_imported']
    img, ws = Gs(z, c, truncation_psi=0.5, noise_mode='const', return_dlatents=True)
    assert rel_err(got['mapping'], ws.numpy()) <= 1e-5
    assert rel_err(got['chained'], img.numpy()) <= 1e-5
    assert got['serving_default'].dtype == np.uint8 and got['serving_default'].shape == (2, 32, 32, 3)


@pytest.mark.parametrize('name,label_size,classes', [
    ('adapt32cond', 3, (sg2tf.AdaGenerator, sg2tf.AdaDiscriminator)),
    ('revised32', 0, (sg2tf.RevisedGenerator, sg2tf.RevisedDiscriminator))])
def test_resume_from_fine_tunes(tmp_path, capsys, name, label_size, classes):
    """--resume-from an ADA-PT snapshot / a config B-D pickle: architecture and weights from it, snapshots in the
    family's NVIDIA format."""
    from test_training_loop import make_dataset
    data = make_dataset(tmp_path / 'data', n=8, res=32, channels=3, label_size=max(label_size, 1))
    out = str(tmp_path / 'run')
    args = ['--data', data, '--outdir', out, '--resume-from', os.path.join(DATA, f'{name}.pkl'),
            '--kimg', '0.004', '--snap', '1', '--cfg', 'small', '--batch', '4', '--no-jit']
    assert train_cli.main(args + (['--cond'] if label_size else [])) == 0, capsys.readouterr().err
    snaps = sorted(f for f in os.listdir(out) if f.startswith('network-snapshot-'))
    nets = legacy.load_network_pkl(os.path.join(out, snaps[-1]))
    assert isinstance(nets['G'], classes[0]) and isinstance(nets['D'], classes[1])
    before = legacy.load_network_pkl(os.path.join(DATA, f'{name}.pkl'))['G']
    assert not np.array_equal(nets['G'].get_var('mapping/Dense0/weight'), before.get_var('mapping/Dense0/weight'))


def test_resume_from_stylegan1_says_not_supported(tmp_path, capsys):
    from test_training_loop import make_dataset
    data = make_dataset(tmp_path / 'data', n=4, res=128, channels=3, label_size=3)
    args = ['--data', data, '--outdir', str(tmp_path / 'run'), '--cond', '--resume-from',
            os.path.join(DATA, 'sg1_128cond.pkl'), '--kimg', '0.004', '--cfg', 'small', '--batch', '4']
    assert train_cli.main(args) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith('error: ') and '\n' not in err and 'not supported yet' in err, err


def test_generate_uses_the_source_tools_default_psi(tmp_path):
    """Without --trunc: NVIDIA's run_generator.py default 0.5 for TF pickles, stylegan2-ada-pytorch's
    generate.py default 1 (no truncation) for its snapshots."""
    for name, psi in (('ada64', 0.5), ('adapt32cond', 1.0)):
        _, Gs = _gs(name)
        argv = ['--network', os.path.join(DATA, f'{name}.pkl'), '--seeds', '5', '--outdir', str(tmp_path / name)]
        assert generate.main(argv + (['--class', '0'] if Gs.label_size else [])) == 0
        z = np.random.RandomState(5).randn(1, Gs.latent_size).astype(np.float32)
        c = np.eye(Gs.label_size, dtype=np.float32)[[0]] if Gs.label_size else None
        x = Gs(z, c, truncation_psi=psi, noise_mode='const').numpy()[0]
        img = np.asarray(Image.open(tmp_path / name / 'seed0005.png'))
        diff = np.abs(img.astype(int) - sg2tf.convert_images_to_uint8(x).astype(int))
        assert diff.max() <= 1 and diff.mean() < 0.01, (name, diff.max(), diff.mean())
