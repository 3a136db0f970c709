"""StyleGAN2 building blocks as Keras 3 layers, channels-last (NHWC).

Every weight is stored raw, exactly as in NVIDIA's pickles (equalized learning rate: the runtime scale
`gain / sqrt(fan_in) * lrmul` is applied in `call`), and every layer and weight carries NVIDIA's name,
so `synthesis/8x8/Conv0_up/weight` here is `G_synthesis/8x8/Conv0_up/weight` there.
"""
from __future__ import annotations

import numpy as np
import keras
import tensorflow as tf

from sg2tf import ops

REGISTER = 'sg2tf'
# Non-fused modulated conv with a static batch up to this size modulates the kernels per sample (see below).
PER_SAMPLE_MODCONV_MAX_BATCH = 8


def _normal(std: float) -> keras.initializers.Initializer:
    return keras.initializers.RandomNormal(stddev=std)


def _runtime_fused_modconv() -> bool:
    """Fused (grouped-conv) modulation only on GPU: TF's CPU kernels lack grouped-conv gradients, and on CPU
    one batched conv with the shared kernel (the non-fused path, numerically equivalent) is faster anyway."""
    return bool(tf.config.list_logical_devices('GPU'))


@keras.saving.register_keras_serializable(REGISTER)
class FullyConnectedLayer(keras.layers.Layer):
    """Equalized-LR dense layer (`Dense{i}`, `Dense0`, `Output`): `act(x @ (W * lrmul/sqrt(in)) + b * lrmul)`."""

    def __init__(self, in_features: int, units: int, activation: str = 'linear', lrmul: float = 1.0,
                 use_bias: bool = True, **kwargs):
        super().__init__(**kwargs)
        self.in_features, self.units, self.activation = int(in_features), int(units), activation
        self.lrmul, self.use_bias = float(lrmul), bool(use_bias)

    def build(self, input_shape=None):
        self.weight = self.add_weight(name='weight', shape=(self.in_features, self.units),
                                      initializer=_normal(1.0 / self.lrmul))
        self.bias = self.add_weight(name='bias', shape=(self.units,), initializer='zeros') if self.use_bias else None
        self.built = True

    def call(self, x):
        w = self.weight * np.float32(self.lrmul / np.sqrt(self.in_features))
        x = tf.matmul(x, w)
        b = None if self.bias is None else self.bias * np.float32(self.lrmul)
        return ops.bias_act(x, b, act=self.activation)

    def get_config(self):
        return {**super().get_config(), 'in_features': self.in_features, 'units': self.units,
                'activation': self.activation, 'lrmul': self.lrmul, 'use_bias': self.use_bias}


@keras.saving.register_keras_serializable(REGISTER)
class Conv2dLayer(keras.layers.Layer):
    """Equalized-LR convolution with optional 2x FIR up/down-sampling (D layers, G/D `Skip`).

    `up=2` is NVIDIA's `upsample_conv_2d`, `down=2` its `conv_downsample_2d`; otherwise a stride-1 SAME conv.
    """

    def __init__(self, in_channels: int, filters: int, kernel_size: int, activation: str = 'linear',
                 use_bias: bool = True, up: int = 1, down: int = 1, resample_kernel=(1, 3, 3, 1), **kwargs):
        super().__init__(**kwargs)
        self.in_channels, self.filters, self.kernel_size = int(in_channels), int(filters), int(kernel_size)
        self.activation, self.use_bias, self.up, self.down = activation, bool(use_bias), int(up), int(down)
        self.resample_kernel = None if resample_kernel is None else list(resample_kernel)
        self.resample_filter = ops.setup_filter(self.resample_kernel)

    def build(self, input_shape=None):
        k = self.kernel_size
        self.weight = self.add_weight(name='weight', shape=(k, k, self.in_channels, self.filters),
                                      initializer=_normal(1.0))
        self.bias = self.add_weight(name='bias', shape=(self.filters,), initializer='zeros') if self.use_bias else None
        self.built = True

    def call(self, x):
        w = self.weight * np.float32(1.0 / np.sqrt(self.kernel_size ** 2 * self.in_channels))
        if self.up > 1:
            x = ops.upsample_conv_2d(x, w, self.resample_filter, factor=self.up)
        elif self.down > 1:
            x = ops.conv_downsample_2d(x, w, self.resample_filter, factor=self.down)
        else:
            x = tf.nn.conv2d(x, w, 1, 'SAME')
        return ops.bias_act(x, self.bias, act=self.activation)

    def get_config(self):
        return {**super().get_config(), 'in_channels': self.in_channels, 'filters': self.filters,
                'kernel_size': self.kernel_size, 'activation': self.activation, 'use_bias': self.use_bias,
                'up': self.up, 'down': self.down, 'resample_kernel': self.resample_kernel}


