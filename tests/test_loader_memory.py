"""The loader streams pickles: array data stays in the file until the network holding it is built, so networks
not asked for are never read, one byte string shared by many arrays is read once, and a size the file declares
is checked against the file before anything that large is allocated."""
import io
import os
import pickle
import shutil
import tracemalloc

import numpy as np
import pytest

import legacy
from conftest import DATA
from legacy import NetworkPickleError
from sg2tf.nvidia.errors import SKIP_MIN
from sg2tf.nvidia.unpickler import (NetworkStub, PickleFile, StreamUnpickler, _multiarray, open_pickle,
                                    restricted_load, restricted_loads)
from sg2tf.nvidia.writer import NvidiaPickler

FIXTURES = ['f32', 'e16cond', 'revised32', 'ada64', 'sg1_128cond']


class CountingFile(io.BufferedReader):
    """A binary file that counts the bytes read from it."""

    def __init__(self, path):
        super().__init__(io.FileIO(path, 'rb'))
        self.bytes_read = 0

    def read(self, n=-1):
        data = super().read(n)
        self.bytes_read += len(data)
        return data

    def readinto(self, buf):
        n = super().readinto(buf)
        self.bytes_read += n or 0
        return n

    def readline(self, size=-1):
        data = super().readline(size)
        self.bytes_read += len(data)
        return data


class Unseekable(io.RawIOBase):
    """A stream that cannot seek (a pipe, a download)."""

    def __init__(self, data: bytes):
        self._f = io.BytesIO(data)

    def readable(self):
        return True

    def readinto(self, buf):
        return self._f.readinto(buf)


def _write(obj, path):
    with open(path, 'wb') as f:
        NvidiaPickler(f, protocol=4).dump(obj)
    return str(path)


def _outputs(Gs, seed=0):
    z = np.random.RandomState(seed).randn(2, Gs.latent_size).astype(np.float32)
    return Gs.run(z, randomize_noise=False)


@pytest.mark.parametrize('fixture', FIXTURES)
def test_stream_unpickler_equals_c_unpickler(fixture):
    """The streamed pure-Python load and the in-memory C load give the same states, arrays equal bit for bit."""
    path = os.path.join(DATA, f'{fixture}.pkl')
    streamed = restricted_load(path)
    with open(path, 'rb') as f:
        in_memory = restricted_loads(f.read(), path)

    def same(a, b, where):
        assert type(a) is type(b), where
        if isinstance(a, NetworkStub):
            same(a.state, b.state, where)
        elif isinstance(a, dict):
            assert list(a) == list(b), where
            for key in a:
                same(a[key], b[key], f'{where}/{key}')
        elif isinstance(a, (list, tuple)):
            assert len(a) == len(b), where
            for i, (x, y) in enumerate(zip(a, b)):
                same(x, y, f'{where}[{i}]')
        elif isinstance(a, np.ndarray):
            assert a.dtype == b.dtype and a.shape == b.shape and a.flags['C_CONTIGUOUS'], where
            np.testing.assert_array_equal(a, b, err_msg=where)
        else:
            assert a == b, where
    same(streamed, in_memory, fixture)


def test_unrequested_networks_are_never_read(tmp_path, loaded):
    """With networks=('Gs',) D's array data is never read: padding D with 8 MiB adds (almost) nothing to the
    bytes read from the file (the padding's pickle opcodes only). Gs is the same as from a full load."""
    nets, _, _ = loaded('f32')
    G, D, Gs = restricted_load(os.path.join(DATA, 'f32.pkl'))
    plain = _write((G, D, Gs), tmp_path / 'plain.pkl')
    D.state['variables'].append(('padding', np.ones([2 << 20], np.float32)))  # never validated: D is not built
    padded = _write((G, D, Gs), tmp_path / 'padded.pkl')
    assert os.path.getsize(padded) - os.path.getsize(plain) > 8 << 20
    counts = []
    for path in (plain, padded):
        f = CountingFile(path)
        only = legacy.load_network_pkl(f, networks=('Gs',))
        assert set(only) == {'Gs', 'G_ema'}
        np.testing.assert_array_equal(_outputs(only['Gs']), _outputs(nets['Gs']))
        counts.append(f.bytes_read)
    assert counts[1] - counts[0] < 1024, counts
    assert counts[1] < os.path.getsize(padded) // 3, counts
    with pytest.raises(NetworkPickleError, match="variable 'padding'"):
        legacy.load_network_pkl(padded)  # all networks: D is built and its extra variable refused


def test_weights_are_created_holding_the_stored_values(monkeypatch, loaded):
    """Each Keras weight is created holding its value from the file (no zero fill assigned over): loading a
    snapshot assigns no variable, and gives the same weights as the NVIDIA pickle stores."""
    import keras
    assigned = []
    original = keras.Variable.assign

    def assign(self, value):
        assigned.append(self.path)
        return original(self, value)
    monkeypatch.setattr(keras.Variable, 'assign', assign)
    nets = legacy.load_network_pkl(os.path.join(DATA, 'f32.pkl'))
    assert assigned == []
    _, _, Gs = restricted_load(os.path.join(DATA, 'f32.pkl'))
    stored = dict(Gs.state['components']['synthesis'].state['variables'])
    np.testing.assert_array_equal(nets['Gs'].get_var('G_synthesis/4x4/Conv/weight'), stored['4x4/Conv/weight'])
    np.testing.assert_array_equal(nets['Gs'].get_var('G_synthesis/noise0'), stored['noise0'])  # NCHW in the file


