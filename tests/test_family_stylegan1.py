"""StyleGAN1 / StyleGAN2 config A (G_style, G_mapping, G_synthesis, D_basic): parity with NVIDIA's TF1 code on the
sg1_128cond fixture (128x128, so the fused up/down-scaling convolutions run), native Keras files, pickles written
back equal to NVIDIA's state dicts, a random-weight pickle of another shape, and the lod != 0 error."""
import json
import os
import warnings

import keras
import numpy as np
import pytest

import legacy
import test_parity as parity
from conftest import DATA, rel_err
from test_formats import _assert_same_state, _load_recording
from test_loader import _one_line_error, _rewrite
from sg2tf import stylegan1
from sg2tf.nvidia import stylegan1 as family
from sg2tf.nvidia.unpickler import restricted_load

FIXTURE = 'sg1_128cond'
TOL = parity.TOL


def _output_keys():
    with open(os.path.join(DATA, f'{FIXTURE}.json')) as f:
        return [k for k, spec in json.load(f)['arrays'].items() if spec['kind'] == 'output']


@pytest.mark.parametrize('key', _output_keys())
def test_reference_array(loaded, key):
    """Every reference array, recomputed from the recorded call (test_parity's dispatch and tolerances)."""
    parity.test_reference_array(loaded, FIXTURE, key)


def test_loads_as_stylegan1_networks_in_nvidia_order(loaded):
    nets, ref, calls = loaded(FIXTURE)
    assert {k: type(nets[k]) for k in ('G', 'D', 'Gs')} == {'G': stylegan1.Generator, 'D': stylegan1.Discriminator,
                                                            'Gs': stylegan1.Generator}
    original = restricted_load(os.path.join(DATA, f'{FIXTURE}.pkl'))
    for key, stub in zip(('G', 'D', 'Gs'), original):
        stored = [n for n, _ in _flat_variables(stub.state) if not (n == 'lod' or n.endswith('/lod'))]
        assert list(nets[key].vars) == stored, key  # NVIDIA's names, in NVIDIA's creation order
    Gs = nets['Gs']
    assert (Gs.num_layers, Gs.latent_size, Gs.dlatent_size, Gs.label_size) == (12, 64, 64, 3)
    assert (Gs.truncation_psi, Gs.truncation_cutoff) == (0.7, 8)  # G_style's static defaults
    assert len(Gs.synthesis.noise_buffers) == 12  # two per resolution, 4x4 included
    assert Gs.components.synthesis.get_var('noise11').shape == (1, 1, 128, 128)
    assert Gs.get_var('G_synthesis/4x4/Const/const').shape == (1, 32, 4, 4)
    assert Gs.get_var('synthesis/ToRGB_lod3/weight').shape == (1, 1, 32, 3)  # unused at lod 0, still there
    assert nets['D'].get_var('FromRGB_lod5/weight').shape == (1, 1, 3, 32)
    np.testing.assert_array_equal(Gs.get_var('dlatent_avg'), dict(original[2].state['variables'])['dlatent_avg'])
    blocks = {b.res: b for b in Gs.synthesis.blocks}
    assert blocks[128].conv0.fused and not blocks[64].conv0.fused  # fused_scale='auto': >= 128
    assert nets['D'].blocks[0].conv1.fused and not nets['D'].blocks[1].conv1.fused


def _flat_variables(state, prefix=''):
    out = [(prefix + n, v) for n, v in state['variables']]
    for key, comp in state['components'].items():
        out += _flat_variables(comp.state, f'{prefix}{key}/')
    return out


def test_truncation_is_g_styles(loaded):
    """psi applies only with a cutoff too, in the Keras call and in run(), whose defaults are psi 0.7, cutoff 8."""
    nets, ref, _ = loaded(FIXTURE)
    Gs, z, c = nets['Gs'], ref['latents'], ref['labels']
    nchw = lambda x: np.transpose(x.numpy(), [0, 3, 1, 2])  # noqa: E731
    assert rel_err(nchw(Gs(z, c, truncation_psi=0.7, truncation_cutoff=6)), ref['images_psi07_cutoff']) <= TOL
    assert rel_err(nchw(Gs(z, c, truncation_psi=0.5)), ref['images_psi1']) <= TOL  # no cutoff: no truncation
    assert rel_err(nchw(Gs(z, c, truncation_psi=0.5, truncation_cutoff=0)), ref['images_psi1']) <= TOL
    default = Gs.run(z, c, randomize_noise=False)
    np.testing.assert_array_equal(default, Gs.run(z, c, truncation_psi=0.7, truncation_cutoff=8,
                                                  randomize_noise=False))
    assert rel_err(default, ref['images_psi1']) > 1e-2  # the static default does truncate
    np.testing.assert_array_equal(Gs.run(z, c, truncation_psi=0.7, truncation_cutoff=None, randomize_noise=False),
                                  Gs.run(z, c, truncation_psi=1.0, randomize_noise=False))
    assert rel_err(Gs.run(z, c, is_validation=True, randomize_noise=False), ref['images_psi1']) <= TOL
    img, ws = Gs(z, c, truncation_psi=0.5, truncation_cutoff=12, return_dlatents=True)
    w_avg = Gs.get_var('dlatent_avg')
    assert rel_err(ws.numpy(), w_avg + (ref['dlatents'] - w_avg) * np.float32(0.5)) <= TOL


