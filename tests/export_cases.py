"""Shared by test_export_onnx and test_export_tflite: the fixtures exported, their Keras reference outputs,
the fresh-process runner (tests/export_runner.py) and the uint8 comparison rule."""
import json
import os
import subprocess
import sys

import numpy as np

import sg2tf
from conftest import rel_err

HERE = os.path.dirname(os.path.abspath(__file__))
# One fixture per family: StyleGAN2 F, E conditional, revised (config B-D), StyleGAN1 conditional, ADA-TF,
# ADA-PyTorch conditional.
FAMILIES = ('f32', 'e16cond', 'revised32', 'sg1_128cond', 'ada64', 'adapt32cond')
BATCHES = (1, 4)
PSI = 0.7
TOL = 1e-5
BOUNDARY = 1e-4  # uint8: a byte may differ by one within this distance of a rounding boundary
ENV = dict(os.environ, TF_CPP_MIN_LOG_LEVEL='3')


def case_inputs(G, ref) -> dict:
    """z, labels (conditional), truncation_psi, and w (truncated mapping output) for 4 samples."""
    z = ref['latents'][:4]
    labels = ref['labels'][:4] if G.label_size else None
    out = {'z': z, 'truncation_psi': np.array(PSI, np.float32),
           'w': sg2tf.truncate(G.mapping(z, labels), G.dlatent_avg, 0.5).numpy()}
    if labels is not None:
        out['labels'] = labels
    return out


def keras_reference(G, inputs, part: str, batch: int) -> np.ndarray:
    """The Keras model's float output for the first `batch` samples: images for full and synthesis."""
    if part == 'synthesis':
        return G.synthesis(inputs['w'][:batch], noise_mode='const').numpy()
    labels = inputs['labels'][:batch] if 'labels' in inputs else None
    if part == 'mapping':
        return sg2tf.truncate(G.mapping(inputs['z'][:batch], labels), G.dlatent_avg, PSI).numpy()
    # The exports truncate all W layers by default, in every family; StyleGAN1's Keras call (like NVIDIA's
    # G_style) truncates only when a cutoff is given, so the reference passes cutoff = num_ws (the same for the
    # StyleGAN2 families as cutoff None).
    return G(inputs['z'][:batch], labels, truncation_psi=PSI, truncation_cutoff=G.num_layers,
             noise_mode='const').numpy()


def run_in_runtime(runtime: str, jobs: list, tmp_path) -> dict:
    """Outputs of every job, computed by tests/export_runner.py in one fresh isolated interpreter."""
    with open(tmp_path / 'jobs.json', 'w') as f:
        json.dump(jobs, f)
    res = subprocess.run([sys.executable, '-I', os.path.join(HERE, 'export_runner.py'), runtime,
                          str(tmp_path / 'jobs.json'), str(tmp_path / 'out.npz')], capture_output=True, text=True,
                         env=ENV)
    assert res.returncode == 0, res.stderr[-3000:]
    return dict(np.load(tmp_path / 'out.npz'))


def assert_uint8_matches(u8, keras_float):
    """uint8 equal to NVIDIA's rule on the Keras float output, byte for byte, except where the Keras float lies
    within 1e-4 of a rounding boundary of x * 127.5 + 128 (float32 round-off between runtimes can flip such a
    byte by one; seen up to 1.4e-5 for sg1_128cond in LiteRT), the rule of test_parity; at most 0.1% of bytes."""
    expected = sg2tf.convert_images_to_uint8(keras_float)
    assert u8.dtype == np.uint8 and u8.shape == expected.shape, (u8.dtype, u8.shape, expected.shape)
    diff = np.abs(u8.astype(int) - expected.astype(int))
    x = keras_float.astype(np.float64) * 127.5 + 128.0
    near_boundary = np.abs(x - np.round(x)) <= BOUNDARY * 127.5
    dist = np.abs(x - np.round(x))[diff > 0] / 127.5
    assert diff.max() <= 1 and np.all(near_boundary[diff == 1]), \
        f'{np.sum(diff > 0)} bytes differ (max {diff.max()}), {np.sum((diff == 1) & ~near_boundary)} of them ' \
        f'away from a boundary (up to {dist.max():.1e})'
    assert np.sum(diff) <= max(1, diff.size // 1000)


def assert_matches(got, G, inputs, part: str, batch: int):
    want = keras_reference(G, inputs, part, batch)
    if part == 'full':
        assert_uint8_matches(got, want)
    else:
        assert got.dtype == np.float32 and got.shape == want.shape
        err = rel_err(got, want)
        assert err <= TOL, f'relative error {err:.2e} > {TOL}'
