"""Fused bias + activation + gain + clamp, pure TensorFlow reference.

Mirrors NVIDIA dnnlib/tflib/ops/fused_bias_act.py: fused_bias_act (and its `impl='ref'` path, _fused_bias_act_ref).
"""
from __future__ import annotations

import tensorflow as tf

from sg2tf.ops import activations, custom
from sg2tf.ops.activations import ACTIVATIONS, Activation
from sg2tf.ops.impl import resolve

__all__ = ['ACTIVATIONS', 'Activation', 'bias_act']


_CONTRACTIONS = ('Conv2D', 'MatMul', 'DepthwiseConv2dNative', 'Conv2DBackpropInput')


def _from_contraction(x: tf.Tensor) -> bool:
    """True when graph tensor `x` comes straight out of a convolution or matmul (eager tensors have no op)."""
    try:
        return x.op.type in _CONTRACTIONS
    except AttributeError:
        return False


def bias_act(x: tf.Tensor, b: tf.Tensor | None = None, act: str = 'linear', alpha: float | None = None,
             gain: float | None = None, clamp: float | None = None, axis: int = -1,
             impl: str = 'auto', noise: tf.Tensor | None = None) -> tf.Tensor:
    """`y = clip(act(x + b + noise, alpha) * gain, -clamp, clamp)`, `b` broadcast along `axis` (channels-last:
    -1), `noise` (StyleGAN's per-pixel noise term, optional) broadcast to `x`.

    `alpha` and `gain` default to the activation's NVIDIA defaults (lrelu: 0.2 and sqrt(2)). The reference path
    adds the bias of a convolution's or matmul's output with BiasAdd and the noise after it: Conv2D/MatMul ->
    BiasAdd -> Add -> activation is the chain TensorFlow's remapper fuses (see `activations.split_gain` for the
    gain). Elsewhere it is a broadcast add (tf2onnx mis-infers a BiasAdd after the demodulation's Mul).
    """
    spec = activations.get(act)
    alpha = spec.default_alpha if alpha is None else float(alpha)
    gain = spec.default_gain if gain is None else float(gain)
    x = tf.convert_to_tensor(x)
    if resolve(impl) == 'custom':
        if noise is not None:
            x = x + tf.cast(noise, x.dtype)
            noise = None
        rank = x.shape.rank
        if x.dtype == tf.float32 and rank is not None and rank >= 1 and axis % rank == rank - 1:
            return custom.bias_act(x, b, act, alpha, gain, clamp)
        if impl == 'custom':
            raise ValueError(f'bias_act impl="custom" needs float32 x with the bias on the last axis; got {x.dtype}, '
                             f'axis {axis} of rank {rank}')
    if b is not None:
        b = tf.cast(b, x.dtype)
        rank = x.shape.rank
        axis = axis % rank
        x = (tf.nn.bias_add(x, b) if axis == rank - 1 and rank >= 2 and _from_contraction(x) else
             x + tf.reshape(b, [-1 if i == axis else 1 for i in range(rank)]))
    if noise is not None:
        x = x + tf.cast(noise, x.dtype)
    x = spec.func(x, alpha)
    if gain != 1:
        x = x * gain
    if clamp is not None and clamp >= 0:
        x = tf.clip_by_value(x, -clamp, clamp)
    return x
