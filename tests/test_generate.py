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
    # README (benchmarks/results/digits_eval.txt, 500 fakes): nn_distance 0.113 (real vs real 0.116), confidence 0.769.
    assert s['nn_distance'] < 0.14 and s['confidence'] > 0.7, s


def _run_generator_images(pkl, seeds, psi):
    """What NVIDIA's run_generator.py generate-images computes, step by step through the dnnlib API: per seed
    rnd = RandomState(seed); z = rnd.randn(1, z_dim); then every synthesis variable whose name starts with
    'noise', in `Gs.components.synthesis.vars` order, overwritten with rnd.randn(*its NCHW shape) (tflib.set_vars
    casts the float64 draws to the variable's float32); Gs.run(z, None, truncation_psi=psi,
    randomize_noise=False, output_transform=convert_images_to_uint8 with nchw_to_nhwc)."""
    import sg2tf
    Gs = legacy.load_network_pkl(pkl)['Gs']
    synthesis = Gs.components.synthesis
    noise_names = [name for name in synthesis.vars if name.startswith('noise')]
    # NVIDIA's order and shapes: noise0 (4x4), then two per resolution 8x8 ... RxR, each [1, 1, H, W].
    assert noise_names == [f'noise{i}' for i in range(len(noise_names))] and len(noise_names) == Gs.num_layers - 1
    for i, name in enumerate(noise_names):
        res = 2 ** ((i + 1) // 2 + 2)
        assert synthesis.get_var(name).shape == (1, 1, res, res), name
    out = {}
    for seed in seeds:
        rnd = np.random.RandomState(seed)
        z = rnd.randn(1, Gs.latent_size)  # float64, fed as float32
        for name in noise_names:
            synthesis.set_var(name, rnd.randn(*synthesis.get_var(name).shape).astype(np.float32))
        u8 = Gs.run(z, None, truncation_psi=psi, randomize_noise=False,
                    output_transform=dict(func=sg2tf.convert_images_to_uint8, nchw_to_nhwc=True))[0]
        x = np.transpose(Gs.run(z, None, truncation_psi=psi, randomize_noise=False)[0], [1, 2, 0])
        out[seed] = u8, x.astype(np.float64) * 127.5 + 128.0  # the byte and the value it was cut from
    return out


def test_generate_seed_noise_mode_is_run_generator(tmp_path):
    """--noise-mode seed writes the images NVIDIA's run_generator.py generate-images computes (seed-drawn z and
    noise buffers, truncation on all layers): byte for byte, except where the float output lies within 1e-4 of a
    uint8 rounding boundary (tests/test_parity.py's rule; generate runs a tf.function graph, Gs.run eagerly)."""
    seeds, psi = [0, 3, 17], 0.5
    assert generate.main(['--seeds', ','.join(map(str, seeds)), '--trunc', str(psi), '--noise-mode', 'seed',
                          '--outdir', str(tmp_path / 'a')]) == 0
    assert generate.main(['--seeds', '3', '--trunc', str(psi), '--noise-mode', 'const',
                          '--outdir', str(tmp_path / 'b')]) == 0
    expected = _run_generator_images(generate.DEFAULT_NETWORK, seeds, psi)
    for seed in seeds:
        got = np.asarray(Image.open(tmp_path / 'a' / f'seed{seed:04d}.png'))
        want, x = expected[seed][0][:, :, 0], expected[seed][1][:, :, 0]
        diff = np.abs(got.astype(int) - want.astype(int))
        near_boundary = np.abs(x - np.round(x)) <= 1e-4 * 127.5
        assert got.shape == want.shape and diff.max() <= 1 and np.all(near_boundary[diff == 1]), \
            f'seed {seed}: {np.sum(diff > 0)} bytes differ, max {diff.max()}'
    # The stored buffers (const) give another image: the seed mode does change the noise.
    assert not np.array_equal(np.asarray(Image.open(tmp_path / 'b' / 'seed0003.png')),
                              np.asarray(Image.open(tmp_path / 'a' / 'seed0003.png')))


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
