"""Low-level ops used by the networks: `upfirdn2d` (resampling with a FIR filter), `conv2d_resample`
(convolution with FIR up/down-sampling) and `bias_act`.

Each op has a pure-TensorFlow reference path (always available, differentiable to any order, XLA friendly)
behind one function signature, so a faster implementation (a custom op) can slot in via `impl=`.
"""
from sg2tf.ops.impl import IMPLS, default_impl, get_default_impl, set_default_impl
from sg2tf.ops.activations import ACTIVATIONS, split_gain
from sg2tf.ops.bias_act import bias_act
from sg2tf.ops.upfirdn2d import downsample_2d, setup_filter, upfirdn2d, upsample_2d
from sg2tf.ops.conv2d_resample import conv2d_resample, conv_downsample_2d, upsample_conv_2d

__all__ = ['IMPLS', 'set_default_impl', 'get_default_impl', 'default_impl', 'ACTIVATIONS', 'split_gain', 'bias_act',
           'setup_filter', 'upfirdn2d', 'upsample_2d', 'downsample_2d', 'conv2d_resample', 'upsample_conv_2d',
           'conv_downsample_2d']
