"""On the CPU the highest-resolution synthesis blocks run in horizontal bands (networks._run_in_bands): same
images as the whole-image blocks and as NVIDIA's reference arrays (relative error <= 1e-4).

The fixtures are 32-64 px, below BAND_FROM_RES (512), so the tests lower it and the band height."""
import os

import numpy as np
import pytest
import tensorflow as tf

import legacy
from sg2tf import networks
from conftest import DATA, rel_err
from test_per_sample_blocks import _count_calls

TOL = 1e-4
WHOLE = 1 << 30  # BAND_FROM_RES above every block: no bands


def _load(name):
    Gs = legacy.load_network_pkl(os.path.join(DATA, f'{name}.pkl'), networks=('Gs',))['Gs']
    ref = dict(np.load(os.path.join(DATA, f'{name}.npz')))
    return Gs, ref, ref['latents'], (ref['labels'] if ref['labels'].shape[1] else None)


@pytest.mark.parametrize('name', ['f32', 'origskip32', 'resorig32gray', 'ada64', 'adapt32cond'])
@pytest.mark.parametrize('rows', [8, 12])  # 12: the last band is shorter
def test_bands_match_whole_image_and_reference(name, rows, monkeypatch):
    Gs, ref, z, labels = _load(name)
    monkeypatch.setattr(networks, 'BAND_FROM_RES', WHOLE)
    whole = Gs(z, labels, truncation_psi=1.0).numpy()
    calls = _count_calls(Gs.synthesis.blocks[-1])
    monkeypatch.setattr(networks, 'BAND_FROM_RES', 16)
    monkeypatch.setattr(networks, 'BAND_ROWS', rows)
    banded = Gs(z, labels, truncation_psi=1.0).numpy()
    res = Gs.synthesis.blocks[-1].res
    assert calls[0] == -(-res // rows)  # once per band (the batch together: PER_SAMPLE_BLOCKS_FROM_RES is 256)
    assert rel_err(banded, whole) <= 1e-6
    assert rel_err(np.transpose(banded, [0, 3, 1, 2]), ref['images_psi1']) <= TOL


def test_bands_in_a_tf_function_with_explicit_and_random_noise(monkeypatch):
    """Compiled (the bands then run one after the other through control dependencies), batched (batch above the
    per-sample range) and per sample: explicit per-sample noise is sliced per band as the whole image uses it."""
    Gs, _, _, _ = _load('f32')
    z = np.random.RandomState(0).randn(3, Gs.latent_size).astype(np.float32)
    rnd = np.random.RandomState(1)
    noise = [rnd.randn(3, s, s, 1).astype(np.float32)
             for s in (networks.arch.noise_resolution(k) for k in range(Gs.synthesis.num_layers - 1))]
    monkeypatch.setattr(networks, 'BAND_FROM_RES', WHOLE)
    whole = Gs(z, noise=noise).numpy()
    monkeypatch.setattr(networks, 'BAND_FROM_RES', 8)
    monkeypatch.setattr(networks, 'BAND_ROWS', 8)
    for max_batch in (0, 8):
        monkeypatch.setattr(networks, 'PER_SAMPLE_BLOCKS_MAX_BATCH', max_batch)
        fn = tf.function(lambda z: Gs(z, noise=noise), autograph=False)
        assert rel_err(fn(tf.constant(z)).numpy(), whole) <= 1e-6
    random = Gs(z, noise_mode='random').numpy()
    assert random.shape == whole.shape and np.all(np.isfinite(random))


def test_band_margin_is_needed(monkeypatch):
    """The margin is what makes bands exact: without it the band edges differ (so the tests above can fail)."""
    Gs, _, z, labels = _load('f32')
    monkeypatch.setattr(networks, 'BAND_FROM_RES', WHOLE)
    whole = Gs(z, labels).numpy()
    monkeypatch.setattr(networks, 'BAND_FROM_RES', 16)
    monkeypatch.setattr(networks, 'BAND_ROWS', 8)
    monkeypatch.setattr(networks, '_band_margin', lambda block: 0)
    assert rel_err(Gs(z, labels).numpy(), whole) > 1e-3


def test_compiled_bands_are_one_loop(monkeypatch):
    """Compiled, the bands are one tf.while_loop: the graph holds the banded blocks once whatever the band count
    (4, 8 and 3 bands, the last of those starting early to keep the height), with the whole image's output."""
    Gs, _, z, labels = _load('f32')
    monkeypatch.setattr(networks, 'BAND_FROM_RES', WHOLE)
    whole = Gs(z, labels).numpy()
    monkeypatch.setattr(networks, 'BAND_FROM_RES', 16)
    sizes = []
    for rows in (8, 4, 12):
        monkeypatch.setattr(networks, 'BAND_ROWS', rows)
        fn = tf.function(lambda z, c: Gs(z, c), autograph=False)
        assert rel_err(fn(z, labels).numpy(), whole) <= 1e-6, rows
        graph = fn.get_concrete_function(z, labels).graph
        loops = [op for op in graph.get_operations() if op.type in ('While', 'StatelessWhile')]
        assert len(loops) == 1, rows
        sizes.append(len(graph.get_operations()))
    assert sizes[0] == sizes[1], sizes  # 4 or 8 bands: the same graph


def test_dynamic_batch_bands_are_unrolled(monkeypatch):
    """Traced for any batch size (as the exports are), the bands are unrolled: no loop and no TensorArray, whose
    shape the TFLite converter needs static; same images."""
    Gs, _, z, labels = _load('f32')
    monkeypatch.setattr(networks, 'BAND_FROM_RES', WHOLE)
    whole = Gs(z, labels).numpy()
    monkeypatch.setattr(networks, 'BAND_FROM_RES', 16)
    monkeypatch.setattr(networks, 'BAND_ROWS', 12)
    fn = tf.function(lambda z: Gs(z), input_signature=[tf.TensorSpec([None, Gs.latent_size])], autograph=False)
    assert rel_err(fn(z).numpy(), whole) <= 1e-6
    types = {op.type for op in fn.get_concrete_function().graph.get_operations()}
    assert not types & {'While', 'StatelessWhile', 'TensorListReserve'}, types


def test_gradients_through_the_band_loop(monkeypatch):
    """Training on the CPU differentiates through the bands: compiled, the band loop's gradients with respect to
    the weights equal the whole image's."""
    Gs, _, z, labels = _load('f32')
    weights = Gs.synthesis.trainable_weights

    def grads():
        @tf.function(autograph=False)
        def fn(z):
            with tf.GradientTape() as tape:
                loss = tf.reduce_sum(tf.square(Gs(z, labels, noise_mode='const')))
            return tape.gradient(loss, weights)
        return [g.numpy() for g in fn(tf.constant(z))]
    monkeypatch.setattr(networks, 'BAND_FROM_RES', WHOLE)
    whole = grads()
    monkeypatch.setattr(networks, 'BAND_FROM_RES', 16)
    monkeypatch.setattr(networks, 'BAND_ROWS', 12)
    banded = grads()
    for w, a, b in zip(weights, banded, whole):
        assert rel_err(a, b) <= 1e-5, w.path
