"""The loader never executes anything from a pickle, and every bad file gets one clear line."""
import io
import os
import pickle

import numpy as np
import pytest

import legacy
from legacy import NetworkPickleError
from sg2tf.nvidia.unpickler import NetworkStub, restricted_load
from sg2tf.nvidia import save_network_pkl
from conftest import DATA


class _Evil:
    def __init__(self, func, *args):
        self.func, self.args = func, args

    def __reduce__(self):
        return self.func, self.args


def _evil_pickles(marker):
    import builtins
    import subprocess
    cmd = f'touch {marker}'
    yield 'os.system', pickle.dumps(_Evil(os.system, cmd))
    yield 'builtins.eval', pickle.dumps(_Evil(builtins.eval, f"__import__('os').system('{cmd}')"))
    yield 'builtins.exec', pickle.dumps(_Evil(builtins.exec, f"import os; os.system('{cmd}')"))
    yield 'subprocess.Popen', pickle.dumps(_Evil(subprocess.Popen, ['touch', marker]))
    yield 'subprocess.call', pickle.dumps(_Evil(subprocess.call, ['touch', marker]))
    # Hidden inside an otherwise well-formed NVIDIA state, as a variable value and as protocol 0 text.
    from sg2tf.nvidia.writer import NvidiaPickler as _NvidiaPickler
    buf = io.BytesIO()
    _NvidiaPickler(buf, protocol=4).dump((NetworkStub({'version': 4, 'name': 'G',
                                                       'variables': [('x', _Evil(os.system, cmd))]}),))
    yield 'nested', buf.getvalue()
    yield 'protocol0', b"cos\nsystem\n(V" + cmd.encode() + b"\ntR."


@pytest.mark.parametrize('index', range(7))
def test_malicious_pickle_is_refused(tmp_path, index):
    marker = str(tmp_path / 'pwned')
    what, data = list(_evil_pickles(marker))[index]
    path = tmp_path / f'{index}.pkl'
    assert b'dnnlib.tflib.network' in data or what != 'nested'
    path.write_bytes(data)
    with pytest.raises(NetworkPickleError, match='refused') as e:
        legacy.load_network_pkl(str(path))
    assert '\n' not in str(e.value)
    assert not os.path.exists(marker), f'{what}: code from the pickle ran'


def _one_line_error(path_or_file, match):
    with pytest.raises(NetworkPickleError, match=match) as e:
        legacy.load_network_pkl(path_or_file)
    assert '\n' not in str(e.value)
    return str(e.value)