def test_noise_modes(loaded):
    nets, ref, _ = loaded(FIXTURE)
    Gs, z, c = nets['Gs'], ref['latents'][:2], ref['labels'][:2]
    const = Gs(z, c, noise_mode='const').numpy()
    buffers = [b.numpy() for b in Gs.synthesis.noise_buffers]
    np.testing.assert_array_equal(Gs(z, c, noise=buffers).numpy(), const)
    zeros = [np.zeros_like(b) for b in buffers]
    np.testing.assert_array_equal(Gs(z, c, noise_mode='none').numpy(), Gs(z, c, noise=zeros).numpy())
    assert rel_err(Gs(z, c, noise_mode='none').numpy(), const) > 1e-3
    assert rel_err(Gs(z, c, noise_mode='random').numpy(), const) > 1e-3
    with pytest.raises(ValueError, match='noise_mode'):
        Gs(z, c, noise_mode='bogus')


def _outputs(nets, ref):
    labels = ref['labels'] if ref['labels'].shape[1] else None
    out = {}
    for key in ('G', 'Gs'):
        out[key] = nets[key](ref['latents'], labels, truncation_psi=0.7, truncation_cutoff=6).numpy()
        out[key + '_w'] = nets[key].mapping(ref['latents'], labels).numpy()
    out['D'] = nets['D'](np.transpose(ref['reals'], [0, 2, 3, 1]), labels).numpy()
    return out


def _assert_same_weights(a, b):
    assert [v.path for v in a.weights] == [v.path for v in b.weights]
    for va, vb in zip(a.weights, b.weights):
        assert va.shape == vb.shape and va.trainable == vb.trainable, va.path
        np.testing.assert_array_equal(va.numpy(), vb.numpy(), err_msg=va.path)


def test_keras_and_weights_h5_round_trip(loaded, tmp_path):
    nets, ref, _ = loaded(FIXTURE)
    expected = _outputs(nets, ref)
    again_keras, again_h5 = {}, {}
    for key in ('G', 'D', 'Gs'):
        model = nets[key]
        model.save(tmp_path / f'{key}.keras')
        model.save_weights(tmp_path / f'{key}.weights.h5')
        again_keras[key] = keras.models.load_model(tmp_path / f'{key}.keras')
        fresh = type(model).from_config(model.get_config())
        fresh.build()
        fresh.load_weights(tmp_path / f'{key}.weights.h5')
        again_h5[key] = fresh
        for other in (again_keras[key], fresh):
            assert type(other) is type(model) and other.name == model.name
            assert other.get_config() == model.get_config()
            _assert_same_weights(model, other)
    for other in (again_keras, again_h5):
        got = _outputs(other, ref)
        for key in expected:
            np.testing.assert_array_equal(got[key], expected[key], err_msg=key)


def test_save_network_pkl_matches_nvidia_state(loaded, tmp_path):
    nets, ref, _ = loaded(FIXTURE)
    path = tmp_path / 'again.pkl'
    legacy.save_network_pkl(path, nets['G'], nets['D'], nets['Gs'])
    original, orig_globals, orig_proto = _load_recording(os.path.join(DATA, f'{FIXTURE}.pkl'))
    ours, our_globals, our_proto = _load_recording(path)
    assert type(ours) is tuple and len(ours) == 3 and our_proto == orig_proto == b'\x80\x04'
    assert sorted(set(our_globals)) == sorted(set(orig_globals))
    for key, a, b in zip(('G', 'D', 'Gs'), original, ours):
        assert type(b) is type(a)
        _assert_same_state(a.state, b.state, key)
    for state in (ours[0].state, ours[0].state['components']['synthesis'].state, ours[1].state):
        assert state['variables'][0][0] == 'lod' and isinstance(state['variables'][0][1], np.float32)
    again = legacy.load_network_pkl(str(path))
    got, expected = _outputs(again, ref), _outputs(nets, ref)
    for key in expected:
        np.testing.assert_array_equal(got[key], expected[key], err_msg=key)