def modulated_conv2d(x: tf.Tensor, weight: tf.Tensor, styles: tf.Tensor, demodulate: bool = True, up: int = 1,
                     resample_filter: np.ndarray | None = None, fused: bool = False) -> tf.Tensor:
    """StyleGAN2 modulated convolution, NHWC. `weight` [k, k, Cin, Cout] already scaled; `styles` [N, Cin].

    fused=False: scale the input per channel, one shared conv, scale the output (demodulation).
    fused=True: NVIDIA's default, per-sample kernels run as one grouped conv (needs grouped-conv gradients
    for training, which TF's CPU kernels lack). Both are the same math (SPEC 0.20).
    """
    x = tf.convert_to_tensor(x)
    weight, styles = tf.cast(weight, x.dtype), tf.cast(styles, x.dtype)
    k, cin, cout = int(weight.shape[0]), int(weight.shape[2]), int(weight.shape[3])
    w = weight[None] * styles[:, None, None, :, None]                       # [N, k, k, Cin, Cout]
    dcoefs = tf.math.rsqrt(tf.reduce_sum(tf.square(w), axis=[1, 2, 3]) + 1e-8) if demodulate else None  # [N, Cout]
    if not fused and x.shape[0] is not None and x.shape[0] <= PER_SAMPLE_MODCONV_MAX_BATCH:
        # Small static batch: modulate/demodulate the (tiny) kernels and run one conv per sample, instead of
        # two full-resolution multiplies on the activations (about 1.5x faster on CPU at 1024x1024).
        if dcoefs is not None:
            w = w * dcoefs[:, None, None, None, :]
        outs = []
        for i in range(x.shape[0]):
            xi = x if x.shape[0] == 1 else x[i:i + 1]
            if up > 1:
                outs.append(ops.upsample_conv_2d(xi, w[i], resample_filter, factor=up))
            else:
                outs.append(tf.nn.conv2d(xi, w[i], 1, 'SAME'))
        return outs[0] if len(outs) == 1 else tf.concat(outs, axis=0)
    if not fused:
        x = x * styles[:, None, None, :]
        if up > 1:
            x = ops.upsample_conv_2d(x, weight, resample_filter, factor=up)
        else:
            x = tf.nn.conv2d(x, weight, 1, 'SAME')
        return x if dcoefs is None else x * dcoefs[:, None, None, :]

    if dcoefs is not None:
        w = w * dcoefs[:, None, None, None, :]
    n = tf.shape(x)[0]
    h, wd = tf.shape(x)[1], tf.shape(x)[2]
    # Grouped conv: batch folded into channels, [1, H, W, N*Cin] with kernel [k, k, Cin, N*Cout].
    xg = tf.reshape(tf.transpose(x, [1, 2, 0, 3]), [1, h, wd, -1])
    wg = tf.reshape(tf.transpose(w, [1, 2, 3, 0, 4]), [k, k, cin, -1])
    if up > 1:
        # Transposed grouped conv == zero-insert + full correlation with the unflipped kernel (SPEC 0.10).
        xg = ops.upfirdn2d(xg, np.ones([1, 1], np.float32), up=up, padding=(k - 1, k - up))
        xg = tf.nn.conv2d(xg, wg, 1, 'VALID')
        p = (resample_filter.shape[0] - up) - (k - 1)
        xg = ops.upfirdn2d(xg, resample_filter, padding=((p + 1) // 2 + up - 1, p // 2 + 1), gain=up ** 2)
    else:
        xg = tf.nn.conv2d(xg, wg, 1, 'SAME')
    oh, ow = tf.shape(xg)[1], tf.shape(xg)[2]
    return tf.transpose(tf.reshape(xg, [oh, ow, n, cout]), [2, 0, 1, 3])


class _ModulatedLayer(keras.layers.Layer):
    """Shared weights of `SynthesisLayer` and `ToRGBLayer`: weight, mod_weight, mod_bias (NVIDIA order)."""

    def __init__(self, in_channels: int, filters: int, kernel_size: int, dlatent_size: int = 512, **kwargs):
        super().__init__(**kwargs)
        self.in_channels, self.filters = int(in_channels), int(filters)
        self.kernel_size, self.dlatent_size = int(kernel_size), int(dlatent_size)

    def _build_modulation(self):
        k = self.kernel_size
        self.weight = self.add_weight(name='weight', shape=(k, k, self.in_channels, self.filters),
                                      initializer=_normal(1.0))
        self.mod_weight = self.add_weight(name='mod_weight', shape=(self.dlatent_size, self.in_channels),
                                          initializer=_normal(1.0))
        self.mod_bias = self.add_weight(name='mod_bias', shape=(self.in_channels,), initializer='zeros')

    def styles(self, w):
        """`w @ (mod_weight / sqrt(w_dim)) + mod_bias + 1` (the +1 is applied at run time, SPEC 0.5)."""
        return tf.matmul(w, self.mod_weight * np.float32(1 / np.sqrt(self.dlatent_size))) + self.mod_bias + 1.0

    def scaled_weight(self):
        return self.weight * np.float32(1 / np.sqrt(self.kernel_size ** 2 * self.in_channels))

    def get_config(self):
        return {**super().get_config(), 'in_channels': self.in_channels, 'filters': self.filters,
                'kernel_size': self.kernel_size, 'dlatent_size': self.dlatent_size}


@keras.saving.register_keras_serializable(REGISTER)
class SynthesisLayer(_ModulatedLayer):
    """Modulated conv -> + noise * noise_strength -> + bias -> lrelu * sqrt(2) (`Conv`, `Conv0_up`, `Conv1`)."""

    def __init__(self, in_channels: int, filters: int, kernel_size: int = 3, dlatent_size: int = 512, up: int = 1,
                 activation: str = 'lrelu', resample_kernel=(1, 3, 3, 1), fused_modconv: bool = True, **kwargs):
        super().__init__(in_channels, filters, kernel_size, dlatent_size, **kwargs)
        self.up, self.activation, self.fused_modconv = int(up), activation, bool(fused_modconv)
        self.resample_kernel = None if resample_kernel is None else list(resample_kernel)
        self.resample_filter = ops.setup_filter(self.resample_kernel)

    def build(self, input_shape=None):
        self._build_modulation()
        self.noise_strength = self.add_weight(name='noise_strength', shape=(), initializer='zeros')
        self.bias = self.add_weight(name='bias', shape=(self.filters,), initializer='zeros')
        self.built = True

    def call(self, x, w, noise=None):
        fused = self.fused_modconv and _runtime_fused_modconv()
        x = modulated_conv2d(x, self.scaled_weight(), self.styles(w), demodulate=True, up=self.up,
                             resample_filter=self.resample_filter, fused=fused)
        if noise is not None:
            x = x + noise * self.noise_strength
        return ops.bias_act(x, self.bias, act=self.activation)

    def get_config(self):
        return {**super().get_config(), 'up': self.up, 'activation': self.activation,
                'resample_kernel': self.resample_kernel, 'fused_modconv': self.fused_modconv}


@keras.saving.register_keras_serializable(REGISTER)
class ToRGBLayer(_ModulatedLayer):
    """1x1 modulated conv without demodulation, + bias, linear (`ToRGB`)."""

    def __init__(self, in_channels: int, filters: int, dlatent_size: int = 512, fused_modconv: bool = True,
                 **kwargs):
        kwargs.pop('kernel_size', None)
        super().__init__(in_channels, filters, 1, dlatent_size, **kwargs)
        self.fused_modconv = bool(fused_modconv)

    def build(self, input_shape=None):
        self._build_modulation()
        self.bias = self.add_weight(name='bias', shape=(self.filters,), initializer='zeros')
        self.built = True

    def call(self, x, w):
        fused = self.fused_modconv and _runtime_fused_modconv()
        x = modulated_conv2d(x, self.scaled_weight(), self.styles(w), demodulate=False, fused=fused)
        return ops.bias_act(x, self.bias)

    def get_config(self):
        return {**super().get_config(), 'fused_modconv': self.fused_modconv}


@keras.saving.register_keras_serializable(REGISTER)
class ConstantInput(keras.layers.Layer):
    """Learned 4x4 input of the synthesis network (`4x4/Const/const`, stored NHWC [1, 4, 4, C])."""

    def __init__(self, channels: int, **kwargs):
        super().__init__(**kwargs)
        self.channels = int(channels)

    def build(self, input_shape=None):
        self.const = self.add_weight(name='const', shape=(1, 4, 4, self.channels), initializer=_normal(1.0))
        self.built = True

    def call(self, batch_size):
        return tf.tile(self.const, [batch_size, 1, 1, 1])

    def get_config(self):
        return {**super().get_config(), 'channels': self.channels}


@keras.saving.register_keras_serializable(REGISTER)
class MinibatchStddevLayer(keras.layers.Layer):
    """Appends the per-group feature stddev as `num_features` extra channels (SPEC 0.13: strided groups)."""

    def __init__(self, group_size: int = 4, num_features: int = 1, **kwargs):
        super().__init__(**kwargs)
        self.group_size, self.num_features = int(group_size), int(num_features)

    def call(self, x):
        n, h, w, c = tf.shape(x)[0], tf.shape(x)[1], tf.shape(x)[2], x.shape[-1]
        g = tf.minimum(self.group_size, n)
        f = self.num_features
        y = tf.reshape(x, [g, -1, h, w, f, c // f])                       # sample b = g_idx * M + m
        y = tf.cast(y, tf.float32)
        y = y - tf.reduce_mean(y, axis=0)
        y = tf.sqrt(tf.reduce_mean(tf.square(y), axis=0) + 1e-8)        # [M, H, W, F, C/F]
        y = tf.reduce_mean(y, axis=[1, 2, 4])                            # [M, F]
        y = tf.cast(tf.reshape(y, [-1, 1, 1, f]), x.dtype)
        y = tf.tile(y, [g, h, w, 1])                                     # [N, H, W, F]
        return tf.concat([x, y], axis=-1)

    def get_config(self):
        return {**super().get_config(), 'group_size': self.group_size, 'num_features': self.num_features}


@keras.saving.register_keras_serializable(REGISTER)
class LabelConcat(keras.layers.Layer):
    """Label embedding of the SG2 mapping network (`LabelConcat/weight`): `c @ W`, used raw (no runtime scale)."""

    def __init__(self, label_size: int, latent_size: int, **kwargs):
        kwargs.setdefault('name', 'LabelConcat')
        super().__init__(**kwargs)
        self.label_size, self.latent_size = int(label_size), int(latent_size)

    def build(self, input_shape=None):
        self.weight = self.add_weight(name='weight', shape=(self.label_size, self.latent_size),
                                      initializer=_normal(1.0))
        self.built = True

    def call(self, c):
        return tf.matmul(tf.cast(c, tf.float32), self.weight)

    def get_config(self):
        return {**super().get_config(), 'label_size': self.label_size, 'latent_size': self.latent_size}
