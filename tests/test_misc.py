"""Shape checks at network boundaries: one-line ValueErrors that name the layer and both shapes."""
import os
import sys

import numpy as np
import pytest
import tensorflow as tf

import sg2tf
from sg2tf.misc import assert_shape


@pytest.fixture(scope='module')
def nets():
    G = sg2tf.Generator(resolution=16, latent_size=16, dlatent_size=16,
                        mapping_kwargs=dict(mapping_layers=2, mapping_fmaps=16),
                        synthesis_kwargs=dict(fmap_base=64, fmap_max=16))
    D = sg2tf.Discriminator(resolution=16, fmap_base=64, fmap_max=16)
    G.build()
    D.build()
    return G, D


def _one_line_error(fn, *names):
    with pytest.raises(ValueError) as info:
        fn()
    msg = str(info.value)
    assert '\n' not in msg, msg
    for name in names:
        assert name in msg, msg
    return msg


def test_assert_shape():
    assert_shape(tf.zeros([2, 3]), [None, 3], 'x')
    assert_shape(np.zeros([2, 3]), [2, None], 'x')
    _one_line_error(lambda: assert_shape(tf.zeros([2, 3]), [None, 4], 'layer: x'), 'layer: x', '[?, 4]', '[2, 3]')
    _one_line_error(lambda: assert_shape(tf.zeros([2, 3]), [None, 3, 1], 'x'), '[?, 3, 1]', '[2, 3]')


def test_assert_shape_skips_dims_unknown_at_trace_time():
    @tf.function(input_signature=[tf.TensorSpec([None, None, 3])])
    def f(x):
        assert_shape(x, [4, 5, 3], 'x')
        return x
    assert f(tf.zeros([1, 2, 3])).shape == (1, 2, 3)
    msg = _one_line_error(lambda: tf.function(lambda x: assert_shape(x, [None, None, 4], 'x')).get_concrete_function(
        tf.TensorSpec([None, None, 3])))
    assert msg == 'x: expected shape [?, ?, 4], got [?, ?, 3]'


def test_wrong_shapes_name_the_layer_and_both_shapes(nets):
    G, D = nets
    num_layers = G.synthesis.num_layers
    _one_line_error(lambda: G.synthesis(tf.zeros([2, num_layers - 1, 16])),
                    'synthesis', 'ws', f'[?, {num_layers}, 16]', f'[2, {num_layers - 1}, 16]')
    _one_line_error(lambda: G.mapping(tf.zeros([2, 15])), 'mapping', 'z', '[?, 16]', '[2, 15]')
    _one_line_error(lambda: G(tf.zeros([3, 8])), 'mapping', '[?, 16]', '[3, 8]')
    _one_line_error(lambda: D(tf.zeros([2, 8, 8, 3])), 'D', '[?, 16, 16, 3]', '[2, 8, 8, 3]')
    _one_line_error(lambda: D(tf.zeros([2, 16, 16, 1])), 'D', '[?, 16, 16, 3]', '[2, 16, 16, 1]')


def test_right_shapes_with_dynamic_batch(nets):
    """Inside tf.function with batch None (as in SavedModel export) the checks pass and change nothing."""
    G, D = nets
    g = tf.function(lambda z: G(z), input_signature=[tf.TensorSpec([None, 16])])
    d = tf.function(lambda x: D(x), input_signature=[tf.TensorSpec([None, 16, 16, 3])])
    img = g(tf.random.normal([2, 16]))
    assert img.shape == (2, 16, 16, 3)
    assert d(img).shape == (2, 1)
    _one_line_error(lambda: tf.function(lambda z: G(z)).get_concrete_function(tf.TensorSpec([None, 12])),
                    'mapping', '[?, 16]', '[?, 12]')


def test_run_releases_the_free_heap_after_each_minibatch(nets, monkeypatch):
    """run() trims the C heap after every minibatch slice (its outputs already NumPy), and keeps the outputs."""
    import sg2tf.compat
    from sg2tf import misc
    G, D = nets
    z = np.random.RandomState(0).randn(5, 16).astype(np.float32)
    whole = G.run(z, None, truncation_psi=0.5, randomize_noise=False)
    calls = []
    monkeypatch.setattr(sg2tf.compat, 'release_free_heap', lambda: calls.append(1))
    images, ws = G.run(z, None, truncation_psi=0.5, randomize_noise=False, minibatch_size=2, return_dlatents=True)
    assert len(calls) == 3 and images.shape == (5, 3, 16, 16) and ws.shape[0] == 5
    np.testing.assert_allclose(images, whole, rtol=0, atol=1e-5)
    D.run(images[:4], minibatch_size=4)
    assert len(calls) == 4
    monkeypatch.undo()
    misc.release_free_heap()  # the real one: found once, callable again
    if sys.platform.startswith('linux') and os.path.exists('/lib/x86_64-linux-gnu/libc.so.6'):
        assert misc._MALLOC_TRIM[0] is not None, 'glibc without malloc_trim'
    misc.release_free_heap()


def test_tensor_copy_owns_its_values():
    """misc.tensor_copy of a Scratch view (aligned: read in place by the copying op) and of unaligned, strided and
    empty arrays: each tensor keeps the values it was given after the buffer is reused."""
    from sg2tf.misc import Scratch, tensor_copy
    scratch = Scratch()
    buf = scratch.take(4 * 1000).view(np.float32)
    assert buf.ctypes.data % 64 == 0
    buf[:] = np.arange(1000, dtype=np.float32)
    aligned = tensor_copy(buf.reshape(10, 100))
    unaligned = tensor_copy(np.arange(1001, dtype=np.float32)[1:])
    strided = tensor_copy(buf.reshape(10, 100).T)
    empty = tensor_copy(np.zeros([0, 3], np.float32))
    buf[:] = -1  # the memory the aligned and strided tensors were made from
    np.testing.assert_array_equal(aligned.numpy(), np.arange(1000, dtype=np.float32).reshape(10, 100))
    np.testing.assert_array_equal(strided.numpy(), np.arange(1000, dtype=np.float32).reshape(10, 100).T)
    np.testing.assert_array_equal(unaligned.numpy(), np.arange(1, 1001, dtype=np.float32))
    assert empty.shape == (0, 3)
