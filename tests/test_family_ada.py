"""StyleGAN2-ADA (TF): parity with NVIDIA's stylegan2-ada outputs (fixture ada64), native Keras files, version-5
pickles written back as NVIDIA's dnnlib writes them, random networks of other shapes, the registry's dispatch."""
import io
import json
import os
import warnings

import keras
import numpy as np
import pytest

import legacy
import sg2tf
from conftest import DATA, rel_err
from test_parity import _call
from sg2tf.nvidia import registry, save_network_pkl, stylegan2_ada as family
from sg2tf.nvidia.unpickler import NetworkPickleError, NetworkStub, RestrictedUnpickler, restricted_load
from sg2tf.nvidia.writer import NvidiaPickler, network_state
from sg2tf.stylegan2_ada import (AdaDiscriminator, AdaGenerator, AdaMappingNetwork, AdaSynthesisLayer,
                                 AdaSynthesisNetwork, ClampedConv2dLayer)

TOL = 1e-4
FIXTURE = 'ada64'
STATE_KEYS_V5 = ['version', 'name', 'static_kwargs', 'components', 'build_module_src', 'build_func_name',
                 'variables', 'input_shapes', 'output_shapes', 'input_names', 'output_names']
MY_SRC = '# my copy of training/networks.py\ndef G_main(*a, **k): pass\n'


def _output_keys():
    with open(os.path.join(DATA, f'{FIXTURE}.json')) as f:
        arrays = json.load(f)['arrays']
    return [key for key, spec in arrays.items() if spec['kind'] == 'output']


# -- parity with NVIDIA ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize('key', _output_keys())
def test_reference_array(loaded, key):
    """Every reference array of ada64, recomputed by the call its JSON records (dynamic num_fp16_res=0 included)."""
    nets, ref, calls = loaded(FIXTURE)
    spec = calls['arrays'][key]
    out = _call(nets, ref, spec)
    expected = ref[key]
    assert out.shape == expected.shape and out.dtype == expected.dtype
    if expected.dtype == np.uint8:
        float_spec = dict(spec, kwargs={k: v for k, v in spec['kwargs'].items() if k != 'output_transform'})
        x = np.transpose(_call(nets, ref, float_spec), [0, 2, 3, 1]).astype(np.float64) * 127.5 + 128.0
        diff = np.abs(out.astype(int) - expected.astype(int))
        near_boundary = np.abs(x - np.round(x)) <= 1e-4 * 127.5
        assert diff.max() <= 1 and np.all(near_boundary[diff == 1]), f'{key}: {np.sum(diff > 0)} bytes differ'
    else:
        err = rel_err(out, expected)
        assert err <= TOL, f'{key}: relative error {err:.2e} > {TOL}'


def test_loaded_networks(loaded):
    nets, ref, _ = loaded(FIXTURE)
    assert [type(nets[k]) for k in ('G', 'D', 'Gs')] == [AdaGenerator, AdaDiscriminator, AdaGenerator]
    Gs, D = nets['Gs'], nets['D']
    assert isinstance(Gs.synthesis, AdaSynthesisNetwork) and isinstance(Gs.mapping, AdaMappingNetwork)
    assert Gs.synthesis.conv_clamp == 256 and Gs.synthesis.num_fp16_res == 2 and D.conv_clamp == 256
    assert D.mbstd_group_size is None and Gs.truncation_psi == 0.5
    assert [n for n in Gs.vars if '/' not in n] == ['dlatent_avg']  # no lod in ADA
    assert Gs.get_var('synthesis/4x4/Const/const').shape == (1, 32, 4, 4)
    # The Keras API equals run(); float32 unless float16 is asked for (tests/test_fp16.py).
    img = Gs(ref['latents'], None, truncation_psi=0.5, noise_mode='const').numpy()
    assert rel_err(np.transpose(img, [0, 3, 1, 2]), ref['images_psi05']) <= TOL
    np.testing.assert_array_equal(Gs.run(ref['latents'], randomize_noise=False),
                                  Gs.run(ref['latents'], randomize_noise=False, num_fp16_res=0))
    assert rel_err(Gs.run(ref['latents'], randomize_noise=False), ref['images_psi05']) <= TOL  # default psi 0.5
    scores = D(np.transpose(ref['reals'], [0, 2, 3, 1])).numpy()
    assert rel_err(scores, ref['scores_reals']) <= TOL
    # Whole-batch minibatch stddev: scoring the samples one by one gives other scores.
    assert rel_err(D.run(ref['reals'], minibatch_size=2), ref['scores_reals']) > 1e-3