def test_default_build_module_src_warns_and_explains(loaded, tmp_path):
    """No TF1 module of sg2tf's own: the default source stops NVIDIA's exec with instructions, and writing warns
    once; a user-supplied module (NVIDIA's networks_stylegan.py) is embedded everywhere without a warning."""
    nets, _, _ = loaded(FIXTURE)
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter('default')
        legacy.save_network_pkl(tmp_path / 'a.pkl', nets['G'], nets['D'], nets['Gs'])
    messages = [str(x.message) for x in w if 'networks_stylegan.py' in str(x.message)]
    assert len(messages) == 1 and '\n' not in messages[0], messages
    src = restricted_load(str(tmp_path / 'a.pkl'))[0].state['build_module_src']
    assert src == family.BUILD_MODULE_SRC
    with pytest.raises(ImportError, match=r"build_module_src=open\('training/networks_stylegan.py'\)"):
        exec(compile(src, 'networks_stylegan.py', 'exec'), {})
    mine = 'def G_style(*a, **k): pass\n# my copy of networks_stylegan.py\n'
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        legacy.save_network_pkl(tmp_path / 'b.pkl', nets['G'], nets['D'], nets['Gs'], build_module_src=mine)
    for net in restricted_load(str(tmp_path / 'b.pkl')):
        assert net.state['build_module_src'] == mine
        assert all(c.state['build_module_src'] == mine for c in net.state['components'].values())


def test_single_networks_round_trip(loaded, tmp_path):
    """A Gs alone and its synthesis component alone (NVIDIA build function G_synthesis) write and read back."""
    nets, ref, _ = loaded(FIXTURE)
    Gs = nets['Gs']
    legacy.save_network_pkl(tmp_path / 'gs.pkl', Gs)
    again = legacy.load_network_pkl(str(tmp_path / 'gs.pkl'))
    assert isinstance(again, stylegan1.Generator)
    np.testing.assert_array_equal(again.run(ref['latents'], ref['labels'], randomize_noise=False),
                                  Gs.run(ref['latents'], ref['labels'], randomize_noise=False))
    legacy.save_network_pkl(tmp_path / 'syn.pkl', Gs.synthesis)
    stub = restricted_load(str(tmp_path / 'syn.pkl'))
    assert stub.state['build_func_name'] == 'G_synthesis' and stub.state['name'] == 'synthesis'
    syn = legacy.load_network_pkl(str(tmp_path / 'syn.pkl'))
    assert isinstance(syn, stylegan1.SynthesisNetwork)
    np.testing.assert_array_equal(syn.run(ref['dlatents'], randomize_noise=False),
                                  Gs.synthesis.run(ref['dlatents'], randomize_noise=False))


def _randomize(model, rng):
    for v in model.weights:
        v.assign(rng.standard_normal(v.shape).astype(np.float32))


