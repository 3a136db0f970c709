"""StyleGAN2 configs B-D (G_main + G_synthesis_stylegan_revised, D_stylegan), fully grown: parity with NVIDIA's
revised32 fixture, the networks holding every ToRGB_lod* / FromRGB_lod* variable, native Keras files, pickles
written back equal to NVIDIA's state dicts, other sizes round-tripped bit for bit, and lod != 0 refused."""
import inspect
import json
import os

import keras
import numpy as np
import pytest

import legacy
import sg2tf
import test_formats
import test_parity
from conftest import DATA, rel_err
from sg2tf.nvidia import names, registry, stylegan2_revised as family
from sg2tf.nvidia.unpickler import NetworkPickleError, restricted_load
from sg2tf.nvidia.writer import NvidiaPickler, network_state
from sg2tf.stylegan2_revised import RevisedDiscriminator, RevisedGenerator, RevisedSynthesisNetwork

FIXTURE = 'revised32'
PKL = os.path.join(DATA, f'{FIXTURE}.pkl')


def _output_keys():
    with open(os.path.join(DATA, f'{FIXTURE}.json')) as f:
        return [k for k, spec in json.load(f)['arrays'].items() if spec['kind'] == 'output']


@pytest.mark.parametrize('key', _output_keys())
def test_reference_array(loaded, key):
    """Every reference array, recomputed from the call in the JSON (test_parity's dispatch and tolerances)."""
    test_parity.test_reference_array(loaded, FIXTURE, key)


def test_keras_api_matches_run(loaded):
    test_parity.test_keras_api_matches_run(loaded, FIXTURE)


def test_networks_hold_every_variable_in_nvidia_order(loaded):
    """All ToRGB_lod* / FromRGB_lod* (unused at lod 0) are held, with the pickle's values, in creation order."""
    nets, _, _ = loaded(FIXTURE)
    states = dict(zip(('G', 'D', 'Gs'), restricted_load(PKL)))
    for key in ('G', 'Gs'):
        assert type(nets[key]) is RevisedGenerator
        assert type(nets[key].components.synthesis) is RevisedSynthesisNetwork
        assert type(nets[key].components.mapping) is sg2tf.MappingNetwork
    assert type(nets['D']) is RevisedDiscriminator
    for key, stub in states.items():
        expected = [(n, v) for n, v in stub.state['variables'] if n != 'lod']
        for comp, sub in stub.state['components'].items():
            expected += [(f'{comp}/{n}', v) for n, v in sub.state['variables'] if n != 'lod']
        ours = names.nvidia_variables(nets[key])
        assert sorted(ours) == sorted(n for n, _ in expected), key
        for name, value in expected:
            np.testing.assert_array_equal(nets[key].get_var(name), value, err_msg=f'{key}/{name}')
    syn = states['Gs'].state['components']['synthesis'].state['variables']
    assert [n for n, _ in syn][0] == 'lod'
    assert [n for n, _ in syn][1:] == [n[len('synthesis/'):] for n in names.nvidia_variables(nets['Gs'])
                                       if n.startswith('synthesis/')]
    assert [n for n, _ in states['D'].state['variables']][1:] == list(names.nvidia_variables(nets['D']))
    Gs = nets['Gs']
    assert Gs.get_var('G_synthesis/ToRGB_lod2/weight').shape == (1, 1, 32, 3)
    assert Gs.components.synthesis.get_var('noise0').shape == (1, 1, 4, 4)  # NVIDIA's NCHW layout
    assert Gs.get_var('synthesis/4x4/Const/const').shape == (1, 32, 4, 4)
    assert nets['D'].get_var('FromRGB_lod3/weight').shape == (1, 1, 3, 32)


def test_lod0_equals_config_e_orig(loaded):
    """At lod 0 the networks are config E's `orig` G and D with ToRGB_lod0 / FromRGB_lod0 renamed (as
    stylegan2-ada-pytorch's legacy.py does): copying the weights over gives the same outputs."""
    nets, ref, _ = loaded(FIXTURE)
    Gs, D = nets['Gs'], nets['D']
    cfg = Gs.get_config()
    orig_g = sg2tf.Generator(**{**cfg, 'synthesis_kwargs': {**cfg['synthesis_kwargs'], 'architecture': 'orig'}})
    orig_d = sg2tf.Discriminator(**D.get_config(), architecture='orig')
    for ours, orig in ((Gs, orig_g), (D, orig_d)):
        table = names.nvidia_variables(ours)
        for name, var in names.nvidia_variables(orig).items():
            src = name.replace('32x32/ToRGB/', 'ToRGB_lod0/').replace('32x32/FromRGB/', 'FromRGB_lod0/')
            var.assign(table[src].numpy())
    np.testing.assert_allclose(orig_g(ref['latents'], truncation_psi=0.5).numpy(),
                               Gs(ref['latents'], truncation_psi=0.5).numpy(), rtol=0, atol=1e-6)
    reals = np.transpose(ref['reals'], [0, 2, 3, 1])
    np.testing.assert_allclose(orig_d(reals).numpy(), D(reals).numpy(), rtol=0, atol=1e-6)