# -- native Keras files ----------------------------------------------------------------------------------------------
def _outputs(nets, ref):
    out = {}
    for key in ('G', 'Gs'):
        out[key] = nets[key](ref['latents'], None, truncation_psi=0.5, noise_mode='const').numpy()
        out[key + '_w'] = nets[key].mapping(ref['latents'], None).numpy()
    out['D'] = nets['D'](np.transpose(ref['reals'], [0, 2, 3, 1]), None).numpy()
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
    for key, model in nets.items():
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


# -- version-5 pickles -----------------------------------------------------------------------------------------------
def _typed(value):
    """A value with the type of every leaf, so that 256 and 256.0 (or a tuple and a list) compare unequal."""
    if isinstance(value, dict):
        return ('dict', [(k, _typed(v)) for k, v in value.items()])
    if isinstance(value, (list, tuple)):
        return (type(value).__name__, [_typed(v) for v in value])
    return (type(value).__name__, value)


def _assert_same_state(a: dict, b: dict, where: str, same_src: bool = False):
    """Version-5 states equal key by key: keys and their order, version, names, static kwargs (order and types),
    components, variables (names, order, types, dtypes, shapes, values) and the four shape/name lists."""
    assert list(a) == list(b) == STATE_KEYS_V5, where
    for key in ('version', 'name', 'build_func_name'):
        assert a[key] == b[key] and type(a[key]) is type(b[key]), f'{where}: {key}'
    assert a['version'] == 5
    assert type(a['static_kwargs']) is type(b['static_kwargs']) is dict
    assert _typed(a['static_kwargs']) == _typed(b['static_kwargs']), where
    assert type(a['components']) is type(b['components']) is dict
    assert list(a['components']) == list(b['components']), where
    assert isinstance(b['build_module_src'], str)
    if same_src:
        assert a['build_module_src'] == b['build_module_src'], where
    assert isinstance(b['variables'], list)
    assert [n for n, _ in a['variables']] == [n for n, _ in b['variables']], where
    for (name, va), (_, vb) in zip(a['variables'], b['variables']):
        assert type(va) is type(vb), f'{where}/{name}: {type(va)} vs {type(vb)}'
        assert va.dtype == vb.dtype == np.float32 and va.shape == vb.shape, f'{where}/{name}'
        if isinstance(va, np.ndarray):
            assert vb.flags['C_CONTIGUOUS']
        np.testing.assert_array_equal(va, vb, err_msg=f'{where}/{name}')
    for key in STATE_KEYS_V5[-4:]:
        assert _typed(a[key]) == _typed(b[key]), f'{where}: {key} {a[key]} vs {b[key]}'
    for key in a['components']:
        _assert_same_state(a['components'][key].state, b['components'][key].state, f'{where}/{key}', same_src)


class _RecordingUnpickler(RestrictedUnpickler):
    def __init__(self, file, source):
        super().__init__(file, source)
        self.globals = []

    def find_class(self, module, name):
        self.globals.append((module, name))
        return super().find_class(module, name)


def _load_recording(path):
    with open(path, 'rb') as f:
        data = f.read()
    u = _RecordingUnpickler(io.BytesIO(data), str(path))
    return u.load(), u.globals, data[:2]


