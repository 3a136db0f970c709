"""Fused bias + activation + gain + clamp (NVIDIA `fused_bias_act`), pure TensorFlow reference."""
from __future__ import annotations

import math
from typing import NamedTuple

import tensorflow as tf

from sg2tf.ops.impl import resolve


class Activation(NamedTuple):
    func: object          # callable(x, alpha) -> tensor
    default_alpha: float
    default_gain: float


ACTIVATIONS: dict[str, Activation] = {
    'linear': Activation(lambda x, a: x, 0.0, 1.0),
    'relu': Activation(lambda x, a: tf.nn.relu(x), 0.0, math.sqrt(2)),
    'lrelu': Activation(lambda x, a: tf.nn.leaky_relu(x, a), 0.2, math.sqrt(2)),
    'tanh': Activation(lambda x, a: tf.tanh(x), 0.0, 1.0),
    'sigmoid': Activation(lambda x, a: tf.sigmoid(x), 0.0, 1.0),
    'elu': Activation(lambda x, a: tf.nn.elu(x), 0.0, 1.0),
    'selu': Activation(lambda x, a: tf.nn.selu(x), 0.0, 1.0),
    'softplus': Activation(lambda x, a: tf.nn.softplus(x), 0.0, 1.0),
    'swish': Activation(lambda x, a: tf.sigmoid(x) * x, 0.0, math.sqrt(2)),
}


def bias_act(x: tf.Tensor, b: tf.Tensor | None = None, act: str = 'linear', alpha: float | None = None,
             gain: float | None = None, clamp: float | None = None, axis: int = -1,
             impl: str = 'auto') -> tf.Tensor:
    """`y = clip(act(x + b, alpha) * gain, -clamp, clamp)`, `b` broadcast along `axis` (channels-last: -1).

    `alpha` and `gain` default to the activation's NVIDIA defaults (lrelu: 0.2 and sqrt(2)).
    """
    if act not in ACTIVATIONS:
        raise ValueError(f'bias_act: unknown activation {act!r}; expected one of {sorted(ACTIVATIONS)}')
    spec = ACTIVATIONS[act]
    alpha = spec.default_alpha if alpha is None else float(alpha)
    gain = spec.default_gain if gain is None else float(gain)
    x = tf.convert_to_tensor(x)
    if resolve(impl) == 'custom':
        rank = x.shape.rank
        if x.dtype == tf.float32 and rank is not None and rank >= 1 and axis % rank == rank - 1:
            from sg2tf.ops import custom
            return custom.bias_act(x, b, act, alpha, gain, clamp)
        if impl == 'custom':
            raise ValueError(f'bias_act impl="custom" needs float32 x with the bias on the last axis; got {x.dtype}, '
                             f'axis {axis} of rank {rank}')
    if b is not None:
        b = tf.cast(b, x.dtype)
        rank = x.shape.rank
        axis = axis % rank
        x = x + tf.reshape(b, [-1 if i == axis else 1 for i in range(rank)])
    x = spec.func(x, alpha)
    if gain != 1:
        x = x * gain
    if clamp is not None and clamp >= 0:
        x = tf.clip_by_value(x, -clamp, clamp)
    return x