def test_keras_and_weights_h5_round_trip(loaded, tmp_path):
    test_formats.test_keras_and_weights_h5_round_trip(loaded, FIXTURE, tmp_path)


def test_save_network_pkl_matches_nvidia_state(loaded, tmp_path):
    """(G, D, Gs) written back: NVIDIA's state dicts variable by variable (`lod` a NumPy float32 0 wherever
    NVIDIA has one), static kwargs and their order, components, globals and protocol."""
    test_formats.test_save_network_pkl_matches_nvidia_state(loaded, FIXTURE, tmp_path)
    nets, _, _ = loaded(FIXTURE)
    legacy.save_network_pkl(tmp_path / 'again.pkl', nets['G'], nets['D'], nets['Gs'])
    G, D, Gs = restricted_load(str(tmp_path / 'again.pkl'))
    for state in (G.state, Gs.state, G.state['components']['synthesis'].state, D.state):
        name, value = state['variables'][0]
        assert name == 'lod' and type(value) is np.float32 and value == 0
    assert 'synthesis_func' not in G.state['components']['synthesis'].state['static_kwargs']
    assert G.state['static_kwargs']['synthesis_func'] == 'G_synthesis_stylegan_revised'


def test_single_synthesis_network_round_trip(loaded, tmp_path):
    """The synthesis component alone: NVIDIA's variables (lod first), read back by the revised reader."""
    nets, ref, _ = loaded(FIXTURE)
    S = nets['Gs'].components.synthesis
    stub = network_state(S, 'G_synthesis')
    original = restricted_load(PKL)[2].state['components']['synthesis'].state
    assert stub.state['build_func_name'] == original['build_func_name'] == 'G_synthesis_stylegan_revised'
    assert [n for n, _ in stub.state['variables']] == [n for n, _ in original['variables']]
    for (name, a), (_, b) in zip(stub.state['variables'], original['variables']):
        assert type(a) is type(b), name
        np.testing.assert_array_equal(a, b, err_msg=name)
    path = tmp_path / 'synthesis.pkl'
    with open(path, 'wb') as f:
        NvidiaPickler(f, protocol=4).dump(stub)
    again = legacy.load_network_pkl(str(path))
    assert type(again) is RevisedSynthesisNetwork and again.get_config() == {**S.get_config(), 'name': 'G_synthesis'}
    np.testing.assert_array_equal(again.run(ref['style_mix_dlatents'], randomize_noise=False),
                                  S.run(ref['style_mix_dlatents'], randomize_noise=False))


def _randomize(model, rng):
    for v in model.weights:
        v.assign(rng.standard_normal(v.shape).astype(np.float32))


def _expected_synthesis_names(res_log2):
    """NVIDIA's creation order for G_synthesis_stylegan_revised (lod first), written out independently."""
    conv = ['weight', 'mod_weight', 'mod_bias', 'noise_strength', 'bias']
    rgb = ['weight', 'mod_weight', 'mod_bias', 'bias']
    out = ['lod'] + [f'noise{k}' for k in range(2 * res_log2 - 3)] + ['4x4/Const/const']
    out += [f'4x4/Conv/{v}' for v in conv] + [f'ToRGB_lod{res_log2 - 2}/{v}' for v in rgb]
    for r in range(3, res_log2 + 1):
        out += [f'{2 ** r}x{2 ** r}/{layer}/{v}' for layer in ('Conv0_up', 'Conv1') for v in conv]
        out += [f'ToRGB_lod{res_log2 - r}/{v}' for v in rgb]
    return out


def _expected_d_names(res_log2):
    out = ['lod']
    for r in range(res_log2, 2, -1):
        out += [f'FromRGB_lod{res_log2 - r}/weight', f'FromRGB_lod{res_log2 - r}/bias']
        out += [f'{2 ** r}x{2 ** r}/{layer}/{v}' for layer in ('Conv0', 'Conv1_down') for v in ('weight', 'bias')]
    out += [f'FromRGB_lod{res_log2 - 2}/weight', f'FromRGB_lod{res_log2 - 2}/bias']
    return out + ['4x4/Conv/weight', '4x4/Conv/bias', '4x4/Dense0/weight', '4x4/Dense0/bias', 'Output/weight',
                  'Output/bias']


