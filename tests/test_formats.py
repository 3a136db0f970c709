"""Native Keras files (.keras, .weights.h5), NVIDIA pickles written back, and the sg2tf-convert tool."""
import io
import os

import keras
import numpy as np
import pytest

import legacy
import sg2tf
from conftest import DATA, FIXTURES
from sg2tf.nvidia.unpickler import RestrictedUnpickler, restricted_load
from sg2tf.cli import convert

STATE_KEYS = ['version', 'name', 'static_kwargs', 'components', 'build_module_src', 'build_func_name', 'variables']


def _outputs(nets, ref):
    """Gs/G images (const noise, psi 0.5 and 1), mapping W and D scores on the fixture's inputs."""
    labels = ref['labels'] if ref['labels'].shape[1] else None
    out = {}
    for key in ('G', 'Gs'):
        out[key] = nets[key](ref['latents'], labels, truncation_psi=0.5, noise_mode='const').numpy()
        out[key + '_w'] = nets[key].mapping(ref['latents'], labels).numpy()
    out['D'] = nets['D'](np.transpose(ref['reals'], [0, 2, 3, 1]), labels).numpy()
    return out


def _assert_same_weights(a, b):
    assert [v.path for v in a.weights] == [v.path for v in b.weights]
    for va, vb in zip(a.weights, b.weights):
        assert va.shape == vb.shape and va.trainable == vb.trainable, va.path
        np.testing.assert_array_equal(va.numpy(), vb.numpy(), err_msg=va.path)


@pytest.mark.parametrize('fixture', FIXTURES)
def test_keras_and_weights_h5_round_trip(loaded, fixture, tmp_path):
    nets, ref, _ = loaded(fixture)
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
    for key in ('G', 'Gs'):  # the non-trainable state, explicitly
        for other in (again_keras[key], again_h5[key]):
            np.testing.assert_array_equal(other.dlatent_avg.numpy(), nets[key].dlatent_avg.numpy())
            assert len(other.synthesis.noise_buffers) == nets[key].num_layers - 1
            for x, y in zip(other.synthesis.noise_buffers, nets[key].synthesis.noise_buffers):
                np.testing.assert_array_equal(x.numpy(), y.numpy())
    assert np.any(nets['Gs'].dlatent_avg.numpy() != 0)  # the fixtures do carry a non-trivial W average
    for other in (again_keras, again_h5):
        got = _outputs(other, ref)
        for key in expected:
            np.testing.assert_array_equal(got[key], expected[key], err_msg=key)


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


def _assert_same_state(a: dict, b: dict, where: str):
    """Same keys, version, names, static kwargs (and their order), components, variables (names, order, types,
    dtypes, shapes, values). `build_module_src` is ours, not NVIDIA's: only its type is compared."""
    assert list(a) == list(b) == STATE_KEYS, where
    for key in ('version', 'name', 'build_func_name'):
        assert a[key] == b[key] and type(a[key]) is type(b[key]), f'{where}: {key}'
    assert a['static_kwargs'] == b['static_kwargs'], where
    assert list(a['static_kwargs']) == list(b['static_kwargs']), where
    assert type(a['static_kwargs']) is type(b['static_kwargs']) is dict
    assert type(a['components']) is type(b['components']) is dict
    assert list(a['components']) == list(b['components']), where
    assert isinstance(b['build_module_src'], str) and isinstance(b['variables'], list)
    assert [n for n, _ in a['variables']] == [n for n, _ in b['variables']], where
    for (name, va), (_, vb) in zip(a['variables'], b['variables']):
        assert type(va) is type(vb), f'{where}/{name}: {type(va)} vs {type(vb)}'
        assert va.dtype == vb.dtype == np.float32 and va.shape == vb.shape, f'{where}/{name}'
        if isinstance(va, np.ndarray):
            assert vb.flags['C_CONTIGUOUS']
        np.testing.assert_array_equal(va, vb, err_msg=f'{where}/{name}')
    for key in a['components']:
        _assert_same_state(a['components'][key].state, b['components'][key].state, f'{where}/{key}')


@pytest.mark.parametrize('fixture', FIXTURES)
def test_save_network_pkl_matches_nvidia_state(loaded, fixture, tmp_path):
    nets, ref, _ = loaded(fixture)
    path = tmp_path / 'again.pkl'
    legacy.save_network_pkl(path, nets['G'], nets['D'], nets['Gs'])
    original, orig_globals, orig_proto = _load_recording(os.path.join(DATA, f'{fixture}.pkl'))
    ours, our_globals, our_proto = _load_recording(path)
    assert type(ours) is tuple and len(ours) == 3 and our_proto == orig_proto == b'\x80\x04'
    assert sorted(set(our_globals)) == sorted(set(orig_globals))
    for key, a, b in zip(('G', 'D', 'Gs'), original, ours):
        assert type(b) is type(a)
        _assert_same_state(a.state, b.state, key)
    assert isinstance(ours[0].state['variables'][0][1], np.float32)  # lod: a NumPy scalar, as NVIDIA writes
    again = legacy.load_network_pkl(str(path))
    got, expected = _outputs(again, ref), _outputs(nets, ref)
    for key in expected:
        np.testing.assert_array_equal(got[key], expected[key], err_msg=key)