def test_empty_truncated_random_and_foreign(tmp_path):
    good = open(os.path.join(DATA, 'f32.pkl'), 'rb').read()
    cases = {
        'empty.pkl': (b'', 'empty'),
        'truncated.pkl': (good[:len(good) // 2], 'truncated'),
        'random.pkl': (np.random.RandomState(0).bytes(4096), 'not a pickle|corrupt'),
        'dict.pkl': (pickle.dumps({'a': 1}), 'not an NVIDIA network pickle: it holds a dict'),
        'tuple.pkl': (pickle.dumps((1, 2)), 'not an NVIDIA network pickle: it holds a tuple of 2'),
        'text.pkl': (b'hello world\n', 'not a pickle'),
    }
    for name, (data, match) in cases.items():
        (tmp_path / name).write_bytes(data)
        _one_line_error(str(tmp_path / name), match)
    _one_line_error(str(tmp_path / 'missing.pkl'), 'cannot read')
    _one_line_error(io.BytesIO(good[:100]), 'truncated')


def _rewrite(tmp_path, edit, fixture='f32'):
    """Load the fixture's raw states, edit them, write them back in NVIDIA's format."""
    from sg2tf.nvidia.writer import NvidiaPickler as _NvidiaPickler
    states = restricted_load(os.path.join(DATA, f'{fixture}.pkl'))
    edit(*states)
    path = tmp_path / 'edited.pkl'
    with open(path, 'wb') as f:
        _NvidiaPickler(f, protocol=4).dump(states)
    return str(path)


def test_unknown_missing_and_misshaped_variables(tmp_path):
    def extra(G, D, Gs):
        D.state['variables'].append(('64x64/Conv0/weight', np.zeros([3, 3, 4, 4], np.float32)))
    _one_line_error(_rewrite(tmp_path, extra), r"variable '64x64/Conv0/weight' \[3, 3, 4, 4\] is not part")

    def missing(G, D, Gs):
        G.state['components']['synthesis'].state['variables'].pop(3)
    _one_line_error(_rewrite(tmp_path, missing), r'lacks variable\(s\) synthesis/noise3')

    def shape(G, D, Gs):
        vs = Gs.state['components']['mapping'].state['variables']
        vs[0] = (vs[0][0], np.zeros([512, 63], np.float32))
    _one_line_error(_rewrite(tmp_path, shape), r"'mapping/Dense0/weight' has shape \[512, 63\], expected \[512, 64\]")

    def lod(G, D, Gs):
        G.state['variables'][0] = ('lod', np.float32(1.5))
    _one_line_error(_rewrite(tmp_path, lod), 'lod = 1.5')


@pytest.mark.parametrize('func,version,what', [
    ('D_stylegan', 5, 'StyleGAN2-ADA'), ('D_stylegan2', 5, 'StyleGAN2-ADA')])
def test_unsupported_families_say_what_they_are(tmp_path, func, version, what):
    def edit(G, D, Gs):
        D.state['build_func_name'], D.state['version'] = func, version
    msg = _one_line_error(_rewrite(tmp_path, edit), 'not supported yet')
    assert what in msg


def test_scalars_as_0d_arrays_and_protocol3(tmp_path, loaded):
    """Rank-0 values may be NumPy scalars (NVIDIA) or 0-d arrays; protocol 3 (ADA-era) files load too."""
    nets, ref, _ = loaded('f32')

    def as_arrays(G, D, Gs):
        for net in (G, Gs):
            syn = net.state['components']['synthesis'].state
            syn['variables'] = [(n, np.asarray(v)) for n, v in syn['variables']]
    path = _rewrite(tmp_path, as_arrays)
    again = legacy.load_network_pkl(path)
    np.testing.assert_array_equal(again['Gs'].run(ref['latents'], randomize_noise=False),
                                  nets['Gs'].run(ref['latents'], randomize_noise=False))
    save_network_pkl(tmp_path / 'p3.pkl', nets['G'], nets['D'], nets['Gs'], protocol=3)
    assert legacy.load_network_pkl(str(tmp_path / 'p3.pkl'))['D'].run(ref['reals']).shape == (4, 1)


def test_single_network_pickle(tmp_path, loaded):
    nets, ref, _ = loaded('e16cond')
    save_network_pkl(tmp_path / 'gs.pkl', nets['Gs'])
    Gs = legacy.load_network_pkl(str(tmp_path / 'gs.pkl'))
    np.testing.assert_array_equal(Gs.run(ref['latents'], ref['labels'], randomize_noise=False),
                                  nets['Gs'].run(ref['latents'], ref['labels'], randomize_noise=False))


def test_networks_selects_what_is_built(loaded):
    """`networks=('Gs',)` builds Gs (= G_ema) only; the result equals the full load's."""
    nets, ref, _ = loaded('f32')
    only = legacy.load_network_pkl(os.path.join(DATA, 'f32.pkl'), networks=('Gs',))
    assert set(only) == {'Gs', 'G_ema'} and only['Gs'] is only['G_ema']
    np.testing.assert_array_equal(only['Gs'].run(ref['latents'], randomize_noise=False),
                                  nets['Gs'].run(ref['latents'], randomize_noise=False))
    snap = legacy.load_network_pkl(os.path.join(DATA, 'adapt32cond.pkl'), networks=('D',))
    assert set(snap) == {'D', 'augment_pipe', 'training_set_kwargs'}
    with pytest.raises(ValueError, match='unknown name'):
        legacy.load_network_pkl(os.path.join(DATA, 'f32.pkl'), networks=('Gz',))