def test_save_network_pkl_matches_nvidia_state(loaded, tmp_path):
    nets, ref, _ = loaded(FIXTURE)
    path = tmp_path / 'again.pkl'
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('default')
        save_network_pkl(path, nets['G'], nets['D'], nets['Gs'], protocol=3)
    # Without a build module: one warning of one line for the whole snapshot (G, D, Gs and their components).
    ours = [w for w in caught if 'training/networks.py' in str(w.message)]
    assert len(ours) == 1 and '\n' not in str(ours[0].message), [str(w.message) for w in caught]
    original, orig_globals, orig_proto = _load_recording(os.path.join(DATA, f'{FIXTURE}.pkl'))
    again, our_globals, our_proto = _load_recording(path)
    assert type(again) is tuple and len(again) == 3 and our_proto == orig_proto == b'\x80\x03'
    assert sorted(set(our_globals)) == sorted(set(orig_globals))
    for key, a, b in zip(('G', 'D', 'Gs'), original, again):
        assert type(b) is type(a)
        _assert_same_state(a.state, b.state, key)
    assert again[0].state['build_module_src'] == family.BUILD_MODULE_SRC
    reloaded = legacy.load_network_pkl(str(path))
    got, expected = _outputs(reloaded, ref), _outputs(nets, ref)
    for key in expected:
        np.testing.assert_array_equal(got[key], expected[key], err_msg=key)


def test_fresh_networks_write_nvidia_kwargs(loaded):
    """Built from their Keras configs without the file's kwargs, the networks still write the fixture's static
    kwargs in the fixture's order: the tables hold ADA's defaults in train.py's order."""
    nets, _, _ = loaded(FIXTURE)
    original = restricted_load(os.path.join(DATA, f'{FIXTURE}.pkl'))
    for key, a in zip(('G', 'D', 'Gs'), original):
        cfg = {**nets[key].get_config(), 'nvidia_static_kwargs': None}
        fresh = type(nets[key]).from_config(cfg)
        fresh.build()
        for va, vb in zip(fresh.weights, nets[key].weights):
            va.assign(vb)
        _assert_same_state(a.state, network_state(fresh, key, MY_SRC).state, key)


def test_build_module_src_stub_and_embedding(loaded, tmp_path):
    """The default module stops NVIDIA's exec with an explanation; a user's module is stored everywhere."""
    with pytest.raises(ImportError, match=r"build_module_src=open\('training/networks.py'\).read\(\)"):
        exec(compile(family.BUILD_MODULE_SRC, 'networks.py', 'exec'), {})
    nets, _, _ = loaded(FIXTURE)
    with warnings.catch_warnings():
        warnings.simplefilter('error')  # no warning when the user gives the module
        save_network_pkl(tmp_path / 'src.pkl', nets['G'], nets['D'], nets['Gs'], build_module_src=MY_SRC)
    for net in restricted_load(str(tmp_path / 'src.pkl')):
        assert net.state['build_module_src'] == MY_SRC
        for comp in net.state['components'].values():
            assert comp.state['build_module_src'] == MY_SRC


# -- random networks of other shapes ---------------------------------------------------------------------------------
def expected_mapping(label_size, mapping_layers):
    names = ['LabelEmbed/weight', 'LabelEmbed/bias'] if label_size else []
    return names + [f'Dense{i}/{v}' for i in range(mapping_layers) for v in ('weight', 'bias')]


def expected_synthesis(R, arch, use_noise):
    L2 = int(np.log2(R))
    conv = ['weight', 'mod_weight', 'mod_bias'] + (['noise_strength'] if use_noise else []) + ['bias']
    torgb = ['weight', 'mod_weight', 'mod_bias', 'bias']
    names = ([f'noise{k}' for k in range(2 * L2 - 3)] if use_noise else []) + ['4x4/Const/const']
    names += [f'4x4/Conv/{v}' for v in conv] + ([f'4x4/ToRGB/{v}' for v in torgb] if arch == 'skip' else [])
    for r in range(3, L2 + 1):
        p = f'{2**r}x{2**r}'
        names += [f'{p}/Conv0_up/{v}' for v in conv] + [f'{p}/Conv1/{v}' for v in conv]
        names += [f'{p}/Skip/weight'] if arch == 'resnet' else []
        names += [f'{p}/ToRGB/{v}' for v in torgb] if arch == 'skip' or r == L2 else []
    return names