def test_shared_byte_string_is_read_once(tmp_path):
    """40 arrays over one memoized 256 KiB byte string share one buffer once loaded (not 40 reads / copies)."""
    data = bytes(range(256)) * 1024
    assert len(data) >= SKIP_MIN
    arrays = [_Reduce(_multiarray._reconstruct, (np.ndarray, (0,), b'b'), (1, (len(data),), np.dtype('u1'), False, data))
              for _ in range(40)]
    path = tmp_path / 'shared.pkl'
    path.write_bytes(pickle.dumps(arrays, protocol=4))
    assert os.path.getsize(path) < 2 * len(data)
    out = restricted_load(str(path))
    assert len(out) == 40 and all(np.shares_memory(out[0], a) for a in out)
    assert bytes(out[7]) == data


class _Reduce:
    def __init__(self, func, args, state):
        self.func, self.args, self.state = func, args, state

    def __reduce__(self):
        return self.func, self.args, self.state


@pytest.mark.parametrize('raw,match', [
    (b'\x80\x04\x8e' + (1 << 40).to_bytes(8, 'little') + b'.', 'truncated'),            # BINBYTES8, 1 TiB
    (b'\x80\x04B' + (3 << 30).to_bytes(4, 'little') + b'\0' * 100 + b'.', 'truncated'),  # BINBYTES, 3 GiB
    (b'\x80\x04\x96' + (1 << 40).to_bytes(8, 'little') + b'.', 'truncated'),            # BYTEARRAY8
    (b'\x80\x04\x8d' + (1 << 40).to_bytes(8, 'little') + b'.', 'truncated'),            # BINUNICODE8
])
def test_declared_sizes_are_checked_before_allocating(tmp_path, raw, match):
    path = tmp_path / 'huge.pkl'
    path.write_bytes(raw)
    tracemalloc.start()
    try:
        with pytest.raises(NetworkPickleError, match=match) as e:
            legacy.load_network_pkl(str(path))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert '\n' not in str(e.value)
    assert peak < 4 << 20, f'{peak} bytes allocated for a {len(raw)}-byte file'


def test_file_shrunk_while_loading(tmp_path):
    """Array data is read after the structure: a file truncated in between is one clear line, not a crash."""
    path = tmp_path / 'f32.pkl'
    shutil.copy(os.path.join(DATA, 'f32.pkl'), path)
    with open_pickle(str(path)) as f:
        obj = f.load()
        os.truncate(path, f.size // 2)
        with pytest.raises(NetworkPickleError, match=r'ends before byte \d+ \(did it change while loading\?\)'):
            f.plain(obj)


def test_file_objects_seekable_or_not(loaded):
    """A binary file object is read from its position; one that cannot seek is read into memory first."""
    nets, _, _ = loaded('f32')
    with open(os.path.join(DATA, 'f32.pkl'), 'rb') as f:
        data = f.read()
    expected = _outputs(nets['Gs'])
    shifted = io.BytesIO(b'junk' + data)
    shifted.seek(4)
    for source in (shifted, io.BufferedReader(Unseekable(data))):
        got = legacy.load_network_pkl(source, networks=('Gs',))
        np.testing.assert_array_equal(_outputs(got['Gs']), expected)


def test_stream_unpickler_reads_large_strings_in_frames():
    """A large byte string inside a protocol-4 frame (hand-made: picklers write large ones unframed) is read
    from the frame, not taken as file data."""
    payload = b'x' * SKIP_MIN
    body = b'\x8e' + len(payload).to_bytes(8, 'little') + payload + b'.'
    raw = b'\x80\x04\x95' + len(body).to_bytes(8, 'little') + body
    f = PickleFile(io.BytesIO(raw), 'framed')
    assert f.load(StreamUnpickler) == payload
    assert pickle.loads(raw) == payload


def test_weights_read_through_the_scratch_equal_the_file(monkeypatch):
    """The weights whose bytes stay in the file until built are read into one reused buffer and copied into
    TensorFlow from there (tfstate.InitialValues, misc.tensor_copy): each equals the stored array, although the
    buffer was overwritten by every weight after it."""
    from sg2tf.nvidia import tfstate
    copied = []
    original = tfstate.tensor_copy

    def spy(array):
        copied.append(array.shape)
        return original(array)
    monkeypatch.setattr(tfstate, 'tensor_copy', spy)
    nets = legacy.load_network_pkl(os.path.join(DATA, 'f32.pkl'))
    assert len(copied) >= 10, copied  # the larger weights of G, D and Gs
    _, _, Gs = restricted_load(os.path.join(DATA, 'f32.pkl'))
    for component in ('synthesis', 'mapping'):
        stored = dict(Gs.state['components'][component].state['variables'])
        prefix = 'G_synthesis/' if component == 'synthesis' else 'G_mapping/'
        for name, value in stored.items():
            np.testing.assert_array_equal(nets['Gs'].get_var(prefix + name), value, err_msg=name)
