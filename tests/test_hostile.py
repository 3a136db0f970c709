"""Hostile and broken files: every one ends in a one-line error within 20 s and 3 GB of address space, and
nothing is written outside the target. The files are crafted here, small, in a temporary directory; they are
loaded in one subprocess with RLIMIT_AS = 3 GB (a crash, a hang or a memory blow-up fails the test), each
load timed there."""
import io
import json
import os
import pickle
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from conftest import DATA

from sg2tf.nvidia.unpickler import NetworkStub, restricted_load
from sg2tf.nvidia.writer import NvidiaPickler

LIMIT_S = 20
ADDRESS_SPACE = 3 << 30
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

RUNNER = textwrap.dedent('''
    import json, resource, sys, time, warnings
    resource.setrlimit(resource.RLIMIT_AS, (%d, %d))
    import legacy
    for path in sys.argv[1:]:
        strict = path.endswith('.strict.pkl')
        t0 = time.perf_counter()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter('always')
            try:
                legacy.load_network_pkl(path, strict=strict)
                out = {'ok': True}
            except legacy.NetworkPickleError as e:
                out = {'ok': False, 'error': str(e)}
        out.update(path=path, seconds=time.perf_counter() - t0, warnings=[str(w.message) for w in caught])
        print(json.dumps(out), flush=True)
''' % (ADDRESS_SPACE, ADDRESS_SPACE))


# -- crafting ------------------------------------------------------------------------------------------------------
def _dump(obj, protocol=4) -> bytes:
    buf = io.BytesIO()
    NvidiaPickler(buf, protocol=protocol).dump(obj)
    return buf.getvalue()


def _net(**state) -> NetworkStub:
    base = {'version': 4, 'name': 'D', 'static_kwargs': {'num_channels': 1, 'resolution': 32, 'label_size': 0},
            'components': {}, 'build_module_src': '', 'build_func_name': 'D_stylegan2',
            'variables': [('Output/bias', np.zeros([1], np.float32))]}
    base.update(state)
    return NetworkStub(base)


class _Reduce:
    def __init__(self, func, args, state=None):
        self.func, self.args, self.state = func, args, state

    def __reduce__(self):
        return (self.func, self.args) if self.state is None else (self.func, self.args, self.state)


def _fixture_states(name='f32'):
    return restricted_load(os.path.join(DATA, f'{name}.pkl'))


def _edited(edit, name='f32') -> bytes:
    states = _fixture_states(name)
    edit(*states)
    return _dump(states)


def _raw_memo_bomb() -> bytes:
    """A dict keyed by a tuple that doubles 60 times through the memo (hashing it: 2**60 steps)."""
    b = io.BytesIO()
    b.write(b'\x80\x04K\x01\x94')
    for i in range(60):
        b.write(b'h' + bytes([i]) + b'h' + bytes([i]) + b'\x86\x94')
    b.write(b'}\x94h' + bytes([60]) + b'K\x01s.')
    return b.getvalue()


def _raw_deep_list(depth=100_000) -> bytes:
    return b'\x80\x04' + b']' * depth + b'a' * (depth - 1) + b'.'


def _raw_gets(n=300_000) -> bytes:
    return b'\x80\x04K\x01\x94(' + b'h\x00' * n + b'l.'


def _structured_dtype_state():
    """np.dtype('f4') whose BUILD state declares a field 1 MB past its 4-byte item (an out-of-bounds read)."""
    return _Reduce(np.dtype, ('f4', False, True), (3, '<', None, ('a',), {'a': (np.dtype('f4'), 1 << 20)}, 4, 1, 16))


def _array_state(shape, raw, dtype=np.dtype('f4')):
    """An ndarray as NumPy pickles it, with the given shape and data bytes."""
    from sg2tf.nvidia.unpickler import _multiarray
    return _Reduce(_multiarray._reconstruct, (np.ndarray, (0,), b'b'), (1, shape, dtype, False, raw))