def test_random_conditional_grayscale_networks_round_trip(tmp_path):
    """Random-weight B-D networks at 16x16, 1 channel, 3 labels, non-default latent sizes: written in NVIDIA's
    layout (names, order, shapes, kwargs) and read back bit for bit, outputs identical."""
    rng = np.random.default_rng(5)
    common = dict(resolution=16, num_channels=1, label_size=3)
    G = RevisedGenerator(**common, latent_size=24, dlatent_size=20,
                         mapping_kwargs=dict(mapping_layers=2, mapping_fmaps=12),
                         synthesis_kwargs=dict(fmap_base=64, fmap_max=16, fused_modconv=False),
                         truncation_psi=0.7, name='G')
    D = RevisedDiscriminator(**common, fmap_base=64, fmap_max=16, mbstd_group_size=2, name='D')
    Gs = RevisedGenerator.from_config({**G.get_config(), 'name': 'Gs'})
    for i, model in enumerate((G, D, Gs)):
        model.build()
        _randomize(model, np.random.default_rng(i))
    path = tmp_path / 'bd16.pkl'
    sg2tf.save_network_pkl(path, G, D, Gs)
    states = restricted_load(str(path))
    g = states[0].state
    assert g['build_func_name'] == 'G_main' and g['static_kwargs'] == {
        'num_channels': 1, 'resolution': 16, 'label_size': 3, 'synthesis_func': 'G_synthesis_stylegan_revised',
        'latent_size': 24, 'dlatent_size': 20, 'fmap_base': 64, 'fmap_max': 16, 'fused_modconv': False,
        'mapping_layers': 2, 'mapping_fmaps': 12, 'truncation_psi': 0.7}
    assert list(g['static_kwargs'])[:4] == ['num_channels', 'resolution', 'label_size', 'synthesis_func']
    syn, mapping = g['components']['synthesis'].state, g['components']['mapping'].state
    assert syn['static_kwargs'] == {k: v for k, v in g['static_kwargs'].items()
                                    if k not in ('synthesis_func', 'truncation_psi')}
    assert mapping['static_kwargs'] == {'dlatent_broadcast': 6, **syn['static_kwargs']}
    assert [n for n, _ in syn['variables']] == _expected_synthesis_names(4)
    assert [n for n, _ in g['variables']] == ['lod', 'dlatent_avg']
    assert [n for n, _ in states[1].state['variables']] == _expected_d_names(4)
    shapes = dict(states[1].state['variables'])
    assert shapes['4x4/Conv/weight'].shape == (3, 3, 17, 16) and shapes['Output/weight'].shape == (16, 3)
    assert shapes['FromRGB_lod0/weight'].shape == (1, 1, 1, 8)  # nf(3) = 64 / 2**3
    assert dict(syn['variables'])['ToRGB_lod0/weight'].shape == (1, 1, 8, 1)
    assert states[1].state['static_kwargs'] == {'num_channels': 1, 'resolution': 16, 'label_size': 3,
                                                'fmap_base': 64, 'fmap_max': 16, 'mbstd_group_size': 2}

    again = legacy.load_network_pkl(str(path))
    for key, model in zip(('G', 'D', 'Gs'), (G, D, Gs)):
        assert type(again[key]) is type(model)
        test_formats._assert_same_weights(model, again[key])
    again_states = (network_state(again['G'], 'G'), network_state(again['D'], 'D'), network_state(again['Gs'], 'Gs'))
    for key, a, b in zip(('G', 'D', 'Gs'), states, again_states):
        test_formats._assert_same_state(a.state, b.state, key)
    z = rng.standard_normal([4, 24]).astype(np.float32)
    c = np.eye(3, dtype=np.float32)[[0, 1, 2, 0]]
    img = Gs(z, c, truncation_psi=0.7)
    assert img.shape == (4, 16, 16, 1)
    np.testing.assert_array_equal(again['Gs'](z, c, truncation_psi=0.7).numpy(), img.numpy())
    np.testing.assert_array_equal(again['Gs'].run(z, c, randomize_noise=False), Gs.run(z, c, randomize_noise=False))
    np.testing.assert_array_equal(again['D'](img, c).numpy(), D(img, c).numpy())
    assert again['D'](img, c).shape == (4, 1)


def _rewrite(tmp_path, edit, fixture=FIXTURE):
    states = restricted_load(os.path.join(DATA, f'{fixture}.pkl'))
    edit(*states)
    path = tmp_path / 'edited.pkl'
    with open(path, 'wb') as f:
        NvidiaPickler(f, protocol=4).dump(states)
    return str(path)


def _one_line_error(path, match):
    with pytest.raises(NetworkPickleError, match=match) as e:
        legacy.load_network_pkl(path)
    assert '\n' not in str(e.value)
    return str(e.value)