def expected_D(R, arch, label_size, mapping_layers):
    L2 = int(np.log2(R))
    names = ['LabelEmbed/weight', 'LabelEmbed/bias'] if label_size else []
    names += [f'Mapping{i}/{v}' for i in range(mapping_layers if label_size else 0) for v in ('weight', 'bias')]
    for r in range(L2, 2, -1):
        p = f'{2**r}x{2**r}'
        names += [f'{p}/FromRGB/weight', f'{p}/FromRGB/bias'] if arch == 'skip' or r == L2 else []
        names += [f'{p}/Conv0/weight', f'{p}/Conv0/bias', f'{p}/Conv1_down/weight', f'{p}/Conv1_down/bias']
        names += [f'{p}/Skip/weight'] if arch == 'resnet' else []
    names += ['4x4/FromRGB/weight', '4x4/FromRGB/bias'] if arch == 'skip' else []
    return names + ['4x4/Conv/weight', '4x4/Conv/bias', '4x4/Dense0/weight', '4x4/Dense0/bias', 'Output/weight',
                    'Output/bias']


RANDOM_CASES = {
    # conditional RGB, resnet G / skip D, label mapping in D, own widths, grouped minibatch stddev
    'cond_rgb': dict(G=dict(resolution=16, num_channels=3, label_size=5, latent_size=24, dlatent_size=20,
                            mapping_kwargs=dict(mapping_layers=3, mapping_fmaps=12, label_fmaps=7),
                            synthesis_kwargs=dict(fmap_base=128, fmap_max=16, architecture='resnet',
                                                  conv_clamp=256, num_fp16_res=4, fmap_const=6)),
                     D=dict(resolution=16, num_channels=3, label_size=5, fmap_base=128, fmap_max=16,
                            architecture='skip', mapping_layers=2, mapping_fmaps=9, mbstd_group_size=2,
                            conv_clamp=256, num_fp16_res=4)),
    # unconditional grayscale, orig G without noise / orig D without minibatch stddev, truncation defaults changed
    'gray_orig': dict(G=dict(resolution=32, num_channels=1, latent_size=16, dlatent_size=16, truncation_psi=0.7,
                             truncation_cutoff=4, style_mixing_prob=None,
                             mapping_kwargs=dict(mapping_layers=2),
                             synthesis_kwargs=dict(fmap_base=64, fmap_max=8, architecture='orig', use_noise=False)),
                      D=dict(resolution=32, num_channels=1, fmap_base=64, fmap_max=8, architecture='orig',
                             mbstd_num_features=0)),
    # conditional grayscale with the defaults of the mapping (widths = dlatent_size / latent_size) and D (nf(0))
    'cond_gray': dict(G=dict(resolution=8, num_channels=1, label_size=3, latent_size=8, dlatent_size=8,
                             mapping_kwargs=dict(mapping_layers=2),
                             synthesis_kwargs=dict(fmap_base=32, fmap_max=8, conv_clamp=0.5)),
                      D=dict(resolution=8, num_channels=1, label_size=3, fmap_base=32, fmap_max=8, conv_clamp=0.5,
                             mapping_layers=1)),
}


def _randomize(model, seed):
    rng = np.random.RandomState(seed)
    for v in model.weights:
        v.assign((rng.standard_normal(v.shape) * 0.5).astype(np.float32))