CASES = {
    # 1. dtypes and names
    'dtype_fields': (lambda: _dump(_net(variables=[('Output/bias', _array_state((1,), b'\0' * 4,
                                                                                _structured_dtype_state()))])),
                     'refused: the pickle gives the NumPy dtype'),
    'dtype_structured': (lambda: pickle.dumps(np.zeros(2, [('a', 'f4'), ('b', 'i8')])), 'refused: .*NumPy dtype'),
    'dtype_object': (lambda: pickle.dumps(np.array([None, 1], dtype=object)), 'refused: .*NumPy dtype'),
    'name_list': (lambda: _dump(_net(name=['G'] * 3)), "has name .*expected a name"),
    'name_escape': (lambda: _dump(_net(name='\x1b[2J\x1b[31mG\n')), r'has name .*\\x1b'),
    # 2. CPU and memory bombs, deep nesting
    'memo_tuple_bomb': (_raw_memo_bomb, 'refused: .*shared parts are expanded'),
    'deep_list': (_raw_deep_list, 'refused: .*nests containers more than 100 levels'),
    'memo_gets': (_raw_gets, 'refused: .*reads its memo'),
    'deep_variable_entry': (lambda: _dump(_net(variables=[('x', _nested(150))])), 'refused: .*levels deep'),
    # 3. kwargs that would build huge networks
    'fmap_base': (lambda: _dump(_net(static_kwargs={'resolution': 32, 'fmap_base': 2 ** 40, 'fmap_max': 2048})),
                  'static kwarg fmap_base must be a finite number in 1..1.07374e\\+09, got 1099511627776'),
    'fmap_max_size': (lambda: _dump(_net(static_kwargs={'resolution': 1024, 'fmap_base': 2 ** 20,
                                                        'fmap_max': 16384})),
                      'describe a network of at least .* values but the file stores 1: refused before building'),
    'label_size': (lambda: _dump(_net(static_kwargs={'resolution': 32, 'label_size': 10 ** 9})),
                   'static kwarg label_size must be an integer in 0..100000'),
    'latent_size': (lambda: _dump(_net(build_func_name='G_mapping', name='G_mapping',
                                       static_kwargs={'latent_size': 10 ** 9})),
                    'static kwarg latent_size must be an integer in 0..16384'),
    'mbstd': (lambda: _dump(_net(static_kwargs={'resolution': 32, 'mbstd_num_features': 10 ** 9})),
              'static kwarg mbstd_num_features must be'),
    'resolution': (lambda: _dump(_net(build_func_name='G_synthesis_stylegan2', static_kwargs={'resolution': 2 ** 16})),
                   'static kwarg resolution must be a power of two in 4..8192'),
    'mapping_layers': (lambda: _dump(_net(build_func_name='G_mapping', static_kwargs={'mapping_layers': 10 ** 6})),
                       'static kwarg mapping_layers must be an integer in 0..64'),
    'kernel_taps': (lambda: _dump(_net(static_kwargs={'resample_kernel': [1.0] * 10 ** 5})),
                    'static kwarg resample_kernel must be None or a list of 1..16 finite numbers'),
    'lrmul_zero': (lambda: _dump(_net(build_func_name='G_mapping', static_kwargs={'mapping_lrmul': 0})),
                   'static kwarg mapping_lrmul must be a finite number > 0, got 0'),
    'kwargs_string': (lambda: _dump(_net(static_kwargs='resolution=1024')), 'static_kwargs is a str, expected a dict'),
    'kwargs_list': (lambda: _dump(_net(static_kwargs=[('resolution', 1024)])), 'static_kwargs is a list'),
    # 4. data-less arrays
    'reconstruct_no_data': (lambda: _dump(_net(variables=[('x', _Reduce(
        __import__('sg2tf.nvidia.unpickler', fromlist=['_multiarray'])._multiarray._reconstruct,
        (np.ndarray, (600_000_000,), b'b')))])), r'refused: numpy _reconstruct'),
    'array_short_data': (lambda: _dump(_net(variables=[('x', _array_state((600_000_000,), b'\0'))])),
                         'stores 1 bytes, expected 2400000000 bytes'),
    'array_fortran': (lambda: pickle.dumps(np.asfortranarray(np.zeros([3, 2], np.float32))), 'Fortran-ordered'),
    # 5. malformed structure
    'self_component': (lambda: _dump(_self_referencing()), 'contains itself'),
    'components_list': (lambda: _dump(_net(components=[_net()])), 'components of type list'),
    'component_not_network': (lambda: _dump(_net(components={'synthesis': {'a': 1}})),
                              "component 'synthesis' .* is a dict, expected a dnnlib Network"),
    'build_func_list': (lambda: _dump(_net(build_func_name=['D_stylegan2'])), 'has build_func_name'),
    'version_array': (lambda: _dump(_net(version=np.array([4, 4]))), 'has state version .*expected an integer'),
    'no_state': (lambda: _dump(NetworkStub.__new__(NetworkStub)), 'Network without a state dict'),
    'state_list': (lambda: _dump(_Reduce(NetworkStub, (), [1, 2])), 'Network state is a list'),
    'lod_shape': (lambda: _edited(_lod_vector), r'lod has shape \[1\], expected a scalar'),
    'variables_missing': (lambda: _dump(_net(variables=None)), 'has no variable list'),
    # 7. NaN weights: a warning, an error with strict=True
    'nan.strict': (lambda: _edited(_nan_weight), "variable '4x4/Conv/bias' hold NaN or Inf"),
}


