"""safetensors: every family's networks round trip bit for bit (weights under their NVIDIA names, class and
config from the metadata); sg2tf-convert to and from .safetensors; the header is checked before any data is read."""
import json
import os
import struct

import numpy as np
import pytest


from safetensors.numpy import load_file, save_file  # noqa: E402

from conftest import DATA  # noqa: E402
from sg2tf.cli import convert as cv  # noqa: E402
from sg2tf.safetensors_io import SafetensorsError, load_safetensors, read_header, save_safetensors  # noqa: E402

FAMILIES = ('f32', 'e16cond', 'revised32', 'sg1_128cond', 'ada64', 'adapt32cond', 'origskip32', 'resorig32gray')


@pytest.mark.parametrize('fixture', FAMILIES)
def test_round_trip_bit_for_bit(loaded, fixture, tmp_path):
    nets = loaded(fixture)[0]
    for key in ('Gs', 'D'):
        net = nets[key]
        path = str(tmp_path / f'{key}.safetensors')
        save_safetensors(net, path)
        stored = load_file(path)
        assert list(stored) == sorted(net.vars)  # every weight under its NVIDIA name, NVIDIA layout
        for name, value in net.vars.items():
            np.testing.assert_array_equal(stored[name], value)
        back = load_safetensors(path)
        assert type(back) is type(net) and back.get_config() == net.get_config()
        assert list(back.vars) == list(net.vars)
        for name, value in net.vars.items():
            assert back.vars[name].tobytes() == value.tobytes(), name
    G = load_safetensors(str(tmp_path / 'Gs.safetensors'))
    z = np.random.RandomState(0).randn(2, G.latent_size).astype(np.float32)
    c = np.eye(G.label_size, dtype=np.float32)[[0, 1]] if G.label_size else None
    np.testing.assert_array_equal(G(z, c, noise_mode='const').numpy(), nets['Gs'](z, c, noise_mode='const').numpy())


def test_convert_command_pkl_to_safetensors_and_back(tmp_path, capsys):
    st, pkl = str(tmp_path / 'Gs.safetensors'), str(tmp_path / 'Gs.pkl')
    assert cv.main(['--in', os.path.join(DATA, 'adapt32cond.pkl'), '--out', st]) == 0
    assert cv.main(['--in', os.path.join(DATA, 'e16cond.pkl'), '--net', 'D', '--out', str(tmp_path / 'D.safetensors')]) == 0
    meta, _ = read_header(st)
    assert meta['format'] == 'sg2tf' and meta['registered_name'] == 'sg2tf>AdaGenerator'
    assert json.loads(meta['config'])['label_size'] == 3
    assert cv.main(['--in', st, '--out', pkl]) == 0
    assert cv.main(['--in', st, '--out', str(tmp_path / 'Gs.keras')]) == 0
    from sg2tf.nvidia import load_network_pkl
    a, b = load_network_pkl(os.path.join(DATA, 'adapt32cond.pkl'))['Gs'], load_network_pkl(pkl)
    assert all(a.vars[n].tobytes() == b.vars[n].tobytes() for n in a.vars) and list(a.vars) == list(b.vars)
    assert cv.main(['--in', st, '--out', st]) == 1
    assert 'file exists' in capsys.readouterr().err


def _write_raw(path, header: dict, data: bytes, length=None):
    raw = json.dumps(header).encode()
    with open(path, 'wb') as f:
        f.write(struct.pack('<Q', len(raw) if length is None else length) + raw + data)


@pytest.fixture(scope='module')
def good(tmp_path_factory, loaded):
    path = str(tmp_path_factory.mktemp('st') / 'G.safetensors')
    save_safetensors(loaded('f32')[0]['Gs'], path)
    with open(path, 'rb') as f:
        n = struct.unpack('<Q', f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    return path, header, data


def _refused(path, match):
    with pytest.raises(SafetensorsError, match=match):
        load_safetensors(str(path))
    assert cv.main(['--in', str(path), '--out', str(path) + '.keras']) == 1
    assert not os.path.exists(str(path) + '.keras')


def test_header_checks(good, tmp_path, capsys):
    path, header, data = good
    bad = tmp_path / 'bad.safetensors'
    bad.write_bytes(b'1234')
    _refused(bad, 'too short')
    _write_raw(bad, header, data, length=10**15)
    _refused(bad, 'header length 1000000000000000 exceeds the file')
    bad.write_bytes(struct.pack('<Q', 4) + b'\xff\xfe{}')
    _refused(bad, 'header is not JSON')
    _write_raw(bad, header, data[:-4])  # truncated data
    _refused(bad, 'outside the .* data bytes|tensors end at data byte')
    _write_raw(bad, header, data + b'\0' * 8)  # trailing bytes
    _refused(bad, 'tensors end at data byte .* but the file has')
    name = 'mapping/Dense0/weight'
    for field, value, match in (('dtype', 'F64', "dtype 'F64'"), ('shape', [512, -1], 'malformed shape'),
                                ('shape', [512, 511], 'data bytes for shape'),
                                ('data_offsets', [0, 'x'], 'data offsets')):
        h = json.loads(json.dumps(header))
        h[name][field] = value
        _write_raw(bad, h, data)
        _refused(bad, match)
    h = json.loads(json.dumps(header))
    h[name]['data_offsets'] = [0, h[name]['data_offsets'][1] - h[name]['data_offsets'][0]]  # overlaps another
    _write_raw(bad, h, data)
    _refused(bad, 'overlapping or gapped')
    capsys.readouterr()


def test_contents_checked_against_config(good, tmp_path):
    path, header, _ = good
    tensors = load_file(path)
    meta = header['__metadata__']
    bad = str(tmp_path / 'bad.safetensors')
    save_file({**tensors, 'extra/weight': np.zeros(3, np.float32)}, bad, metadata=meta)
    _refused(bad, r'unknown: extra/weight')
    save_file({k: v for k, v in tensors.items() if k != 'dlatent_avg'}, bad, metadata=meta)
    _refused(bad, r'missing: dlatent_avg')
    save_file({**tensors, 'dlatent_avg': np.zeros(7, np.float32)}, bad, metadata=meta)
    _refused(bad, r"tensor 'dlatent_avg' has shape \[7\], expected \[512\]")
    save_file(tensors, bad, metadata={**meta, 'registered_name': 'keras>Dense'})
    _refused(bad, "class 'keras>Dense' is not an sg2tf generator")
    save_file(tensors, bad, metadata={**meta, 'format': 'pt'})
    _refused(bad, "metadata format 'pt'")
    save_file(tensors, bad, metadata={**meta, 'config': '{"resolution": 33}'})
    _refused(bad, 'config does not describe')