def _random_inputs(G, n=4, seed=0):
    rng = np.random.RandomState(seed)
    z = rng.standard_normal([n, G.latent_size]).astype(np.float32)
    c = np.eye(G.label_size, dtype=np.float32)[rng.randint(0, G.label_size, n)] if G.label_size else None
    img = rng.uniform(-1, 1, [n, G.resolution, G.resolution, G.num_channels]).astype(np.float32)
    return z, c, img


def _effective_config(model) -> dict:
    """A network's config with every component's, without the kwargs it was given by (a pickle may spell out
    defaults that the original constructor call left out)."""
    skip = ('nvidia_static_kwargs', 'mapping_kwargs', 'synthesis_kwargs')
    cfg = {k: v for k, v in model.get_config().items() if k not in skip}
    for part in ('mapping', 'synthesis'):
        if hasattr(model, part):
            cfg[part] = getattr(model, part).get_config()
    return cfg


@pytest.mark.parametrize('case', list(RANDOM_CASES))
def test_random_networks_round_trip(case, tmp_path):
    cfg = RANDOM_CASES[case]
    G, D = AdaGenerator(**cfg['G'], name='G'), AdaDiscriminator(**cfg['D'], name='D')
    Gs = AdaGenerator(**cfg['G'], name='Gs')
    for i, model in enumerate((G, D, Gs)):
        model.build()
        _randomize(model, 100 + i)
    syn, mapping = cfg['G']['synthesis_kwargs'], cfg['G']['mapping_kwargs']
    label_size = cfg['G'].get('label_size', 0)
    assert list(Gs.synthesis.vars) == expected_synthesis(cfg['G']['resolution'], syn.get('architecture', 'skip'),
                                                         syn.get('use_noise', True))
    assert list(Gs.mapping.vars) == expected_mapping(label_size, mapping['mapping_layers'])
    assert list(D.vars) == expected_D(cfg['D']['resolution'], cfg['D']['architecture'] if 'architecture' in
                                      cfg['D'] else 'resnet', label_size, cfg['D'].get('mapping_layers', 0))
    path = tmp_path / 'random.pkl'
    save_network_pkl(path, G, D, Gs, protocol=3, build_module_src=MY_SRC)
    written = restricted_load(str(path))
    nets = legacy.load_network_pkl(str(path))
    assert [type(nets[k]) for k in ('G', 'D', 'Gs')] == [AdaGenerator, AdaDiscriminator, AdaGenerator]
    for key, model, state in zip(('G', 'D', 'Gs'), (G, D, Gs), written):
        assert _effective_config(nets[key]) == _effective_config(model), key
        _assert_same_weights(model, nets[key])
        _assert_same_state(state.state, network_state(nets[key], key, MY_SRC).state, key, same_src=True)
    z, c, img = _random_inputs(Gs)
    for key, model in (('G', G), ('Gs', Gs)):
        for psi in (1.0, 0.6):
            np.testing.assert_array_equal(nets[key](z, c, truncation_psi=psi).numpy(),
                                          model(z, c, truncation_psi=psi).numpy())
    out = D(img, c).numpy()
    assert out.shape == (4, 1) and np.all(np.isfinite(out))
    np.testing.assert_array_equal(nets['D'](img, c).numpy(), out)
    for model, args in ((Gs, (z, c)), (D, (img, c))):  # native Keras file of a network of this shape
        model.save(tmp_path / f'{model.name}.keras')
        again = keras.models.load_model(tmp_path / f'{model.name}.keras')
        assert type(again) is type(model) and again.get_config() == model.get_config()
        np.testing.assert_array_equal(again(*args).numpy(), model(*args).numpy())
    np.testing.assert_array_equal(nets['Gs'].run(z, c, randomize_noise=False), Gs.run(z, c, randomize_noise=False))
    # run() executes a compiled graph: equal to the eager Keras call up to float32 round-off
    assert rel_err(nets['Gs'].run(z, c, randomize_noise=False),
                   np.transpose(Gs(z, c, truncation_psi=Gs.truncation_psi,
                                   truncation_cutoff=Gs.truncation_cutoff).numpy(), [0, 3, 1, 2])) <= 1e-6