def _nested(depth):
    value = [1.0]
    for _ in range(depth):
        value = [value]
    return value


def _self_referencing():
    net = _net(name='G', build_func_name='G_main')
    net.state['components'] = {'synthesis': net, 'mapping': _net(name='G_mapping', build_func_name='G_mapping')}
    return net


def _lod_vector(G, D, Gs):
    G.state['variables'][0] = ('lod', np.zeros([1], np.float32))


def _nan_weight(G, D, Gs):
    for i, (name, value) in enumerate(D.state['variables']):
        if name == '4x4/Conv/bias':
            D.state['variables'][i] = (name, np.full_like(value, np.nan))


@pytest.fixture(scope='module')
def results(tmp_path_factory):
    """Every case's file loaded in one capped subprocess: {case: result dict}; plus what the directory held."""
    root = tmp_path_factory.mktemp('hostile')
    target = root / 'files'
    target.mkdir()
    paths = {}
    for case, (make, _) in CASES.items():
        data = make()
        assert len(data) < 4 << 20, f'{case}: crafted file too large'
        path = target / f'{case}.pkl'
        path.write_bytes(data)
        paths[case] = str(path)
    nan_warn = target / 'nan_warn.pkl'
    nan_warn.write_bytes((target / 'nan.strict.pkl').read_bytes())
    before = sorted(os.listdir(target))
    env = dict(os.environ, PYTHONPATH=ROOT, TF_CPP_MIN_LOG_LEVEL='3')
    proc = subprocess.run([sys.executable, '-c', RUNNER, *paths.values(), str(nan_warn)], cwd=str(root),
                          capture_output=True, text=True, timeout=LIMIT_S * (len(paths) + 3), env=env)
    lines = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith('{')]
    assert proc.returncode == 0, f'the loader process died (rc {proc.returncode}): {proc.stderr[-2000:]}'
    by_path = {r['path']: r for r in lines}
    out = {case: by_path.get(path) for case, path in paths.items()}
    out['nan_warn'] = by_path.get(str(nan_warn))
    return {'results': out, 'before': before, 'after': sorted(os.listdir(target)),
            'root': sorted(os.listdir(root))}


def _check(results, cases):
    import re
    for case in cases:
        r = results['results'][case]
        assert r is not None, f'{case}: no result (the process stopped before it)'
        assert not r['ok'], f'{case}: loaded a hostile file'
        assert '\n' not in r['error'] and '\x1b' not in r['error'], f'{case}: not one clean line: {r["error"]!r}'
        assert len(r['error']) < 600, f'{case}: message of {len(r["error"])} characters'
        assert re.search(CASES[case][1], r['error']), f'{case}: {r["error"]}'
        assert r['seconds'] < LIMIT_S, f'{case}: took {r["seconds"]:.1f} s'
    assert results['after'] == results['before'], 'the loader wrote into the directory of the files'
    assert results['root'] == ['files'], 'the loader wrote beside the target'


def test_dtypes_and_names(results):
    _check(results, ['dtype_fields', 'dtype_structured', 'dtype_object', 'name_list', 'name_escape'])


def test_cpu_and_memory_bombs(results):
    _check(results, ['memo_tuple_bomb', 'deep_list', 'memo_gets', 'deep_variable_entry'])