def test_convert_tool_round_trips(loaded, tmp_path, capsys):
    """pickle -> G/D/Gs .keras and Gs .weights.h5 -> (G, D, Gs) pickle equal to the original state dicts."""
    nets, ref, _ = loaded('e16cond')
    src = os.path.join(DATA, 'e16cond.pkl')
    for key in ('G', 'D', 'Gs'):
        assert convert.main(['--in', src, '--net', key, '--out', str(tmp_path / f'{key}.keras')]) == 0
    assert convert.main(['--in', src, '--out', str(tmp_path / 'Gs.weights.h5')]) == 0
    assert 'wrote Gs to' in capsys.readouterr().out
    out = tmp_path / 'snap.pkl'
    assert convert.main(['--in', *(str(tmp_path / f'{k}.keras') for k in ('G', 'D', 'Gs')), '--out', str(out)]) == 0
    for a, b, key in zip(restricted_load(src), restricted_load(str(out)), ('G', 'D', 'Gs')):
        _assert_same_state(a.state, b.state, key)
    assert convert.main(['--in', str(tmp_path / 'Gs.keras'), '--out', str(tmp_path / 'gs.pkl')]) == 0
    Gs = legacy.load_network_pkl(str(tmp_path / 'gs.pkl'))
    assert isinstance(Gs, sg2tf.Generator)
    fresh = sg2tf.Generator.from_config(nets['Gs'].get_config())
    fresh.build()
    fresh.load_weights(tmp_path / 'Gs.weights.h5')
    for model in (Gs, fresh):
        np.testing.assert_array_equal(model(ref['latents'], ref['labels'], truncation_psi=0.5).numpy(),
                                      nets['Gs'](ref['latents'], ref['labels'], truncation_psi=0.5).numpy())
    assert sorted(os.listdir(tmp_path)) == sorted(['G.keras', 'D.keras', 'Gs.keras', 'Gs.weights.h5', 'snap.pkl',
                                                   'gs.pkl'])  # no temporary files left


def test_convert_tool_bad_input(tmp_path, capsys):
    def fails(argv, match):
        assert convert.main(argv) == 1
        err = capsys.readouterr().err.strip()
        assert err.startswith('error: ') and '\n' not in err and match in err, err

    src = os.path.join(DATA, 'f32.pkl')
    (tmp_path / 'junk.keras').write_bytes(b'not a zip')
    (tmp_path / 'junk.pkl').write_bytes(b'\x80\x04junk')
    (tmp_path / 'x.weights.h5').write_bytes(b'')
    fails(['--in', str(tmp_path / 'junk.keras'), '--out', str(tmp_path / 'o.pkl')], 'not a loadable sg2tf .keras')
    fails(['--in', str(tmp_path / 'junk.pkl'), '--out', str(tmp_path / 'o.keras')], 'truncated or corrupt')
    fails(['--in', str(tmp_path / 'x.weights.h5'), '--out', str(tmp_path / 'o.pkl')], 'holds no architecture')
    fails(['--in', src, '--out', str(tmp_path / 'o.onnx')], 'unknown extension')
    fails(['--in', src, '--out', str(tmp_path / 'junk.pkl')], 'file exists (pass --overwrite')
    fails(['--in', src, '--out', str(tmp_path / 'nodir' / 'o.keras')], 'does not exist')
    fails(['--in', src, src, '--out', str(tmp_path / 'o.pkl')], 'one file, or three .keras')
    assert sorted(os.listdir(tmp_path)) == ['junk.keras', 'junk.pkl', 'x.weights.h5']


def test_build_module_src_default_and_embedding(loaded, tmp_path, capsys):
    """Default: sg2tf's TF1 module defining NVIDIA's four build functions (run in TF1 graph mode by
    test_tf1_module.py); with --nvidia-src the given module text is stored in every network of the snapshot."""
    import ast
    from sg2tf.nvidia.stylegan2 import BUILD_MODULE_SRC, TF1_MODULE_PATH
    with open(TF1_MODULE_PATH, encoding='utf-8') as f:
        assert BUILD_MODULE_SRC == f.read()
    defined = {node.name for node in ast.parse(BUILD_MODULE_SRC).body if isinstance(node, ast.FunctionDef)}
    assert {'G_main', 'G_mapping', 'G_synthesis_stylegan2', 'D_stylegan2'} <= defined
    src_file = tmp_path / 'networks_stylegan2.py'
    src_file.write_text('def G_main(*a, **k): pass\ndef D_stylegan2(*a, **k): pass\n# mine\n')
    out = tmp_path / 'with_src.pkl'
    assert convert.main(['--in', os.path.join(DATA, 'f32.pkl'), '--out', str(out), '--nvidia-src',
                         str(src_file)]) == 0
    states = restricted_load(str(out))
    for net in states:
        assert net.state['build_module_src'] == src_file.read_text()
        for comp in net.state['components'].values():
            assert comp.state['build_module_src'] == src_file.read_text()
    for a, b, key in zip(restricted_load(os.path.join(DATA, 'f32.pkl')), states, ('G', 'D', 'Gs')):
        _assert_same_state(a.state, b.state, key)
    (tmp_path / 'other.py').write_text('print(1)\n')
    assert convert.main(['--in', os.path.join(DATA, 'f32.pkl'), '--out', str(tmp_path / 'x.pkl'), '--nvidia-src',
                         str(tmp_path / 'other.py')]) == 1
    assert 'does not define G_main' in capsys.readouterr().err