def test_random_network_kwargs_and_shapes():
    """What a network written from scratch declares: only non-default kwargs (+ the dataset shape, in train.py's
    order) and the input/output shapes of its Keras call in NCHW."""
    cfg = RANDOM_CASES['cond_rgb']
    G, D = AdaGenerator(**cfg['G']), AdaDiscriminator(**cfg['D'])
    g, d = network_state(G, 'Gs', MY_SRC).state, network_state(D, 'D', MY_SRC).state
    assert list(g['static_kwargs'].items()) == [
        ('num_channels', 3), ('resolution', 16), ('label_size', 5), ('fmap_base', 128), ('fmap_max', 16),
        ('mapping_layers', 3), ('num_fp16_res', 4), ('conv_clamp', 256), ('latent_size', 24), ('dlatent_size', 20),
        ('fmap_const', 6), ('architecture', 'resnet'), ('mapping_fmaps', 12), ('label_fmaps', 7)]
    assert list(d['static_kwargs'].items()) == [
        ('num_channels', 3), ('resolution', 16), ('label_size', 5), ('mbstd_group_size', 2), ('fmap_base', 128),
        ('fmap_max', 16), ('num_fp16_res', 4), ('conv_clamp', 256), ('architecture', 'skip'),
        ('mapping_layers', 2), ('mapping_fmaps', 9)]
    # What train.py sets in every configuration is written even at NVIDIA's default.
    assert list(network_state(AdaDiscriminator(resolution=8), 'D', MY_SRC).state['static_kwargs'].items()) == [
        ('num_channels', 3), ('resolution', 8), ('label_size', 0), ('fmap_base', 16384), ('fmap_max', 512),
        ('num_fp16_res', 0), ('conv_clamp', None)]
    syn, mapping = g['components']['synthesis'].state, g['components']['mapping'].state
    assert list(g['components']) == ['synthesis', 'mapping']
    assert mapping['static_kwargs'] == {'dlatent_broadcast': 6, **g['static_kwargs']}
    assert (g['input_shapes'], g['output_shapes']) == ([[None, 24], [None, 5]], [[None, 3, 16, 16]])
    assert (g['input_names'], g['output_names']) == (['latents_in', 'labels_in'], ['images_out'])
    assert (syn['input_shapes'], syn['input_names']) == ([[None, 6, 20]], ['dlatents_in'])
    assert (mapping['output_shapes'], mapping['output_names']) == ([[None, 6, 20]], ['dlatents_out'])
    assert (d['input_shapes'], d['output_shapes']) == ([[None, 3, 16, 16], [None, 5]], [[None, 1]])
    assert (d['input_names'], d['output_names']) == (['images_in', 'labels_in'], ['scores_out'])
    assert [n for n, _ in g['variables']] == ['dlatent_avg']


def test_conv_clamp_clips_every_clamped_layer():
    rng = np.random.RandomState(0)
    x = rng.standard_normal([2, 8, 8, 4]).astype(np.float32) * 10
    w = rng.standard_normal([2, 16]).astype(np.float32)
    for clamped, free, args in ((AdaSynthesisLayer(4, 6, dlatent_size=16, conv_clamp=0.3),
                                 AdaSynthesisLayer(4, 6, dlatent_size=16), (w,)),
                                (ClampedConv2dLayer(4, 6, 3, 0.3, activation='lrelu'),
                                 ClampedConv2dLayer(4, 6, 3, None, activation='lrelu'), ())):
        clamped.build()
        free.build()
        for a, b in zip(clamped.weights, free.weights):
            a.assign(b)
        y, y_free = clamped(x, *args).numpy(), free(x, *args).numpy()
        assert np.abs(y_free).max() > 0.3 and np.abs(y).max() <= np.float32(0.3)
        np.testing.assert_array_equal(y, np.clip(y_free, -np.float32(0.3), np.float32(0.3)))