def test_kwargs_are_checked_before_building(results):
    _check(results, ['fmap_base', 'fmap_max_size', 'label_size', 'latent_size', 'mbstd', 'resolution',
                     'mapping_layers', 'kernel_taps', 'lrmul_zero', 'kwargs_string', 'kwargs_list'])


def test_data_less_arrays(results):
    _check(results, ['reconstruct_no_data', 'array_short_data', 'array_fortran'])


def test_malformed_structure(results):
    _check(results, ['self_component', 'components_list', 'component_not_network', 'build_func_list',
                     'version_array', 'no_state', 'state_list', 'lod_shape', 'variables_missing'])


def test_nan_weights_warn_or_fail(results):
    _check(results, ['nan.strict'])
    r = results['results']['nan_warn']
    assert r['ok'], r
    assert any("'4x4/Conv/bias' hold NaN or Inf" in w for w in r['warnings']), r['warnings']


def test_stride_zero_snapshot_tensor(tmp_path):
    """A stylegan2-ada-pytorch tensor of 10**12 elements over a 1-element storage (stride 0): refused."""
    from sg2tf.nvidia import torch_pickle
    from sg2tf.nvidia.unpickler import NetworkPickleError
    storage = torch_pickle._Storage(np.zeros([1], np.float32))
    with pytest.raises(pickle.UnpicklingError, match='repeats elements'):
        torch_pickle._rebuild_tensor_v2(storage, 0, (10 ** 6, 10 ** 6), (0, 0))
    with pytest.raises(pickle.UnpicklingError, match='repeats elements'):
        torch_pickle._rebuild_tensor_v2(torch_pickle._Storage(np.zeros([4], np.float32)), 0, (3, 3), (1, 1))
    assert NetworkPickleError  # the loader turns these into one line (test_family_ada_pytorch)


def _run_tool(args, cwd, timeout=LIMIT_S * 3):
    env = dict(os.environ, PYTHONPATH=ROOT, TF_CPP_MIN_LOG_LEVEL='3')
    code = ('import resource, sys; resource.setrlimit(resource.RLIMIT_AS, (%d, %d)); '
            'from sg2tf.cli.generate import main; sys.exit(main(sys.argv[1:]))' % (ADDRESS_SPACE, ADDRESS_SPACE))
    return subprocess.run([sys.executable, '-c', code, *args], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, env=env)


@pytest.mark.parametrize('args,match', [
    (['--seeds', '5-1'], 'empty seed range'),
    (['--seeds', '0-100000000'], 'more than 1,000,000 images'),
    (['--seeds', str(2 ** 32)], 'out of range'),
    (['--trunc', 'nan'], 'bad truncation psi'),
])
def test_generate_arguments(tmp_path, args, match):
    proc = _run_tool([*args, '--outdir', str(tmp_path / 'out')], str(tmp_path), timeout=LIMIT_S)
    assert proc.returncode != 0
    assert match in proc.stderr.strip().splitlines()[-1]
    assert 'Traceback' not in proc.stderr
    assert os.listdir(tmp_path) == []


def test_generate_outdir_is_a_file(tmp_path):
    (tmp_path / 'out').write_text('keep')
    proc = _run_tool(['--seeds', '0', '--outdir', str(tmp_path / 'out')], str(tmp_path), timeout=LIMIT_S)
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines() == [f'error: {tmp_path / "out"}: exists and is not a directory']
    assert (tmp_path / 'out').read_text() == 'keep'


def test_generate_does_not_follow_a_planted_temporary(tmp_path):
    """Outputs go through sg2tf.fileio (unpredictable temporary names): a symlink planted at the old
    predictable name `seed0000.png.tmp-<pid>` or at `.seed0000.tmp.png` is never written through."""
    out, victim = tmp_path / 'out', tmp_path / 'victim.txt'
    out.mkdir()
    victim.write_text('keep')
    for name in ['seed0000.png.tmp', '.seed0000.tmp.png'] + [f'seed0000.png.tmp-{pid}' for pid in range(1, 64)]:
        os.symlink(victim, out / name)
    proc = _run_tool(['--seeds', '0', '--outdir', str(out)], str(tmp_path))
    assert proc.returncode == 0, proc.stderr[-1000:]
    assert victim.read_text() == 'keep'
    assert (out / 'seed0000.png').is_file() and not (out / 'seed0000.png').is_symlink()
