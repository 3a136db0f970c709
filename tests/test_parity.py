"""Parity with NVIDIA's original TF1 code: every reference array of the fixtures, recomputed from the pickles.

Tolerances: float32 outputs, relative error ||a - b|| / ||b|| <= 1e-4. uint8 outputs equal, except values that
differ by 1 where our float output lies within 1e-4 of a rounding boundary.
"""
import numpy as np
import pytest

import sg2tf
from conftest import FIXTURES, rel_err

TOL = 1e-4


def _outputs(name):
    import json, os
    from conftest import DATA
    with open(os.path.join(DATA, f'{name}.json')) as f:
        arrays = json.load(f)['arrays']
    return [(name, key) for key, spec in arrays.items() if spec['kind'] == 'output']


CASES = [case for name in FIXTURES for case in _outputs(name)]


def _network(nets, path):
    """'Gs.components.mapping' -> nets['Gs'].components.mapping."""
    parts = path.split('.')
    net = nets[parts[0]]
    for part in parts[1:]:
        net = getattr(net, part)
    return net


def _call(nets, ref, spec):
    """Recompute one reference array the way the fixture's JSON says NVIDIA's code made it."""
    net = _network(nets, spec['network'])
    inputs = [None if name is None or (name == 'labels' and ref['labels'].shape[1] == 0) else ref[name]
              for name in spec['inputs']]
    kwargs = dict(spec['kwargs'])
    if 'output_transform' in kwargs:
        transform = dict(kwargs['output_transform'])
        assert transform.pop('func') == 'dnnlib.tflib.convert_images_to_uint8'
        kwargs['output_transform'] = dict(func=sg2tf.convert_images_to_uint8, **transform)
    if spec['method'] == 'get_output_for':  # dnnlib: symbolic call; run() with the same kwargs is equivalent
        out = net.run(*inputs, **kwargs)
        return out[spec.get('output_index', 0)]
    assert spec['method'] == 'run'
    return net.run(*inputs, **kwargs)


@pytest.mark.parametrize('fixture,key', CASES, ids=[f'{a}-{b}' for a, b in CASES])
def test_reference_array(loaded, fixture, key):
    nets, ref, calls = loaded(fixture)
    spec = calls['arrays'][key]
    out = _call(nets, ref, spec)
    expected = ref[key]
    assert out.shape == expected.shape and out.dtype == expected.dtype
    if expected.dtype == np.uint8:
        # Which float produced each byte: rerun without the transform, NHWC.
        float_spec = dict(spec, kwargs={k: v for k, v in spec['kwargs'].items() if k != 'output_transform'})
        x = np.transpose(_call(nets, ref, float_spec), [0, 2, 3, 1]).astype(np.float64) * 127.5 + 128.0
        diff = np.abs(out.astype(int) - expected.astype(int))
        near_boundary = np.abs(x - np.round(x)) <= 1e-4 * 127.5
        assert diff.max() <= 1 and np.all(near_boundary[diff == 1]), \
            f'{fixture}/{key}: {np.sum(diff > 0)} bytes differ, max {diff.max()}'
    else:
        err = rel_err(out, expected)
        assert err <= TOL, f'{fixture}/{key}: relative error {err:.2e} > {TOL}'


@pytest.mark.parametrize('fixture', FIXTURES)
def test_keras_api_matches_run(loaded, fixture):
    """The channels-last Keras API gives the same images and scores as the NCHW dnnlib-style run()."""
    nets, ref, _ = loaded(fixture)
    labels = ref['labels'] if ref['labels'].shape[1] else None
    img = nets['Gs'](ref['latents'], labels, truncation_psi=0.5, noise_mode='const').numpy()
    assert rel_err(np.transpose(img, [0, 3, 1, 2]), ref['images_psi05']) <= TOL
    scores = nets['D'](np.transpose(ref['reals'], [0, 2, 3, 1]), labels).numpy()
    assert rel_err(scores, ref['scores_reals']) <= TOL


def test_dnnlib_variable_access(loaded):
    nets, ref, _ = loaded('f32')
    Gs = nets['Gs']
    assert Gs.get_var('dlatent_avg').shape == (512,)
    noise0 = Gs.components.synthesis.get_var('noise0')
    assert noise0.shape == (1, 1, 4, 4)
    np.testing.assert_array_equal(Gs.get_var('G_synthesis/noise0'), noise0)
    np.testing.assert_array_equal(Gs.get_var('synthesis/noise0'), noise0)
    assert Gs.get_var('synthesis/4x4/Const/const').shape == (1, 32, 4, 4)  # NVIDIA's NCHW layout
    with pytest.raises(KeyError, match='no variable named'):
        Gs.get_var('nope')


def test_randomize_noise_changes_output(loaded):
    nets, ref, _ = loaded('f32')
    a = nets['Gs'].run(ref['latents'][:2], truncation_psi=1.0, randomize_noise=True)
    b = nets['Gs'].run(ref['latents'][:2], truncation_psi=1.0, randomize_noise=False)
    assert rel_err(a, b) > 1e-3  # stored buffers are not used with randomize_noise=True


def test_run_defaults_to_nvidia_truncation(loaded):
    """NVIDIA's G_main defaults to truncation_psi=0.5 when run() is not given one."""
    nets, ref, _ = loaded('f32')
    out = nets['Gs'].run(ref['latents'], randomize_noise=False)
    assert rel_err(out, ref['images_psi05']) <= TOL


def test_bad_input_shapes(loaded):
    nets, ref, _ = loaded('e16cond')
    with pytest.raises(ValueError, match=r'latents: expected shape \[N, 512\], got \[4, 511\]'):
        nets['Gs'].run(ref['latents'][:, :511], ref['labels'])
    with pytest.raises(ValueError, match=r'labels: expected shape \[4, 4\]'):
        nets['Gs'].run(ref['latents'], ref['labels'][:, :3])
    with pytest.raises(ValueError, match=r'images: expected shape'):
        nets['D'].run(ref['reals'][:, :2], ref['labels'])