def test_freeze_layers():
    D = AdaDiscriminator(resolution=16, fmap_base=64, fmap_max=8, freeze_layers=5)
    D.build()
    frozen = {'16x16/FromRGB', '16x16/Conv0', '16x16/Conv1_down', '16x16/Skip', '8x8/Conv0'}
    for name, v in D.vars.items():
        assert D.trainables.get(name) is None if name.rsplit('/', 1)[0] in frozen else name in D.trainables, name
    again = AdaDiscriminator.from_config(D.get_config())
    again.build()
    assert list(again.trainables) == list(D.trainables)


# -- reading: warnings, errors, registry -----------------------------------------------------------------------------
def _rewrite(tmp_path, edit, fixture=FIXTURE):
    states = list(restricted_load(os.path.join(DATA, f'{fixture}.pkl')))
    edit(*states)
    path = tmp_path / 'edited.pkl'
    with open(path, 'wb') as f:
        NvidiaPickler(f, protocol=3).dump(tuple(states))
    return str(path)


def test_unknown_static_kwargs_warn_naming_them(tmp_path):
    def edit(G, D, Gs):
        Gs.state['static_kwargs']['bogus_g_option'] = 1
        D.state['static_kwargs']['bogus_d_option'] = 2
        D.state['static_kwargs']['use_spectral_norm'] = False  # a comparison method at its default: silent
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always')
        nets = legacy.load_network_pkl(_rewrite(tmp_path, edit))
    messages = [str(w.message) for w in caught if 'ignoring static kwargs' in str(w.message)]
    assert len(messages) == 2, messages
    assert any('Gs' in m and 'bogus_g_option' in m for m in messages)
    assert any(': D:' in m and 'bogus_d_option' in m and 'use_spectral_norm' not in m for m in messages)
    assert nets['Gs'].nvidia_static_kwargs['bogus_g_option'] == 1  # kept, and written back
    assert network_state(nets['Gs'], 'Gs', MY_SRC).state['static_kwargs']['bogus_g_option'] == 1


def test_comparison_methods_are_refused(tmp_path):
    def edit(G, D, Gs):
        D.state['static_kwargs']['use_spectral_norm'] = True
    with pytest.raises(NetworkPickleError, match=r"not supported yet: StyleGAN2-ADA \(TF\) discriminator 'D' with "
                                                 r"use_spectral_norm=True") as e:
        legacy.load_network_pkl(_rewrite(tmp_path, edit))
    assert '\n' not in str(e.value)


def test_mixed_families_load_and_write_per_network(tmp_path, loaded):
    """An ADA G/Gs with a StyleGAN2 D (version 4) in one pickle: each network by its own build function."""
    ada = restricted_load(os.path.join(DATA, f'{FIXTURE}.pkl'))
    sg2 = restricted_load(os.path.join(DATA, 'f32.pkl'))
    path = tmp_path / 'mixed.pkl'
    with open(path, 'wb') as f:
        NvidiaPickler(f, protocol=3).dump((ada[0], sg2[1], ada[2]))
    nets = legacy.load_network_pkl(str(path))
    assert [type(nets[k]) for k in ('G', 'D', 'Gs')] == [AdaGenerator, sg2tf.Discriminator, AdaGenerator]
    ada_nets, ada_ref, _ = loaded(FIXTURE)
    np.testing.assert_array_equal(nets['Gs'].run(ada_ref['latents'], randomize_noise=False),
                                  ada_nets['Gs'].run(ada_ref['latents'], randomize_noise=False))
    out = tmp_path / 'mixed_again.pkl'
    save_network_pkl(out, nets['G'], nets['D'], nets['Gs'], build_module_src=MY_SRC)
    again = restricted_load(str(out))
    assert [s.state['version'] for s in again] == [5, 4, 5]
    assert list(again[1].state) == STATE_KEYS_V5[:7]
    _assert_same_state(ada[2].state, again[2].state, 'Gs')


