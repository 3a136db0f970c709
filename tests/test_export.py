"""SavedModel export: signatures run in a fresh process without sg2tf and match the Keras model;
saved_model_cli lists and runs them; stock ops only; bad input gets one line and leaves nothing behind."""
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

import sg2tf
from conftest import DATA, FIXTURES, rel_err
from sg2tf.cli import export_savedmodel as exp
from sg2tf.cli import stock_ops
from sg2tf.cli._common import ToolError

HERE = os.path.dirname(os.path.abspath(__file__))
TOL = 1e-5
PSI = 0.7
ENV = dict(os.environ, TF_CPP_MIN_LOG_LEVEL='3')
BIN = os.path.dirname(sys.executable)


def _run_signatures(model_dir, inputs, tmp_path):
    """Outputs of every signature, computed by tests/savedmodel_runner.py in a fresh isolated interpreter."""
    np.savez(tmp_path / 'in.npz', **inputs)
    res = subprocess.run([sys.executable, '-I', os.path.join(HERE, 'savedmodel_runner.py'), model_dir,
                          str(tmp_path / 'in.npz'), str(tmp_path / 'out.npz')], capture_output=True, text=True,
                         env=ENV)
    assert res.returncode == 0, res.stderr[-3000:]
    return dict(np.load(tmp_path / 'out.npz'))


