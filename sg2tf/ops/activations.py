"""The activations of `bias_act`: one table for the TensorFlow reference path and the compiled kernels.

Mirrors NVIDIA dnnlib/tflib/ops/fused_bias_act.py: `activation_funcs` (function, default alpha, default gain,
kernel index). `code` is the value of the matching enumerator of `enum Act` in cc/sg2_common.h (the C++ kernels
receive it as the `act` attribute); tests/test_ops.py parses that enum and checks it equals this table.
"""
from __future__ import annotations

import math
from typing import Callable, NamedTuple

import tensorflow as tf


class Activation(NamedTuple):
    func: Callable[[tf.Tensor, float], tf.Tensor]  # (x, alpha) -> act(x)
    default_alpha: float
    default_gain: float
    code: int  # C++ `sg2::Act` enumerator
    homogeneous: bool = False  # act(g * v) == g * act(v) for g > 0: the gain may be applied before it


ACTIVATIONS: dict[str, Activation] = {
    'linear': Activation(lambda x, a: x, 0.0, 1.0, 0, True),
    'relu': Activation(lambda x, a: tf.nn.relu(x), 0.0, math.sqrt(2), 1, True),
    'lrelu': Activation(lambda x, a: tf.nn.leaky_relu(x, a), 0.2, math.sqrt(2), 2, True),
    'tanh': Activation(lambda x, a: tf.tanh(x), 0.0, 1.0, 3),
    'sigmoid': Activation(lambda x, a: tf.sigmoid(x), 0.0, 1.0, 4),
    'elu': Activation(lambda x, a: tf.nn.elu(x), 0.0, 1.0, 5),
    'selu': Activation(lambda x, a: tf.nn.selu(x), 0.0, 1.0, 6),
    'softplus': Activation(lambda x, a: tf.nn.softplus(x), 0.0, 1.0, 7),
    'swish': Activation(lambda x, a: tf.sigmoid(x) * x, 0.0, math.sqrt(2), 8),
}


def get(name: str) -> Activation:
    """The table entry for `name`; ValueError naming the known activations otherwise."""
    if name not in ACTIVATIONS:
        raise ValueError(f'bias_act: unknown activation {name!r}; expected one of {sorted(ACTIVATIONS)}')
    return ACTIVATIONS[name]


def split_gain(name: str, gain: float | None = None) -> tuple[float, float]:
    """(before, after): the activation's output gain (None: its default) as a factor for the layer to fold into
    its weights, bias and noise, and the factor left to apply after the activation. A positively homogeneous
    activation (linear, relu, lrelu) takes all of it before (`lrelu(v) * g == lrelu(g * v)`), which leaves the
    convolution followed directly by BiasAdd -> Add -> activation: ops TensorFlow's remapper fuses into it."""
    act = get(name)
    gain = act.default_gain if gain is None else float(gain)
    return (gain, 1.0) if act.homogeneous and gain > 0 else (1.0, gain)


def by_code(code: int) -> str:
    """Name of the activation whose C++ code is `code` (the custom op stores only the code)."""
    for name, act in ACTIVATIONS.items():
        if act.code == code:
            return name
    raise ValueError(f'bias_act: unknown activation code {code}')
