"""sg2tf-generate (sg2tf/cli/generate.py) on the network shipped with sg2tf."""
import os

import numpy as np
from PIL import Image

import legacy
from sg2tf.cli import generate
from conftest import DATA


def test_generate_shipped_network(tmp_path, capsys):
    assert generate.main(['--seeds', '0-2', '--trunc', '0.7', '--outdir', str(tmp_path), '--grid']) == 0
    files = sorted(os.listdir(tmp_path))
    assert files == ['grid.png', 'seed0000.png', 'seed0001.png', 'seed0002.png']
    img = np.asarray(Image.open(tmp_path / 'seed0001.png'))
    assert img.shape == (32, 32) and img.dtype == np.uint8  # the shipped digits network: one channel
    # Same as NVIDIA's run_generator: z = RandomState(seed).randn(1, z_dim), Gs with psi 0.7, stored noise.
    Gs = legacy.load_network_pkl(generate.DEFAULT_NETWORK)['Gs']
    import sg2tf
    z = np.random.RandomState(1).randn(1, Gs.latent_size).astype(np.float32)
    expected = Gs.run(z, truncation_psi=0.7, randomize_noise=False,
                      output_transform=dict(func=sg2tf.convert_images_to_uint8, nchw_to_nhwc=True))[0]
    np.testing.assert_array_equal(img, expected[:, :, 0])
    assert np.asarray(Image.open(tmp_path / 'grid.png')).shape == (64, 64)


def test_shipped_network_makes_digits():
    """The shipped network was trained on sklearn's digits (README): its fakes are close to real digits."""
    pytest = __import__('pytest')
    pytest.importorskip('sklearn', reason='scikit-learn not installed: the digit metric needs it')
    from sg2tf.training.dataset import sklearn_digits
    from tools.eval_digits import digit_scores, generator_images
    G = generate.load_generator(generate.DEFAULT_NETWORK)
    reals, _ = sklearn_digits(32)
    s = digit_scores(generator_images(G, 200), reals)
    # README: at 100 kimg nn_distance 0.113 (real vs real 0.116), confidence 0.769; at initialisation 0.394.
    assert s['nn_distance'] < 0.14 and s['confidence'] > 0.7, s


def test_generate_seed_noise_mode_differs_from_const(tmp_path):
    assert generate.main(['--seeds', '3', '--noise-mode', 'seed', '--outdir', str(tmp_path / 'a')]) == 0
    assert generate.main(['--seeds', '3', '--noise-mode', 'const', '--outdir', str(tmp_path / 'b')]) == 0
    a = np.asarray(Image.open(tmp_path / 'a' / 'seed0003.png'))
    b = np.asarray(Image.open(tmp_path / 'b' / 'seed0003.png'))
    assert not np.array_equal(a, b)


def test_generate_conditional_needs_class(tmp_path, capsys):
    net = os.path.join(DATA, 'e16cond.pkl')
    assert generate.main(['--network', net, '--seeds', '0', '--outdir', str(tmp_path)]) == 1
    assert 'pass --class 0..3' in capsys.readouterr().err
    assert generate.main(['--network', net, '--seeds', '0', '--class', '2', '--outdir', str(tmp_path)]) == 0
    assert os.listdir(tmp_path) == ['seed0000.png']


def test_generate_bad_network_one_line_error(tmp_path, capsys):
    bad = tmp_path / 'bad.pkl'
    bad.write_bytes(b'not a pickle')
    assert generate.main(['--network', str(bad), '--outdir', str(tmp_path / 'out')]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith('error: ') and '\n' not in err
    assert not os.path.exists(tmp_path / 'out')
