"""sg2tf's clean-room TF1 module for StyleGAN2 configs B-D (G_synthesis_stylegan_revised, D_stylegan), run the way
NVIDIA's dnnlib runs a pickle's `build_module_src` (tests/tf1_module_runner.py: TF1 graph mode in a subprocess, the
mock dnnlib of tests/mock_dnnlib): variables equal to the revised32 pickle written by NVIDIA's code, outputs equal
to its reference arrays, and an sg2tf-written B-D pickle rebuilt from its embedded module."""
import ast
import json
import os
import subprocess
import sys

import numpy as np
import pytest

import legacy
from conftest import DATA
from sg2tf.nvidia.stylegan2 import BUILD_MODULE_SRC, TF1_MODULE_PATH
from sg2tf.nvidia.unpickler import restricted_load
from test_tf1_module import RUNNER, TOL, _assert_same_variables, _files, _trainable_flags

FIXTURE = 'revised32'
WRITTEN = FIXTURE + '_written'
WRITTEN_CALLS = ['images_psi05', 'dlatents_psi07_cutoff', 'images_style_mix', 'scores_fakes']


@pytest.fixture(scope='module')
def reports(loaded, tmp_path_factory):
    """One subprocess: revised32 rebuilt from the module file (every call), and an sg2tf-written copy of it from
    its embedded `build_module_src` (a reduced set of calls)."""
    tmp = tmp_path_factory.mktemp('tf1_revised')
    nets = loaded(FIXTURE)[0]
    path = tmp / f'{WRITTEN}.pkl'
    legacy.save_network_pkl(path, nets['G'], nets['D'], nets['Gs'])
    jobs = [dict(name=FIXTURE, src=TF1_MODULE_PATH, **_files(FIXTURE)),
            dict(_files(FIXTURE), name=WRITTEN, src=None, only=WRITTEN_CALLS, pkl=str(path))]
    (tmp / 'jobs.json').write_text(json.dumps(jobs))
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL='2', CUDA_VISIBLE_DEVICES='')
    proc = subprocess.run([sys.executable, RUNNER, str(tmp / 'jobs.json'), str(tmp / 'report.json')],
                          capture_output=True, text=True, timeout=900, env=env)
    assert proc.returncode == 0, proc.stderr[-5000:]
    return {r['name']: r for r in json.loads((tmp / 'report.json').read_text())}, jobs


def test_module_defines_the_b_d_build_functions():
    defined = {node.name for node in ast.parse(BUILD_MODULE_SRC).body if isinstance(node, ast.FunctionDef)}
    assert {'G_main', 'G_mapping', 'G_synthesis_stylegan_revised', 'D_stylegan'} <= defined


@pytest.mark.parametrize('job', [FIXTURE, WRITTEN])
def test_variables_and_inputs(reports, job):
    """Own variables of every network and component (lod included): NVIDIA's names, shapes, order, trainable."""
    report = reports[0][job]
    states = restricted_load(os.path.join(DATA, f'{FIXTURE}.pkl'))
    with open(os.path.join(DATA, f'{FIXTURE}.json')) as f:
        info = json.load(f)['networks']
    for key, stub in zip(('G', 'D', 'Gs'), states):
        _assert_same_variables(report['networks'][key], stub.state, _trainable_flags(info[key]), key)
    assert report['networks']['Gs']['components']['synthesis']['variables'][0] == ['lod', [], False]
    assert report['networks']['D']['variables'][0] == ['lod', [], False]
    for key in ('G', 'Gs'):
        net = report['networks'][key]
        assert net['input_names'] == ['latents_in', 'labels_in']
        assert net['input_shapes'] == [[None, 512], [None, 0]]
        assert net['components']['synthesis']['input_names'] == ['dlatents_in']
        assert net['components']['synthesis']['input_shapes'] == [[None, 8, 512]]
    assert report['networks']['D']['input_names'] == ['images_in', 'labels_in']
    assert report['networks']['D']['input_shapes'] == [[None, 3, 32, 32], [None, 0]]


