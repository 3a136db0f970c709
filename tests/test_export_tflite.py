"""TFLite export: every family's fixture, conditional and unconditional, batch 1 and 4, run in LiteRT's
interpreter (ai-edge-litert) in a fresh process that imports neither sg2tf nor TensorFlow, equals the Keras
model; float16 weights; the command's refusals and its check against TensorFlow."""
import os

import numpy as np
import pytest


from conftest import DATA, rel_err  # noqa: E402
from export_cases import (BATCHES, FAMILIES, assert_matches, case_inputs, keras_reference,  # noqa: E402
                          run_in_runtime)
from sg2tf import export as ex  # noqa: E402
from sg2tf.cli import export_tflite as cli  # noqa: E402
from sg2tf.cli._common import ToolError  # noqa: E402

FLOAT_FAMILIES = ('f32', 'e16cond', 'ada64')  # the synthesis (float) part: fewer, to keep the file fast
CASES = [(f, 'full') for f in FAMILIES] + [(f, 'synthesis') for f in FLOAT_FAMILIES]
FLOAT16_TOL = 1e-2  # float16 weights: a smaller file, not the same numbers


@pytest.fixture(scope='module')
def results(loaded, tmp_path_factory):
    """(cases {key: (G, inputs, part, path)}, runner outputs): every family's full export, three families'
    synthesis, e16cond's mapping, f32's synthesis with float16 weights and with random noise, all run in one
    LiteRT process."""
    tmp = tmp_path_factory.mktemp('tflite')
    cases, jobs = {}, []
    todo = [(f, p, 'const', False) for f, p in CASES] + [('e16cond', 'mapping', 'const', False),
                                                         ('f32', 'synthesis', 'const', True),
                                                         ('f32', 'synthesis', 'random', False)]
    for fixture, part, noise, f16 in todo:
        nets, ref, _ = loaded(fixture)
        G = nets['Gs']
        key = f'{fixture}-{part}-{noise}' + ('-f16' if f16 else '')
        path = str(tmp / f'{key}.tflite')
        inputs = case_inputs(G, ref)
        cli.export_tflite(G, path, part, noise_mode=noise, float16=f16, check=False)
        np.savez(tmp / f'{key}.npz', **inputs)
        cases[key] = (G, inputs, part, path)
        jobs.append({'key': key, 'model': path, 'signature': ex.SIGNATURES[part], 'inputs': str(tmp / f'{key}.npz'),
                     'batches': list(BATCHES)})
    return cases, run_in_runtime('tflite', jobs, tmp)


def test_fresh_process_has_only_the_runtime(results):
    _, out = results
    assert list(out['imported']) == []  # neither sg2tf nor TensorFlow nor Keras


@pytest.mark.parametrize('fixture,part', CASES)
def test_litert_matches_keras(results, fixture, part):
    cases, out = results
    key = f'{fixture}-{part}-const'
    G, inputs, _, _ = cases[key]
    for batch in BATCHES:
        assert_matches(out[f'{key}/b{batch}'], G, inputs, part, batch)
        np.testing.assert_array_equal(out[f'{key}/b{batch}/again'], out[f'{key}/b{batch}'])
    want_in = ['w'] if part == 'synthesis' else sorted(['z', 'truncation_psi'] + (['labels'] if G.label_size else []))
    assert list(out[f'{key}/inputs']) == want_in and list(out[f'{key}/outputs']) == ['images']


def test_mapping_part(results):
    cases, out = results
    G, inputs, _, _ = cases['e16cond-mapping-const']
    for batch in BATCHES:
        assert_matches(out[f'e16cond-mapping-const/b{batch}'], G, inputs, 'mapping', batch)
    assert list(out['e16cond-mapping-const/outputs']) == ['w']


def test_float16_weights(results):
    cases, out = results
    G, inputs, _, path = cases['f32-synthesis-const-f16']
    err = rel_err(out['f32-synthesis-const-f16/b4'], keras_reference(G, inputs, 'synthesis', 4))
    assert 1e-6 < err <= FLOAT16_TOL  # really float16 (not bit-equal to float32), and still close
    assert os.path.getsize(path) < 0.6 * os.path.getsize(cases['f32-synthesis-const'][3])


def test_random_noise(results):
    cases, out = results
    a, b = out['f32-synthesis-random/b4'], out['f32-synthesis-random/b4/again']
    assert np.all(np.isfinite(a)) and rel_err(a, b) > 1e-3
    assert rel_err(a, out['f32-synthesis-const/b4']) > 1e-3


def _one_line_error(capsys):
    err = capsys.readouterr().err.strip()
    assert err.startswith('error: ') and '\n' not in err, err
    return err


def test_command(tmp_path, capsys):
    out = tmp_path / 'G.tflite'
    net = os.path.join(DATA, 'adapt32cond.pkl')
    assert cli.main(['--network', net, '--out', str(out), '--part', 'synthesis', '--float16']) == 0
    printed = capsys.readouterr().out
    assert 'weights float16' in printed and 'ai-edge-litert check: batch 1: rel err' in printed
    assert cli.main(['--network', net, '--out', str(out)]) == 1
    assert 'file exists (pass --overwrite' in _one_line_error(capsys)
    assert cli.main(['--network', net, '--out', str(tmp_path / 'b.tflite'), '--trunc-cutoff', '-1']) == 1
    assert 'truncation cutoff must be >= 0' in _one_line_error(capsys)
    bad = tmp_path / 'bad.pkl'
    bad.write_bytes(b'not a pickle')
    assert cli.main(['--network', str(bad), '--out', str(tmp_path / 'b.tflite')]) == 1
    assert 'not a pickle' in _one_line_error(capsys)
    assert sorted(os.listdir(tmp_path)) == ['G.tflite', 'bad.pkl']


def test_unfaithful_graph_is_refused(loaded, tmp_path, monkeypatch):
    """A uint8 image off by 2 from TensorFlow's refuses the export."""
    G = loaded('e16cond')[0]['Gs']
    run = ex.run_tflite
    monkeypatch.setattr(ex, 'run_tflite', lambda data, sig, x: np.minimum(run(data, sig, x), 253) + 2)
    with pytest.raises(ToolError, match='uint8 images differ from the network.s by up to 2; refusing'):
        cli.export_tflite(G, str(tmp_path / 'G.tflite'))
    assert os.listdir(tmp_path) == []
