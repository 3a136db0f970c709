"""Every G/D architecture pair and other static kwargs load and run with no code change.

The fixtures cover skip G + resnet D against NVIDIA's outputs; here the other pairs are checked against the
variable naming rules of SPEC 2.2/2.3 and round-tripped through NVIDIA's pickle format.
"""
import itertools

import numpy as np
import pytest

import legacy
from sg2tf.nvidia.unpickler import restricted_load
from tools import make_random_pkl

ARCHS = ('orig', 'skip', 'resnet')


def expected_G_synthesis(R, arch):
    L2 = int(np.log2(R))
    names = [f'noise{k}' for k in range(2 * L2 - 3)] + ['4x4/Const/const'] + \
        [f'4x4/Conv/{v}' for v in ('weight', 'mod_weight', 'mod_bias', 'noise_strength', 'bias')]
    torgb = ['weight', 'mod_weight', 'mod_bias', 'bias']
    if arch == 'skip':
        names += [f'4x4/ToRGB/{v}' for v in torgb]
    for r in range(3, L2 + 1):
        p = f'{2**r}x{2**r}'
        for conv in ('Conv0_up', 'Conv1'):
            names += [f'{p}/{conv}/{v}' for v in ('weight', 'mod_weight', 'mod_bias', 'noise_strength', 'bias')]
        if arch == 'resnet':
            names.append(f'{p}/Skip/weight')
        if arch == 'skip' or r == L2:
            names += [f'{p}/ToRGB/{v}' for v in torgb]
    return names


def expected_D(R, arch):
    L2 = int(np.log2(R))
    names = []
    for r in range(L2, 2, -1):
        p = f'{2**r}x{2**r}'
        if arch == 'skip' or r == L2:
            names += [f'{p}/FromRGB/weight', f'{p}/FromRGB/bias']
        names += [f'{p}/Conv0/weight', f'{p}/Conv0/bias', f'{p}/Conv1_down/weight', f'{p}/Conv1_down/bias']
        if arch == 'resnet':
            names.append(f'{p}/Skip/weight')
    if arch == 'skip':
        names += ['4x4/FromRGB/weight', '4x4/FromRGB/bias']
    return names + ['4x4/Conv/weight', '4x4/Conv/bias', '4x4/Dense0/weight', '4x4/Dense0/bias',
                    'Output/weight', 'Output/bias']


@pytest.mark.parametrize('g_arch,d_arch', list(itertools.product(ARCHS, ARCHS)))
def test_architecture_pairs(tmp_path, g_arch, d_arch):
    path = str(tmp_path / 'net.pkl')
    assert make_random_pkl.main(['--out', path, '--config', 'e', '--resolution', '8', '--label-size', '2',
                                 '--g-arch', g_arch, '--d-arch', d_arch]) == 0
    G, D, Gs = restricted_load(path)
    syn = [n for n, _ in Gs.state['components']['synthesis'].state['variables']]
    assert syn == expected_G_synthesis(8, g_arch)
    assert [n for n, _ in D.state['variables']] == expected_D(8, d_arch)
    nets = legacy.load_network_pkl(path)
    z = np.random.RandomState(0).randn(4, 512).astype(np.float32)
    c = np.eye(2, dtype=np.float32)[[0, 1, 1, 0]]
    img = nets['Gs'].run(z, c, truncation_psi=0.7, randomize_noise=False)
    assert img.shape == (4, 3, 8, 8) and np.all(np.isfinite(img))
    scores = nets['D'].run(img, c)
    assert scores.shape == (4, 1) and np.all(np.isfinite(scores))


def test_other_sizes(tmp_path):
    """Non-default latent sizes, channel count, fmap settings and resolution, via a pickle in NVIDIA format."""
    from sg2tf.nvidia import save_network_pkl
    from sg2tf import Discriminator, Generator
    kw = dict(num_channels=1, resolution=64, label_size=0)
    G = Generator(64, 1, 0, latent_size=96, dlatent_size=80,
                  mapping_kwargs=dict(mapping_layers=3, mapping_fmaps=48),
                  synthesis_kwargs=dict(fmap_base=256, fmap_max=24, fmap_min=8, architecture='resnet'), name='G')
    D = Discriminator(**kw, fmap_base=256, fmap_max=24, fmap_min=8, architecture='skip', mbstd_group_size=2,
                      mbstd_num_features=2)
    for net in (G, D):
        net.build()
    save_network_pkl(tmp_path / 'x.pkl', G, D, G)
    nets = legacy.load_network_pkl(str(tmp_path / 'x.pkl'))
    z = np.random.RandomState(1).randn(4, 96).astype(np.float32)
    np.testing.assert_allclose(nets['Gs'].run(z, randomize_noise=False), G.run(z, randomize_noise=False),
                               rtol=0, atol=0)
    assert nets['Gs'].get_var('G_mapping/Dense0/weight').shape == (96, 48)
    assert nets['Gs'].get_var('G_mapping/Dense2/weight').shape == (48, 80)
    assert nets['D'].get_var('4x4/Conv/weight').shape == (3, 3, 24 + 2, 24)  # nf(1) = min(256/2, 24) + 2 mbstd features
    assert nets['D'].get_var('64x64/FromRGB/weight').shape == (1, 1, 1, 8)  # nf(5) = max(256/32, fmap_min 8)
    assert nets['D'].run(np.zeros([4, 1, 64, 64], np.float32)).shape == (4, 1)
