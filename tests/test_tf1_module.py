"""sg2tf's clean-room TF1 build module (sg2tf/nvidia/tf1_networks.py.txt) run the way NVIDIA's dnnlib runs a pickle's
`build_module_src`: TF1 graph mode (`tf.compat.v1`, v2 behaviour disabled) in a subprocess, with the minimal
dnnlib mock of tests/mock_dnnlib. Variables (names, shapes, trainable flags, creation order) must equal the
fixture pickles written by NVIDIA's code, and outputs must match the fixtures' reference arrays."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

import legacy
from conftest import DATA, FIXTURES
from sg2tf.nvidia.unpickler import restricted_load
from sg2tf.nvidia.stylegan2 import BUILD_MODULE_SRC, TF1_MODULE_PATH

RUNNER = os.path.join(os.path.dirname(__file__), 'tf1_module_runner.py')
TOL = 1e-4  # ||a - b|| / ||b||
BUILD_FUNCS = ['D_stylegan2', 'G_main', 'G_mapping', 'G_synthesis_stylegan2']
WRITTEN_CALLS = ['images_psi05', 'dlatents_psi07_cutoff', 'scores_fakes']
WRITTEN = 'e16cond'  # the conditional fixture: every code path of the module (one fixture keeps the test short)


def _files(name):
    return {key: os.path.join(DATA, f'{name}.{key}') for key in ('pkl', 'npz', 'json')}


@pytest.fixture(scope='module')
def reports(loaded, tmp_path_factory):
    """One subprocess: each fixture rebuilt from the module file, and the WRITTEN fixture from an sg2tf-written
    copy of its pickle with the embedded `build_module_src` (a reduced set of calls)."""
    tmp = tmp_path_factory.mktemp('tf1')
    jobs = [dict(name=name, src=TF1_MODULE_PATH, **_files(name)) for name in FIXTURES]
    nets = loaded(WRITTEN)[0]
    path = tmp / f'{WRITTEN}_sg2tf.pkl'
    legacy.save_network_pkl(path, nets['G'], nets['D'], nets['Gs'])
    jobs.append(dict(_files(WRITTEN), name=WRITTEN + '_written', src=None, only=WRITTEN_CALLS, pkl=str(path)))
    (tmp / 'jobs.json').write_text(json.dumps(jobs))
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL='2', CUDA_VISIBLE_DEVICES='')
    proc = subprocess.run([sys.executable, RUNNER, str(tmp / 'jobs.json'), str(tmp / 'report.json')],
                          capture_output=True, text=True, timeout=900, env=env)
    assert proc.returncode == 0, proc.stderr[-5000:]
    return {r['name']: r for r in json.loads((tmp / 'report.json').read_text())}, jobs


def _assert_same_variables(report, state, trainables, where):
    """Own variables in creation order with the pickle's names and shapes and NVIDIA's trainable flags."""
    want = [[name, list(np.shape(value))] for name, value in state['variables']]
    assert [v[:2] for v in report['variables']] == want, where
    assert [v[2] for v in report['variables']] == trainables['variables'], where
    assert list(report['components']) == list(state['components']), where
    for key, comp in state['components'].items():
        _assert_same_variables(report['components'][key], comp.state, trainables['components'][key],
                               f'{where}/{key}')


def _trainable_flags(entry):
    return {'variables': [v[2] for v in entry['variables']],
            'components': {k: _trainable_flags(c) for k, c in entry['components'].items()}}


@pytest.mark.parametrize('fixture', list(FIXTURES) + [WRITTEN + '_written'])
def test_variables_and_inputs(reports, fixture):
    report = reports[0][fixture]
    fixture = fixture.replace('_written', '')
    states = restricted_load(os.path.join(DATA, f'{fixture}.pkl'))
    with open(os.path.join(DATA, f'{fixture}.json')) as f:
        info = json.load(f)['networks']
    assert report['functions'] == BUILD_FUNCS
    for key, stub in zip(('G', 'D', 'Gs'), states):
        _assert_same_variables(report['networks'][key], stub.state, _trainable_flags(info[key]), key)
    kw = states[0].state['static_kwargs']
    res, labels, channels = kw['resolution'], kw['label_size'], kw['num_channels']
    z_dim, w_dim = kw.get('latent_size', 512), kw.get('dlatent_size', 512)
    num_layers = 2 * int(np.log2(res)) - 2
    for key in ('G', 'Gs'):
        net = report['networks'][key]
        assert net['input_names'] == ['latents_in', 'labels_in']
        assert net['input_shapes'] == [[None, z_dim], [None, labels]]
        assert net['components']['synthesis']['input_names'] == ['dlatents_in']
        assert net['components']['synthesis']['input_shapes'] == [[None, num_layers, w_dim]]
        assert net['components']['mapping']['input_shapes'] == [[None, z_dim], [None, labels]]
    assert report['networks']['D']['input_names'] == ['images_in', 'labels_in']
    assert report['networks']['D']['input_shapes'] == [[None, channels, res, res], [None, labels]]


@pytest.mark.parametrize('fixture', FIXTURES)
def test_outputs_match_nvidia(reports, fixture):
    """Mapping W, Gs/G images (psi 1, 0.5, 0.7 with cutoff; stored noise), truncated W, style-mixing synthesis,
    D scores on reals and on fakes, is_validation (no truncation) and the uint8 conversions."""
    report = reports[0][fixture]
    with open(os.path.join(DATA, f'{fixture}.json')) as f:
        arrays = json.load(f)['arrays']
    floats = {k for k, a in arrays.items() if a['kind'] == 'output' and a['dtype'] == 'float32'}
    assert set(report['rel_err']) == floats | {'validation'}
    bad = {k: e for k, e in report['rel_err'].items() if not e <= TOL}
    assert not bad, bad
    u8 = {k for k, a in arrays.items() if a['kind'] == 'output' and a['dtype'] == 'uint8'}
    assert set(report['uint8']) == u8
    for key, diff in report['uint8'].items():  # equal, or 1 apart where the float lies at a rounding boundary
        assert diff['max_abs_diff'] <= 1 and diff['diffs_near_boundary'], (key, diff)


@pytest.mark.parametrize('fixture', FIXTURES)
def test_training_mode_and_random_noise(reports, fixture):
    """is_training on G: style mixing graph runs, dlatent_avg <- batch_avg + (dlatent_avg - batch_avg) * 0.995;
    randomize_noise (default) draws fresh noise per run."""
    report = reports[0][fixture]
    t = report['training']
    assert t['finite'] and t['dlatent_avg_rel_err'] <= TOL, t
    ref = np.load(os.path.join(DATA, f'{fixture}.npz'))
    assert t['images_shape'] == list(ref['images_psi1'].shape)
    assert t['dlatents_shape'] == list(ref['dlatents'].shape)
    assert report['random_noise_differs']


def test_written_pickle_embeds_module_and_runs(reports):
    """save_network_pkl stores the TF1 module as every network's build_module_src; exec'd from the written
    pickle, it rebuilds networks that reproduce NVIDIA's outputs."""
    report = reports[0][WRITTEN + '_written']
    job = next(j for j in reports[1] if j['name'] == WRITTEN + '_written')
    for net in restricted_load(job['pkl']):
        assert net.state['build_module_src'] == BUILD_MODULE_SRC
        for comp in net.state['components'].values():
            assert comp.state['build_module_src'] == BUILD_MODULE_SRC
    assert report['functions'] == BUILD_FUNCS
    assert sorted(report['rel_err']) == sorted(WRITTEN_CALLS)
    bad = {k: e for k, e in report['rel_err'].items() if not e <= TOL}
    assert not bad, bad