@pytest.mark.parametrize('func,version,synthesis,what', [
    ('G_main', 5, 'G_synthesis', None), ('D_main', 5, None, None), ('G_synthesis', 5, None, None),
    ('G_mapping', 5, None, None),
    ('D_stylegan2', 5, None, 'not supported yet: a StyleGAN2-ADA'),
    ('G_main', 5, 'G_synthesis_stylegan2', 'not supported yet: a StyleGAN2-ADA'),
    ('D_main', 4, None, 'not supported yet')])
def test_registry_dispatch(func, version, synthesis, what):
    comps = {'synthesis': NetworkStub({'version': version, 'build_func_name': synthesis})} if synthesis else {}
    state = {'version': version, 'name': 'X', 'build_func_name': func, 'components': comps}
    if what is None:
        read = registry.tf1_reader(state, 'x.pkl')
        assert read in [r for _, _, _, r in family.TF1_READERS]
    else:
        with pytest.raises(NetworkPickleError, match=what):
            registry.tf1_reader(state, 'x.pkl')


def test_every_ada_class_has_its_writer():
    for cls in (AdaGenerator, AdaDiscriminator, AdaSynthesisNetwork, AdaMappingNetwork):
        assert registry.writer(cls.__new__(cls)) is family.WRITERS[cls]


def test_single_component_networks_round_trip(loaded, tmp_path):
    nets, ref, _ = loaded(FIXTURE)
    for part in ('synthesis', 'mapping'):
        path = tmp_path / f'{part}.pkl'
        save_network_pkl(path, getattr(nets['Gs'], part), build_module_src=MY_SRC)
        state = restricted_load(str(path)).state
        assert state['version'] == 5 and list(state) == STATE_KEYS_V5
        again = legacy.load_network_pkl(str(path))
        assert type(again) is type(getattr(nets['Gs'], part))
    w = nets['Gs'].mapping(ref['latents'], None)
    np.testing.assert_array_equal(again(ref['latents'], None).numpy(), w.numpy())


def _defaults(cls):
    import inspect
    return {k: p.default for k, p in inspect.signature(cls.__init__).parameters.items()
            if p.default is not inspect.Parameter.empty}


@pytest.mark.parametrize('table,classes', [
    (family.G_MAIN, (AdaGenerator, AdaMappingNetwork, AdaSynthesisNetwork)),
    (family.G_SYNTHESIS, (AdaSynthesisNetwork,)),
    (family.G_MAPPING, (AdaMappingNetwork,)),
    (family.D_MAIN, (AdaDiscriminator,))])
def test_nvidia_defaults_match_the_constructors(table, classes):
    ctor = {}
    for cls in classes:
        ctor.update(_defaults(cls))
    for name, default in table.defaults.items():
        if name in ('label_size', 'resolution', 'num_channels', 'latent_size', 'dlatent_size') and name not in ctor:
            continue
        got = ctor[name]
        assert (list(got) if isinstance(got, (list, tuple)) else got) == default, name


def test_pickle_protocol_default_and_scalars(loaded, tmp_path):
    """Rank-0 noise strengths are written as NumPy float32 scalars, as NVIDIA's dnnlib does."""
    nets, _, _ = loaded(FIXTURE)
    save_network_pkl(tmp_path / 'p4.pkl', nets['G'], nets['D'], nets['Gs'], build_module_src=MY_SRC)
    with open(tmp_path / 'p4.pkl', 'rb') as f:
        assert f.read(2) == b'\x80\x04'
    syn = restricted_load(str(tmp_path / 'p4.pkl'))[2].state['components']['synthesis'].state
    strengths = [v for n, v in syn['variables'] if n.endswith('noise_strength')]
    assert len(strengths) == 9 and all(type(v) is np.float32 for v in strengths)
