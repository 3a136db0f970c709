"""Shape checks at network boundaries: one-line ValueErrors that name the layer and both shapes."""
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