def test_random_weight_pickle_256_gray_unconditional(tmp_path):
    """Keras networks of another shape (256x256: fused up/down at 128 and 256; grayscale; unconditional; latent
    size 32; 4 mapping layers), random weights, written and read back bit for bit."""
    g_args = dict(resolution=256, num_channels=1, label_size=0, latent_size=32, dlatent_size=32,
                  mapping_kwargs={'mapping_layers': 4, 'mapping_fmaps': 48},
                  synthesis_kwargs={'fmap_base': 1024, 'fmap_max': 16})
    G, Gs = stylegan1.Generator(**g_args, name='G'), stylegan1.Generator(**g_args, name='Gs')
    D = stylegan1.Discriminator(resolution=256, num_channels=1, fmap_base=1024, fmap_max=16, name='D')
    rng = np.random.RandomState(123)
    for model in (G, D, Gs):
        model.build()
        _randomize(model, rng)
    path = tmp_path / 'random256.pkl'
    legacy.save_network_pkl(path, G, D, Gs, build_module_src='# test\n')
    states = restricted_load(str(path))
    expected_kwargs = {'num_channels': 1, 'resolution': 256, 'label_size': 0, 'latent_size': 32, 'dlatent_size': 32,
                       'fmap_base': 1024, 'fmap_max': 16, 'mapping_layers': 4, 'mapping_fmaps': 48}
    assert states[0].state['static_kwargs'] == expected_kwargs
    assert list(states[0].state['static_kwargs']) == list(expected_kwargs)
    assert states[0].state['components']['mapping'].state['static_kwargs'] == {'dlatent_broadcast': 14,
                                                                               **expected_kwargs}
    assert states[1].state['static_kwargs'] == {'num_channels': 1, 'resolution': 256, 'label_size': 0,
                                                'fmap_base': 1024, 'fmap_max': 16}
    syn = dict(states[2].state['components']['synthesis'].state['variables'])
    assert syn['noise13'].shape == (1, 1, 256, 256) and syn['256x256/Conv0_up/weight'].shape == (3, 3, 16, 8)
    assert syn['ToRGB_lod0/weight'].shape == (1, 1, 8, 1) and syn['4x4/Const/const'].shape == (1, 16, 4, 4)
    assert 'LabelConcat/weight' not in dict(states[2].state['components']['mapping'].state['variables'])
    again = legacy.load_network_pkl(str(path))
    z = rng.standard_normal([4, 32]).astype(np.float32)
    imgs = rng.uniform(-1, 1, [4, 256, 256, 1]).astype(np.float32)
    for key, model in zip(('G', 'D', 'Gs'), (G, D, Gs)):
        assert type(again[key]) is type(model) and again[key].name == key
        _assert_same_weights(model, again[key])
    for key, model in (('G', G), ('Gs', Gs)):
        np.testing.assert_array_equal(again[key](z, truncation_psi=0.7, truncation_cutoff=8).numpy(),
                                      model(z, truncation_psi=0.7, truncation_cutoff=8).numpy())
        assert np.isfinite(model(z).numpy()).all() and model(z).shape == (4, 256, 256, 1)
    np.testing.assert_array_equal(again['D'](imgs).numpy(), D(imgs).numpy())
    assert D(imgs).shape == (4, 1)


def test_lod_not_zero_is_refused(tmp_path):
    def g_lod(G, D, Gs):
        G.state['variables'][0] = ('lod', np.float32(1.5))
    _one_line_error(_rewrite(tmp_path, g_lod, FIXTURE), r'G: lod = 1.5: .*progressive growing are not supported')

    def synthesis_lod(G, D, Gs):
        Gs.state['components']['synthesis'].state['variables'][0] = ('lod', np.float32(2.0))
    _one_line_error(_rewrite(tmp_path, synthesis_lod, FIXTURE), r'synthesis/lod = 2.0')

    def d_lod(G, D, Gs):
        D.state['variables'][0] = ('lod', np.float32(0.25))
    _one_line_error(_rewrite(tmp_path, d_lod, FIXTURE), r'D: lod = 0.25')


def test_unsupported_switches_are_named(tmp_path):
    def no_styles(G, D, Gs):
        G.state['static_kwargs']['use_styles'] = False
    _one_line_error(_rewrite(tmp_path, no_styles, FIXTURE), 'not supported yet: StyleGAN1 synthesis with use_styles')


def _defaults(cls):
    """Effective constructor defaults: a subclass's own, then those it passes on to its bases' constructors."""
    import inspect
    out = {}
    for klass in reversed(cls.__mro__):
        if '__init__' in vars(klass):
            out.update({k: p.default for k, p in inspect.signature(klass.__init__).parameters.items()
                        if p.default is not inspect.Parameter.empty})
    return out


@pytest.mark.parametrize('table,classes', [
    (family.G_STYLE, (stylegan1.Generator, stylegan1.MappingNetwork, stylegan1.SynthesisNetwork)),
    (family.G_SYNTHESIS, (stylegan1.SynthesisNetwork,)), (family.G_MAPPING, (stylegan1.MappingNetwork,)),
    (family.D_BASIC, (stylegan1.Discriminator,))])
def test_nvidia_defaults_match_the_constructors(table, classes):
    """The Keras constructors' defaults are NVIDIA's, so a kwarg left out of a pickle means the same to both."""
    ctor = {}
    for cls in classes:
        ctor.update(_defaults(cls))
    for name, default in table.defaults.items():
        if name in ('use_styles', 'const_input_layer', 'use_noise'):
            continue  # switches sg2tf builds only at NVIDIA's default
        if name in ('label_size', 'resolution', 'num_channels', 'latent_size', 'dlatent_size') and name not in ctor:
            continue  # passed to every component, used by some
        got = ctor[name]
        assert (list(got) if isinstance(got, (list, tuple)) else got) == default, name
