"""ONNX export: every family's fixture, conditional and unconditional, batch 1 and 4, run in onnxruntime in a
fresh process that imports neither sg2tf nor TensorFlow, equals the Keras model; metadata; the command's
refusals and its check against TensorFlow."""
import json
import os

import numpy as np
import pytest

import onnx  # noqa: E402
import tf2onnx  # noqa: E402

from conftest import DATA, rel_err  # noqa: E402
from export_cases import BATCHES, FAMILIES, assert_matches, case_inputs, run_in_runtime  # noqa: E402
from sg2tf import export as ex  # noqa: E402
from sg2tf.cli import export_onnx as cli  # noqa: E402
from sg2tf.cli._common import ToolError  # noqa: E402

FLOAT_FAMILIES = ('f32', 'e16cond', 'ada64')  # the synthesis (float) part: fewer, to keep the file fast
CASES = [(f, 'full') for f in FAMILIES] + [(f, 'synthesis') for f in FLOAT_FAMILIES]


@pytest.fixture(scope='module')
def results(loaded, tmp_path_factory):
    """(cases {key: (G, inputs, part, path)}, runner outputs): every family's full export, three families'
    synthesis, the mapping of e16cond and a random-noise synthesis of f32, all run in one onnxruntime process."""
    tmp = tmp_path_factory.mktemp('onnx')
    cases, jobs = {}, []
    todo = [(f, p, 'const') for f, p in CASES] + [('e16cond', 'mapping', 'const'),
                                                                 ('f32', 'synthesis', 'random')]
    for fixture, part, noise in todo:
        nets, ref, _ = loaded(fixture)
        G = nets['Gs']
        key = f'{fixture}-{part}-{noise}'
        path = str(tmp / f'{key}.onnx')
        inputs = case_inputs(G, ref)
        cli.export_onnx(G, path, part, noise_mode=noise, check=False)
        np.savez(tmp / f'{key}.npz', **inputs)
        cases[key] = (G, inputs, part, path)
        jobs.append({'key': key, 'model': path, 'inputs': str(tmp / f'{key}.npz'), 'batches': list(BATCHES)})
    return cases, run_in_runtime('onnx', jobs, tmp)


def test_fresh_process_has_only_the_runtime(results):
    _, out = results
    assert list(out['imported']) == []  # neither sg2tf nor TensorFlow nor Keras


@pytest.mark.parametrize('fixture,part', CASES)
def test_onnxruntime_matches_keras(results, fixture, part):
    cases, out = results
    key = f'{fixture}-{part}-const'
    G, inputs, _, _ = cases[key]
    for batch in BATCHES:
        assert_matches(out[f'{key}/b{batch}'], G, inputs, part, batch)
        np.testing.assert_array_equal(out[f'{key}/b{batch}/again'], out[f'{key}/b{batch}'])
    want_in = ['w'] if part == 'synthesis' else ['z'] + (['labels'] if G.label_size else []) + ['truncation_psi']
    assert list(out[f'{key}/inputs']) == want_in and list(out[f'{key}/outputs']) == ['images']


def test_mapping_part(results):
    cases, out = results
    G, inputs, _, _ = cases['e16cond-mapping-const']
    for batch in BATCHES:
        assert_matches(out[f'e16cond-mapping-const/b{batch}'], G, inputs, 'mapping', batch)
    assert list(out['e16cond-mapping-const/outputs']) == ['w']


def test_random_noise(results):
    """Fresh noise per run: differs between runs and from the const-noise images; finite."""
    cases, out = results
    G, inputs, _, _ = cases['f32-synthesis-random']
    a, b = out['f32-synthesis-random/b4'], out['f32-synthesis-random/b4/again']
    assert np.all(np.isfinite(a)) and rel_err(a, b) > 1e-3
    assert rel_err(a, out['f32-synthesis-const/b4']) > 1e-3


def test_metadata_and_dynamic_batch(results):
    cases, out = results
    meta = json.loads(str(out['e16cond-full-const/metadata']))
    assert meta['opset'] == str(cli.DEFAULT_OPSET) and meta['converter'] == f'tf2onnx {tf2onnx.__version__}'
    assert (meta['part'], meta['noise_mode'], meta['resolution'], meta['label_size']) == ('full', 'const', '16', '4')
    model = onnx.load(cases['e16cond-full-const'][3])
    assert [o.version for o in model.opset_import if o.domain in ('', 'ai.onnx')] == [cli.DEFAULT_OPSET]
    z = model.graph.input[0].type.tensor_type
    assert [d.dim_param or d.dim_value for d in z.shape.dim] == ['N', 512]
    out_t = model.graph.output[0].type.tensor_type
    assert out_t.elem_type == onnx.TensorProto.UINT8
    assert [d.dim_param or d.dim_value for d in out_t.shape.dim] == ['N', 16, 16, 3]
    onnx.checker.check_model(model)


def _one_line_error(capsys):
    err = capsys.readouterr().err.strip()
    assert err.startswith('error: ') and '\n' not in err, err
    return err


def test_command(tmp_path, capsys):
    """The command with its runtime check, an existing output, bad arguments: one line, nothing written."""
    out = tmp_path / 'G.onnx'
    net = os.path.join(DATA, 'ada64.pkl')
    assert cli.main(['--network', net, '--out', str(out), '--opset', '15', '--trunc-cutoff', '4']) == 0
    printed = capsys.readouterr().out
    assert 'opset 15' in printed and 'onnxruntime check: batch 1: uint8 max diff' in printed
    props = {p.key: p.value for p in onnx.load(str(out)).metadata_props}
    assert props['opset'] == '15' and props['truncation_cutoff'] == '4' and props['network_class'] == 'AdaGenerator'
    assert cli.main(['--network', net, '--out', str(out)]) == 1
    assert 'file exists (pass --overwrite' in _one_line_error(capsys)
    assert cli.main(['--network', net, '--out', str(tmp_path / 'b.onnx'), '--opset', '99']) == 1
    assert '--opset must be between 7 and' in _one_line_error(capsys)
    assert cli.main(['--network', net, '--out', str(tmp_path / 'b.onnx'), '--part', 'mapping',
                     '--noise-mode', 'random']) == 1
    assert 'mapping part has no noise' in _one_line_error(capsys)
    assert cli.main(['--network', os.path.join(DATA, 'missing.pkl'), '--out', str(tmp_path / 'b.onnx')]) == 1
    assert 'no such file' in _one_line_error(capsys)
    assert sorted(os.listdir(tmp_path)) == ['G.onnx']


def test_unfaithful_graph_is_refused(loaded, tmp_path, monkeypatch):
    """The check compares onnxruntime with TensorFlow: a runtime result off by 1e-3 refuses the export."""
    G = loaded('f32')[0]['Gs']
    run = ex.run_onnx
    monkeypatch.setattr(ex, 'run_onnx', lambda data, x: run(data, x) * np.float32(1.001))
    with pytest.raises(ToolError, match=r'relative error 1\.0\de-03 > 0.0001\); refusing to write an unfaithful'):
        cli.export_onnx(G, str(tmp_path / 'G.onnx'), 'synthesis')
    assert os.listdir(tmp_path) == []