@pytest.mark.parametrize('where,lod', [('G', 1.0), ('synthesis', 0.5), ('D', 2.0)])
def test_lod_not_zero_is_refused(tmp_path, where, lod):
    def edit(G, D, Gs):
        state = {'G': G.state, 'D': D.state, 'synthesis': Gs.state['components']['synthesis'].state}[where]
        assert state['variables'][0][0] == 'lod'
        state['variables'][0] = ('lod', np.float32(lod))
    msg = _one_line_error(_rewrite(tmp_path, edit), f'lod = {lod}: networks in the middle of progressive growing')
    assert ('synthesis/lod' in msg) == (where == 'synthesis')


def test_bad_files_get_clear_errors(tmp_path):
    """A D_stylegan state holding D_stylegan2 (resnet) variables; a missing unused ToRGB_lod layer."""
    def d_stylegan2_vars(G, D, Gs):
        D.state['build_func_name'] = 'D_stylegan'
    _one_line_error(_rewrite(tmp_path, d_stylegan2_vars, 'f32'), r"D: variable '32x32/FromRGB/weight' \[1, 1, 3, 16\] "
                                                                  r'is not part of the network')

    def no_torgb(G, D, Gs):
        syn = Gs.state['components']['synthesis'].state
        syn['variables'] = [(n, v) for n, v in syn['variables'] if not n.startswith('ToRGB_lod2/')]
    _one_line_error(_rewrite(tmp_path, no_torgb), r'Gs: the pickle lacks variable\(s\) synthesis/ToRGB_lod2/weight')

    def architecture(G, D, Gs):  # configs B-D have no `architecture`: a kwarg sg2tf does not use
        D.state['static_kwargs']['architecture'] = 'resnet'
    with pytest.warns(UserWarning, match='ignoring static kwargs sg2tf does not use: architecture'):
        legacy.load_network_pkl(_rewrite(tmp_path, architecture))


def test_registry_reads_and_writes_the_family():
    from sg2tf.nvidia.unpickler import NetworkStub
    comps = {'synthesis': NetworkStub({'version': 4, 'build_func_name': 'G_synthesis_stylegan_revised'})}
    assert registry.tf1_reader({'version': 4, 'build_func_name': 'G_main', 'components': comps},
                               'x.pkl') is family.read_generator
    assert registry.tf1_reader({'version': 3, 'build_func_name': 'D_stylegan'}, 'x.pkl') is family.read_discriminator
    assert registry.tf1_reader({'version': 2, 'build_func_name': 'G_synthesis_stylegan_revised'},
                               'x.pkl') is family.read_synthesis
    for cls in (RevisedGenerator, RevisedDiscriminator, RevisedSynthesisNetwork):
        assert registry.writer(cls.__new__(cls)) is family.WRITERS[cls]
    assert registry.writer(sg2tf.MappingNetwork.__new__(sg2tf.MappingNetwork)) is not None


def _defaults(cls):
    return {k: p.default for k, p in inspect.signature(cls.__init__).parameters.items()
            if p.default is not inspect.Parameter.empty}


@pytest.mark.parametrize('table,classes', [
    (family.G_MAIN, (sg2tf.Generator, sg2tf.MappingNetwork, RevisedSynthesisNetwork)),
    (family.G_SYNTHESIS, (RevisedSynthesisNetwork,)),
    (family.D_STYLEGAN, (RevisedDiscriminator,))])
def test_nvidia_defaults_match_the_constructors(table, classes):
    ctor = {}
    for cls in classes:
        ctor.update(_defaults(cls))
    for name, default in table.defaults.items():
        if name in ('label_size', 'resolution', 'num_channels', 'latent_size', 'dlatent_size', 'synthesis_func') \
                and name not in ctor:
            continue
        got = ctor[name]
        assert (list(got) if isinstance(got, (list, tuple)) else got) == default, name


def test_bad_inputs_fail_clearly(loaded):
    nets, ref, _ = loaded(FIXTURE)
    with pytest.raises(ValueError, match=r'dlatents ws: expected shape \[\?, 8, 512\], got \[4, 7, 512\]'):
        nets['Gs'].synthesis(ref['dlatents'][:, :7])
    with pytest.raises(ValueError, match=r'images: expected shape \[\?, 32, 32, 3\]'):
        nets['D'](np.zeros([4, 16, 16, 3], np.float32))
    with pytest.raises(ValueError, match='noise_mode must be one of'):
        nets['Gs'].synthesis(ref['dlatents'], noise_mode='bogus')
    assert rel_err(nets['Gs'].run(ref['latents'][:2], randomize_noise=True, truncation_psi=1.0),
                   ref['images_psi1'][:2]) > 1e-3  # stored buffers are not used with randomize_noise=True
    assert isinstance(keras.saving.get_registered_object('sg2tf>RevisedGenerator'), type)