def test_outputs_match_nvidia(reports):
    """Every reference array (mapping W, Gs/G images, truncated W, style-mixing synthesis, D scores, uint8) and
    is_validation (no truncation)."""
    report = reports[0][FIXTURE]
    with open(os.path.join(DATA, f'{FIXTURE}.json')) as f:
        arrays = json.load(f)['arrays']
    floats = {k for k, a in arrays.items() if a['kind'] == 'output' and a['dtype'] == 'float32'}
    assert set(report['rel_err']) == floats | {'validation'}
    bad = {k: e for k, e in report['rel_err'].items() if not e <= TOL}
    assert not bad, bad
    u8 = {k for k, a in arrays.items() if a['kind'] == 'output' and a['dtype'] == 'uint8'}
    assert set(report['uint8']) == u8
    for key, diff in report['uint8'].items():  # equal, or 1 apart where the float lies at a rounding boundary
        assert diff['max_abs_diff'] <= 1 and diff['diffs_near_boundary'], (key, diff)


def test_training_mode_and_random_noise(reports):
    """is_training on G (style mixing, with the synthesis `lod` assigned from G's): dlatent_avg moves with beta
    0.995; randomize_noise (default) draws fresh noise per run."""
    report = reports[0][FIXTURE]
    t = report['training']
    assert t['finite'] and t['dlatent_avg_rel_err'] <= TOL, t
    ref = np.load(os.path.join(DATA, f'{FIXTURE}.npz'))
    assert t['images_shape'] == list(ref['images_psi1'].shape)
    assert t['dlatents_shape'] == list(ref['dlatents'].shape)
    assert report['random_noise_differs']


def test_written_pickle_embeds_module_and_runs(reports):
    report = reports[0][WRITTEN]
    job = next(j for j in reports[1] if j['name'] == WRITTEN)
    for net in restricted_load(job['pkl']):
        assert net.state['build_module_src'] == BUILD_MODULE_SRC
        for comp in net.state['components'].values():
            assert comp.state['build_module_src'] == BUILD_MODULE_SRC
    assert sorted(report['rel_err']) == sorted(WRITTEN_CALLS)
    bad = {k: e for k, e in report['rel_err'].items() if not e <= TOL}
    assert not bad, bad


_LOD_SCRIPT = r'''
import sys, types
sys.path.insert(0, sys.argv[1])
import numpy as np, tensorflow as tf
import dnnlib.tflib as tflib
tf1 = tf.compat.v1
tf1.disable_v2_behavior()
module = types.ModuleType('_tflib_network_import_lod')
exec(compile(open(sys.argv[2]).read(), '<build_module_src>', 'exec'), module.__dict__)
kw = dict(num_channels=3, resolution=8, label_size=0, fmap_base=32, fmap_max=8)
with tf1.Session() as sess:
    S = tflib.Network('G_synthesis', func_name=module.G_synthesis_stylegan_revised, **kw)
    D = tflib.Network('D', func_name=module.D_stylegan, **kw)
    img = S.get_output_for(tf.zeros([2, 4, 512]), randomize_noise=False)
    score = D.get_output_for(img, tf.zeros([2, 0]))
    sess.run(tf1.global_variables_initializer())
    print('lod0', sess.run(score).shape)
    for net in (S, D):
        net.own_vars['lod'].load(np.float32(1.0), sess)
        try:
            sess.run(img if net is S else score)
        except tf.errors.InvalidArgumentError as e:
            print(net.name, 'refused', 'only fully grown' in e.message)
        net.own_vars['lod'].load(np.float32(0.0), sess)
'''


def test_lod_not_zero_fails_in_the_graph(tmp_path):
    """A B-D graph from the module computes only when its `lod` variable is 0 (fully grown)."""
    script = tmp_path / 'lod.py'
    script.write_text(_LOD_SCRIPT)
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL='3', CUDA_VISIBLE_DEVICES='')
    proc = subprocess.run([sys.executable, str(script), os.path.join(os.path.dirname(RUNNER), 'mock_dnnlib'),
                           TF1_MODULE_PATH], capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.split('\n')[:3] == ['lod0 (2, 1)', 'G_synthesis refused True', 'D refused True'], proc.stdout