def _assert_uint8_matches(u8, keras_float):
    """uint8 equal to NVIDIA's rule on the Keras float output, byte for byte, except where the Keras float lies
    within 1e-5 of a rounding boundary of x * 127.5 + 128: graph-mode TF (grappler fusions) and eager Keras differ
    by float32 round-off (~2e-6 observed), which can flip such a byte by one. Exact equality with the rule is
    asserted separately on the SavedModel's own float output."""
    expected = sg2tf.convert_images_to_uint8(keras_float)
    diff = np.abs(u8.astype(int) - expected.astype(int))
    x = keras_float.astype(np.float64) * 127.5 + 128.0
    near_boundary = np.abs(x - np.round(x)) <= 1e-5 * 127.5
    assert diff.max() <= 1 and np.all(near_boundary[diff == 1]), f'{np.sum(diff > 0)} bytes differ'
    assert np.sum(diff) <= max(1, diff.size // 1000)


def _inputs(G, ref):
    z = ref['latents'][:3]
    inputs = {'z': z, 'psi': np.float32(PSI), 'w': ref['style_mix_dlatents'][:3]}
    if G.label_size:
        inputs['labels'] = ref['labels'][:3]
    return inputs


@pytest.fixture(scope='module')
def exported(loaded, tmp_path_factory):
    """{fixture: (Gs, ref, export base dir)} with the const-noise export of each fixture's Gs."""
    out = {}
    for name in FIXTURES:
        nets, ref, _ = loaded(name)
        base = tmp_path_factory.mktemp(f'export-{name}') / 'model'
        path = exp.export_savedmodel(nets['Gs'], str(base))
        assert path == str(base / '1') and os.path.isfile(base / '1' / 'saved_model.pb')
        assert os.listdir(base) == ['1']  # nothing else (no temporary directories) beside the version
        out[name] = (nets['Gs'], ref, str(base))
    return out


@pytest.mark.parametrize('fixture', FIXTURES)
def test_signatures_match_keras_in_fresh_process(exported, fixture, tmp_path):
    G, ref, base = exported[fixture]
    inputs = _inputs(G, ref)
    got = _run_signatures(os.path.join(base, '1'), inputs, tmp_path)
    assert not got['sg2tf_imported']
    assert sorted(got['signatures']) == ['mapping', 'serving_default', 'synthesis']
    labels = inputs.get('labels')
    w = sg2tf.truncate(G.mapping(inputs['z'], labels), G.dlatent_avg, PSI).numpy()
    assert got['mapping'].shape == w.shape == (3, G.num_layers, G.dlatent_size)
    assert rel_err(got['mapping'], w) <= TOL
    img = G.synthesis(inputs['w'], noise_mode='const').numpy()
    assert got['synthesis'].dtype == np.float32 and got['synthesis'].shape == img.shape
    assert rel_err(got['synthesis'], img) <= TOL
    assert got['synthesis_one'].shape == img[:1].shape and rel_err(got['synthesis_one'], img[:1]) <= TOL
    assert got['serving_default'].dtype == np.uint8 and got['serving_default'].shape == (3, G.resolution,
                                                                                          G.resolution, G.num_channels)
    _assert_uint8_matches(got['serving_default'], G(inputs['z'], labels, truncation_psi=PSI).numpy())
    np.testing.assert_array_equal(got['serving_default_again'], got['serving_default'])  # const: deterministic
    # NVIDIA's rule, exactly, on the SavedModel's own floats (mapping -> synthesis inside the same graph).
    np.testing.assert_array_equal(got['serving_default'], sg2tf.convert_images_to_uint8(got['chained']))
    assert f"input z must have shape [N, {G.latent_size}]; got shape] [3 {G.latent_size - 1}]" in \
        str(got['bad_z_error'])
    assert 'input z: at most 64 samples per request (export --max-batch); got] [65]' in str(got['big_batch_error'])
    assert 'input truncation_psi must be finite' in str(got['nan_psi_error'])


def test_random_noise_export_via_cli(exported, tmp_path, capsys):
    """--noise-mode random: fresh noise per call (synthesis differs between calls and from const), mapping
    unchanged; --overwrite replaces a non-empty directory."""
    G, ref, base = exported['f32']
    target = tmp_path / 'rnd'
    target.mkdir()
    (target / 'old.txt').write_text('x')
    argv = ['--network', os.path.join(DATA, 'f32.pkl'), '--out', str(target), '--noise-mode', 'random']
    assert exp.main(argv) == 1
    assert 'not empty (pass --overwrite' in capsys.readouterr().err
    assert exp.main(argv + ['--overwrite']) == 0
    assert sorted(os.listdir(target)) == ['1'] and sorted(os.listdir(tmp_path)) == ['rnd']
    inputs = _inputs(G, ref)
    got = _run_signatures(str(target / '1'), inputs, tmp_path)
    w = sg2tf.truncate(G.mapping(inputs['z']), G.dlatent_avg, PSI).numpy()
    assert rel_err(got['mapping'], w) <= TOL
    const = G.synthesis(inputs['w'], noise_mode='const').numpy()
    assert rel_err(got['synthesis'], const) > 1e-3
    assert rel_err(got['synthesis'], got['synthesis_again']) > 1e-3
    assert np.all(np.isfinite(got['synthesis']))


def test_saved_model_cli_show_and_run(exported, tmp_path):
    G, ref, base = exported['e16cond']
    cli = os.path.join(BIN, 'saved_model_cli')
    if not os.path.exists(cli):
        pytest.skip('saved_model_cli is not installed next to this Python')
    show = subprocess.run([cli, 'show', '--all', '--dir', os.path.join(base, '1')], capture_output=True,
                          text=True, env=ENV)
    assert show.returncode == 0, show.stderr[-2000:]
    for sig in ('serving_default', 'mapping', 'synthesis'):
        assert f"signature_def['{sig}']" in show.stdout
    assert "inputs['z'] tensor_info" in show.stdout and 'shape: (-1, 512)' in show.stdout
    assert 'dtype: DT_UINT8' in show.stdout and 'shape: (-1, 16, 16, 3)' in show.stdout
    inputs = _inputs(G, ref)
    for key in ('z', 'labels'):
        np.save(tmp_path / f'{key}.npy', inputs[key])
    np.save(tmp_path / 'psi.npy', np.float32(PSI))
    run = subprocess.run([cli, 'run', '--dir', os.path.join(base, '1'), '--tag_set', 'serve',
                          '--signature_def', 'serving_default', '--outdir', str(tmp_path / 'out'),
                          '--inputs', f"z={tmp_path / 'z.npy'};labels={tmp_path / 'labels.npy'};"
                                      f"truncation_psi={tmp_path / 'psi.npy'}"],
                         capture_output=True, text=True, env=ENV)
    assert run.returncode == 0, run.stderr[-2000:]
    images = np.load(tmp_path / 'out' / 'images.npy')
    assert images.dtype == np.uint8 and images.shape == (3, 16, 16, 3)
    _assert_uint8_matches(images, G(inputs['z'], inputs['labels'], truncation_psi=PSI).numpy())


def test_stock_op_check_catches_unknown_op(exported, tmp_path):
    """Rename one op in the exported graph's function library to a custom-op name: the check must fail."""
    from tensorflow.core.protobuf import saved_model_pb2
    _, _, base = exported['f32']
    bad = tmp_path / 'bad'
    shutil.copytree(os.path.join(base, '1'), bad)
    assert 'Conv2D' in stock_ops.graph_ops(str(bad))
    sm = saved_model_pb2.SavedModel()
    sm.ParseFromString((bad / 'saved_model.pb').read_bytes())
    node = next(n for f in sm.meta_graphs[0].graph_def.library.function for n in f.node_def if n.op == 'LeakyRelu')
    node.op = 'Sg2tfFusedBiasAct'
    (bad / 'saved_model.pb').write_bytes(sm.SerializeToString())
    with pytest.raises(ToolError, match='stock TensorFlow does not register: Sg2tfFusedBiasAct$'):
        exp.check_stock_ops(str(bad))  # (the real exports pass the same check inside export_savedmodel)


def _one_line_error(capsys):
    err = capsys.readouterr().err.strip()
    assert err.startswith('error: ') and '\n' not in err, err
    return err


def test_bad_inputs_one_line_and_nothing_written(tmp_path, capsys, monkeypatch):
    bad = tmp_path / 'bad.pkl'
    bad.write_bytes(b'not a pickle at all')
    assert exp.main(['--network', str(bad), '--out', str(tmp_path / 'o')]) == 1
    assert 'not a pickle' in _one_line_error(capsys)
    assert exp.main(['--network', str(tmp_path / 'missing.pkl'), '--out', str(tmp_path / 'o')]) == 1
    assert 'no such file' in _one_line_error(capsys)
    (tmp_path / 'afile').write_text('x')
    net = os.path.join(DATA, 'f32.pkl')
    assert exp.main(['--network', net, '--out', str(tmp_path / 'afile' / 'sub')]) == 1
    assert 'does not exist' in _one_line_error(capsys)
    assert exp.main(['--network', net, '--out', str(tmp_path / 'afile')]) == 1
    assert 'not a directory' in _one_line_error(capsys)
    # A failure after the SavedModel was written (here: the stock-op check) leaves no trace.
    monkeypatch.setattr(exp, 'check_stock_ops', lambda path: (_ for _ in ()).throw(ToolError('boom')))
    assert exp.main(['--network', net, '--out', str(tmp_path / 'o')]) == 1
    assert _one_line_error(capsys) == 'error: boom'
    assert sorted(os.listdir(tmp_path)) == ['afile', 'bad.pkl']


@pytest.mark.skipif(hasattr(os, 'geteuid') and os.geteuid() == 0, reason='root ignores directory permissions')
def test_unwritable_output_directory(tmp_path, capsys):
    ro = tmp_path / 'ro'
    ro.mkdir()
    ro.chmod(0o555)
    try:
        assert exp.main(['--network', os.path.join(DATA, 'f32.pkl'), '--out', str(ro / 'model')]) == 1
        assert 'permission denied' in _one_line_error(capsys)
    finally:
        ro.chmod(0o755)


def test_permission_denied_one_line_and_nothing_written(tmp_path, capsys, monkeypatch):
    """The permission-denied paths without relying on file modes (root, as in CI, ignores them): the fail-fast
    check (os.access says no), the temporary directory (mkdtemp raises PermissionError) and the SavedModel write
    itself (raises PermissionError) each end in one line naming the output, and leave nothing behind."""
    from sg2tf import fileio
    net = os.path.join(DATA, 'f32.pkl')
    ro = tmp_path / 'ro'
    ro.mkdir()
    real_access, real_mkdtemp = os.access, fileio.tempfile.mkdtemp

    monkeypatch.setattr(fileio.os, 'access', lambda p, mode, **kw: os.path.abspath(p) != str(ro)
                        and real_access(p, mode, **kw))
    assert exp.main(['--network', net, '--out', str(ro / 'model')]) == 1
    assert _one_line_error(capsys) == f'error: {ro / "model"}: cannot write to {ro} (permission denied)'
    monkeypatch.setattr(fileio.os, 'access', real_access)

    def no_mkdtemp(*args, dir=None, **kw):
        if dir is not None and os.path.abspath(dir) == str(ro):
            raise PermissionError(13, 'Permission denied', str(ro))
        return real_mkdtemp(*args, dir=dir, **kw)
    monkeypatch.setattr(fileio.tempfile, 'mkdtemp', no_mkdtemp)
    assert exp.main(['--network', net, '--out', str(ro / 'model')]) == 1
    assert _one_line_error(capsys) == f'error: {ro / "model"}: cannot write to {ro} (Permission denied)'
    monkeypatch.setattr(fileio.tempfile, 'mkdtemp', real_mkdtemp)

    def no_write(path, **kw):
        os.makedirs(path)  # something was written before the failure
        raise PermissionError(13, 'Permission denied', os.path.join(path, 'saved_model.pb'))

    def archive_that_cannot_write(*args, real=exp.build_archive, **kw):
        archive = real(*args, **kw)
        archive.write_out = no_write
        return archive
    monkeypatch.setattr(exp, 'build_archive', archive_that_cannot_write)
    assert exp.main(['--network', net, '--out', str(ro / 'model')]) == 1
    err = _one_line_error(capsys)
    assert err.startswith(f'error: {ro}') and err.endswith('saved_model.pb: Permission denied'), err
    assert os.listdir(ro) == []
