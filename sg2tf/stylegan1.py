"""StyleGAN (v1) networks, also StyleGAN2 config A: mapping, synthesis, generator (G_style), discriminator (D_basic).

Mirrors NVIDIA training/networks_stylegan.py (NVlabs/stylegan, and the same file in NVlabs/stylegan2), fully
grown (lod 0). Constructor keyword arguments use NVIDIA's static-kwarg names and defaults. Layers and weights
carry NVIDIA's names (`synthesis/8x8/Conv0_up/StyleMod/weight`), channels-last inside.

Differences from StyleGAN2 that matter for the math: every weight scale includes the gain (sqrt(2) unless
stated) and activations have no gain; each synthesis layer ends in noise (per-channel strength), bias, leaky
ReLU, instance norm and an AdaIN style (`StyleMod`); resampling uses a [1, 2, 1] blur, nearest-neighbour
upscaling and box downscaling, fused into transposed / strided convs at resolutions >= 128.
"""
from __future__ import annotations

import numpy as np
import keras
import tensorflow as tf

from sg2tf import arch
from sg2tf.compat import DnnlibDiscriminatorMixin, DnnlibMappingMixin, DnnlibSynthesisMixin
from sg2tf.layers import LabelConcat, MinibatchStddevLayer, const_init, normal_init
from sg2tf.arch import NOISE_MODES
from sg2tf.misc import assert_shape
from sg2tf import networks
from sg2tf.networks import truncate

REGISTER = 'sg2tf.stylegan1'
NONLINEARITIES = ('lrelu', 'relu')
SQRT2 = np.sqrt(2.0)


# -- math shared by the layers (NVIDIA training/networks_stylegan.py, module-level helpers) -----------------------
def nf(stage: int, fmap_base: int = 8192, fmap_decay: float = 1.0, fmap_max: int = 512) -> int:
    """Feature maps at a stage: `min(int(fmap_base / 2**(stage * fmap_decay)), fmap_max)` (no fmap_min here)."""
    return min(int(fmap_base / (2.0 ** (stage * fmap_decay))), int(fmap_max))


def weight_coef(shape, gain: float = SQRT2, use_wscale: bool = True, lrmul: float = 1.0) -> np.float32:
    """Run-time weight multiplier of NVIDIA `get_weight`: `gain / sqrt(fan_in) * lrmul` (`lrmul` without wscale)."""
    he_std = gain / np.sqrt(np.prod(shape[:-1]))
    return np.float32(he_std * lrmul if use_wscale else lrmul)


def weight_init_std(shape, gain: float = SQRT2, use_wscale: bool = True, lrmul: float = 1.0) -> float:
    """Init std of the stored weight: `1 / lrmul` with wscale, else `gain / sqrt(fan_in) / lrmul`."""
    return float(1.0 / lrmul if use_wscale else gain / np.sqrt(np.prod(shape[:-1])) / lrmul)


def activation(x: tf.Tensor, nonlinearity: str) -> tf.Tensor:
    """NVIDIA `leaky_relu` (`max(x, 0.2 x)`) or `tf.nn.relu`; no gain (the gain lives in the weights)."""
    return tf.maximum(x, x * 0.2) if nonlinearity == 'lrelu' else tf.nn.relu(x)


def blur_kernel(blur_filter) -> np.ndarray | None:
    """The normalised 2-D kernel of NVIDIA `blur2d` (outer product of a 1-D filter), None for no blur."""
    if not blur_filter:
        return None
    f = np.array(blur_filter, dtype=np.float32)
    if f.ndim == 1:
        f = f[:, None] * f[None, :]
    return f / np.sum(f)


def blur2d(x: tf.Tensor, kernel: np.ndarray | None) -> tf.Tensor:
    """Depthwise FIR, stride 1, SAME padding (NVIDIA `blur2d`); identity for None."""
    if kernel is None:
        return x
    f = np.tile(kernel[:, :, None, None], [1, 1, int(x.shape[-1]), 1])
    return tf.nn.depthwise_conv2d(x, tf.constant(f, x.dtype), strides=[1, 1, 1, 1], padding='SAME')


def upscale2d(x: tf.Tensor) -> tf.Tensor:
    """Nearest-neighbour 2x (each pixel repeated 2x2; NVIDIA `upscale2d`)."""
    h, w, c = int(x.shape[1]), int(x.shape[2]), int(x.shape[3])
    x = tf.tile(tf.reshape(x, [-1, h, 1, w, 1, c]), [1, 1, 2, 1, 2, 1])
    return tf.reshape(x, [-1, 2 * h, 2 * w, c])


def downscale2d(x: tf.Tensor) -> tf.Tensor:
    """2x2 box average, stride 2 (NVIDIA `downscale2d`)."""
    return tf.nn.avg_pool2d(x, ksize=2, strides=2, padding='VALID')


def _fused_kernel(w: tf.Tensor) -> tf.Tensor:
    """3x3 -> 4x4: zero-pad by 1 and sum the four shifted windows (NVIDIA upscale2d_conv2d / conv2d_downscale2d)."""
    w = tf.pad(w, [[1, 1], [1, 1], [0, 0], [0, 0]])
    return tf.add_n([w[1:, 1:], w[:-1, 1:], w[1:, :-1], w[:-1, :-1]])


def conv2d(x: tf.Tensor, w: tf.Tensor) -> tf.Tensor:
    """Stride-1 SAME convolution with a scaled HWIO kernel (NVIDIA `conv2d`)."""
    return tf.nn.conv2d(x, w, strides=1, padding='SAME')


def upscale2d_conv2d(x: tf.Tensor, w: tf.Tensor, fused: bool) -> tf.Tensor:
    """2x upscale + conv (NVIDIA `upscale2d_conv2d`): fused = one transposed conv, stride 2, SAME, 4x4 kernel."""
    if not fused:
        return conv2d(upscale2d(x), w)
    k = tf.transpose(_fused_kernel(w), [0, 1, 3, 2])                      # [4, 4, Cout, Cin]
    n, h, wd = tf.shape(x)[0], int(x.shape[1]), int(x.shape[2])
    return tf.nn.conv2d_transpose(x, k, [n, 2 * h, 2 * wd, int(w.shape[3])], strides=2, padding='SAME')


def conv2d_downscale2d(x: tf.Tensor, w: tf.Tensor, fused: bool) -> tf.Tensor:
    """Conv + 2x box downscale (NVIDIA `conv2d_downscale2d`): fused = one stride-2 SAME conv, 4x4 kernel / 4."""
    if not fused:
        return downscale2d(conv2d(x, w))
    return tf.nn.conv2d(x, _fused_kernel(w) * 0.25, strides=2, padding='SAME')


def instance_norm(x: tf.Tensor, epsilon: float = 1e-8) -> tf.Tensor:
    """Per sample and channel over H, W: `x - mean`, then `* rsqrt(mean(x^2) + eps)` (NVIDIA `instance_norm`)."""
    x = x - tf.reduce_mean(x, axis=[1, 2], keepdims=True)
    return x * tf.math.rsqrt(tf.reduce_mean(tf.square(x), axis=[1, 2], keepdims=True) + epsilon)


def pixel_norm(x: tf.Tensor, epsilon: float = 1e-8) -> tf.Tensor:
    """Over the channel (last) axis: `x * rsqrt(mean(x^2) + eps)` (NVIDIA `pixel_norm`)."""
    return x * tf.math.rsqrt(tf.reduce_mean(tf.square(x), axis=-1, keepdims=True) + epsilon)


def style_truncate(ws: tf.Tensor, w_avg: tf.Tensor, psi=None, cutoff=None) -> tf.Tensor:
    """NVIDIA G_style's truncation: `lerp(dlatent_avg, w, psi)` on layers < cutoff, applied only when both psi
    and cutoff are set (psi == 1 and cutoff <= 0 count as unset)."""
    if psi is None or cutoff is None:
        return ws
    if not isinstance(cutoff, tf.Tensor) and int(cutoff) <= 0:
        return ws
    return truncate(ws, w_avg, psi, cutoff)


def _check_choice(what: str, value, choices):
    if value not in choices:
        raise ValueError(f'{what} must be one of {list(choices)}, got {value!r}')


def _fused(fused_scale, res: int) -> bool:
    """NVIDIA fused_scale: True, False or 'auto' (= at resolutions >= 128)."""
    _check_choice('fused_scale', fused_scale, (True, False, 'auto'))
    return res >= 128 if fused_scale == 'auto' else bool(fused_scale)


def _where(layer: keras.layers.Layer) -> str:
    return layer.path or layer.name


# -- layers --------------------------------------------------------------------------------------------------------
@keras.saving.register_keras_serializable(REGISTER)
class Dense(keras.layers.Layer):
    """Weight-scaled dense layer + bias + optional activation (`Dense{i}`, D `4x4/Dense0`, `4x4/Dense1`).

    Mirrors NVIDIA training/networks_stylegan.py: dense + apply_bias (+ act): `act(x @ (W * coef) + b * lrmul)`.
    Inputs of rank 4 are flattened in NVIDIA's NCHW order (D `Dense0`).
    """

    def __init__(self, in_features: int, units: int, gain: float = SQRT2, lrmul: float = 1.0,
                 use_wscale: bool = True, activation: str | None = None, **kwargs):
        super().__init__(**kwargs)
        self.in_features, self.units, self.gain, self.lrmul = int(in_features), int(units), float(gain), float(lrmul)
        self.use_wscale, self.activation = bool(use_wscale), activation

    def build(self, input_shape=None):
        shape = (self.in_features, self.units)
        self.weight = self.add_weight(name='weight', shape=shape, initializer=normal_init(
            weight_init_std(shape, self.gain, self.use_wscale, self.lrmul)))
        self.bias = self.add_weight(name='bias', shape=(self.units,), initializer=const_init(0.0))
        self.built = True

    def call(self, x):
        if len(x.shape) == 4:
            x = tf.reshape(tf.transpose(x, [0, 3, 1, 2]), [-1, self.in_features])  # NCHW flatten order
        coef = weight_coef((self.in_features, self.units), self.gain, self.use_wscale, self.lrmul)
        x = tf.matmul(x, self.weight * coef) + self.bias * np.float32(self.lrmul)
        return x if self.activation is None else activation(x, self.activation)

    def get_config(self):
        return {**super().get_config(), 'in_features': self.in_features, 'units': self.units, 'gain': self.gain,
                'lrmul': self.lrmul, 'use_wscale': self.use_wscale, 'activation': self.activation}


@keras.saving.register_keras_serializable(REGISTER)
class Conv2d(keras.layers.Layer):
    """Weight-scaled conv + bias + optional activation: D `FromRGB_lod*`, `Conv0`, `Conv1_down`, `4x4/Conv` and
    G `ToRGB_lod*`.

    Mirrors NVIDIA training/networks_stylegan.py: conv2d / conv2d_downscale2d + apply_bias (+ act). `down`:
    blur, then conv + 2x downscale (fused per `fused`).
    """

    def __init__(self, in_channels: int, filters: int, kernel_size: int, gain: float = SQRT2,
                 use_wscale: bool = True, activation: str | None = None, down: bool = False, fused: bool = False,
                 blur_filter=None, **kwargs):
        super().__init__(**kwargs)
        self.in_channels, self.filters, self.kernel_size = int(in_channels), int(filters), int(kernel_size)
        self.gain, self.use_wscale, self.activation = float(gain), bool(use_wscale), activation
        self.down, self.fused = bool(down), bool(fused)
        self.blur_filter = None if not blur_filter else list(blur_filter)
        self.blur = blur_kernel(self.blur_filter)

    def _shape(self):
        return (self.kernel_size, self.kernel_size, self.in_channels, self.filters)

    def build(self, input_shape=None):
        self.weight = self.add_weight(name='weight', shape=self._shape(), initializer=normal_init(
            weight_init_std(self._shape(), self.gain, self.use_wscale)))
        self.bias = self.add_weight(name='bias', shape=(self.filters,), initializer=const_init(0.0))
        self.built = True

    def call(self, x):
        w = self.weight * weight_coef(self._shape(), self.gain, self.use_wscale)
        x = conv2d_downscale2d(blur2d(x, self.blur), w, self.fused) if self.down else conv2d(x, w)
        x = x + self.bias
        return x if self.activation is None else activation(x, self.activation)

    def get_config(self):
        return {**super().get_config(), 'in_channels': self.in_channels, 'filters': self.filters,
                'kernel_size': self.kernel_size, 'gain': self.gain, 'use_wscale': self.use_wscale,
                'activation': self.activation, 'down': self.down, 'fused': self.fused,
                'blur_filter': self.blur_filter}


@keras.saving.register_keras_serializable(REGISTER)
class NoiseInput(keras.layers.Layer):
    """`x + noise * weight`, one learned strength per channel (`Noise/weight`); NVIDIA `apply_noise`."""

    def __init__(self, channels: int, **kwargs):
        kwargs.setdefault('name', 'Noise')
        super().__init__(**kwargs)
        self.channels = int(channels)

    def build(self, input_shape=None):
        self.weight = self.add_weight(name='weight', shape=(self.channels,), initializer=const_init(0.0))
        self.built = True

    def call(self, x, noise):
        return x + tf.cast(noise, x.dtype) * self.weight

    def get_config(self):
        return {**super().get_config(), 'channels': self.channels}


@keras.saving.register_keras_serializable(REGISTER)
class StyleMod(keras.layers.Layer):
    """AdaIN style: `s = w @ (W * 1/sqrt(w_dim)) + b`, then `x * (s[:, :C] + 1) + s[:, C:]`; NVIDIA `style_mod`."""

    def __init__(self, channels: int, dlatent_size: int = 512, use_wscale: bool = True, **kwargs):
        kwargs.setdefault('name', 'StyleMod')
        super().__init__(**kwargs)
        self.channels, self.dlatent_size, self.use_wscale = int(channels), int(dlatent_size), bool(use_wscale)

    def build(self, input_shape=None):
        shape = (self.dlatent_size, 2 * self.channels)
        self.weight = self.add_weight(name='weight', shape=shape, initializer=normal_init(
            weight_init_std(shape, 1.0, self.use_wscale)))
        self.bias = self.add_weight(name='bias', shape=(2 * self.channels,), initializer=const_init(0.0))
        self.built = True

    def call(self, x, w):
        coef = weight_coef((self.dlatent_size, 2 * self.channels), 1.0, self.use_wscale)
        style = tf.matmul(w, self.weight * coef) + self.bias
        c = self.channels
        return x * (style[:, None, None, :c] + 1.0) + style[:, None, None, c:]

    def get_config(self):
        return {**super().get_config(), 'channels': self.channels, 'dlatent_size': self.dlatent_size,
                'use_wscale': self.use_wscale}


@keras.saving.register_keras_serializable(REGISTER)
class SynthesisLayer(keras.layers.Layer):
    """One styled synthesis layer (`4x4/Const`, `4x4/Conv`, `{R}x{R}/Conv0_up`, `{R}x{R}/Conv1`).

    Mirrors NVIDIA training/networks_stylegan.py: G_synthesis, a `Const` / `conv2d` / `blur(upscale2d_conv2d)`
    followed by its local `layer_epilogue()`: + noise * Noise/weight, + bias, activation, [pixel norm],
    instance norm, StyleMod. `kind`: 'const' (the learned 4x4 input, init ones), 'conv' (3x3) or 'up' (2x
    upscale + 3x3 conv, fused per `fused`, then blur).
    """

    def __init__(self, in_channels: int, filters: int, kind: str = 'conv', dlatent_size: int = 512,
                 nonlinearity: str = 'lrelu', use_wscale: bool = True, use_pixel_norm: bool = False,
                 use_instance_norm: bool = True, fused: bool = False, blur_filter=(1, 2, 1), **kwargs):
        super().__init__(**kwargs)
        _check_choice('kind', kind, ('const', 'conv', 'up'))
        _check_choice('nonlinearity', nonlinearity, NONLINEARITIES)
        self.in_channels, self.filters, self.kind, self.dlatent_size = int(in_channels), int(filters), kind, \
            int(dlatent_size)
        self.nonlinearity, self.use_wscale = nonlinearity, bool(use_wscale)
        self.use_pixel_norm, self.use_instance_norm, self.fused = bool(use_pixel_norm), bool(use_instance_norm), \
            bool(fused)
        self.blur_filter = None if not blur_filter else list(blur_filter)
        self.blur = blur_kernel(self.blur_filter)
        self.noise = NoiseInput(self.filters)
        self.style = StyleMod(self.filters, self.dlatent_size, self.use_wscale)

    def _shape(self):
        return (3, 3, self.in_channels, self.filters)

    def build(self, input_shape=None):
        if self.kind == 'const':
            self.const = self.add_weight(name='const', shape=(1, 4, 4, self.filters), initializer=const_init(1.0))
        else:
            self.weight = self.add_weight(
                name='weight', shape=self._shape(),
                initializer=normal_init(weight_init_std(self._shape(), SQRT2,
                                                                                   self.use_wscale)))
        self.noise.build()
        self.bias = self.add_weight(name='bias', shape=(self.filters,), initializer=const_init(0.0))
        self.style.build()
        self.built = True

    @property
    def weights(self):
        """NVIDIA's creation order: const or conv weight, Noise/weight, bias, StyleMod/weight, StyleMod/bias
        (Keras would list a layer's own variables before its sublayers')."""
        if not self.built:
            return super().weights
        first = self.const if self.kind == 'const' else self.weight
        return [first, *self.noise.weights, self.bias, *self.style.weights]

    def call(self, x, w, noise=None):
        """x: features [N, H, W, Cin] (for 'const': anything with the batch size first); w: [N, w_dim]."""
        if self.kind == 'const':
            x = tf.tile(self.const, [tf.shape(w)[0], 1, 1, 1])
        else:
            k = self.weight * weight_coef(self._shape(), SQRT2, self.use_wscale)
            x = conv2d(x, k) if self.kind == 'conv' else blur2d(upscale2d_conv2d(x, k, self.fused), self.blur)
        if noise is not None:
            x = self.noise(x, noise)
        x = activation(x + self.bias, self.nonlinearity)
        if self.use_pixel_norm:
            x = pixel_norm(x)
        if self.use_instance_norm:
            x = instance_norm(x)
        return self.style(x, w)

    def get_config(self):
        return {**super().get_config(), 'in_channels': self.in_channels, 'filters': self.filters,
                'kind': self.kind, 'dlatent_size': self.dlatent_size, 'nonlinearity': self.nonlinearity,
                'use_wscale': self.use_wscale, 'use_pixel_norm': self.use_pixel_norm,
                'use_instance_norm': self.use_instance_norm, 'fused': self.fused, 'blur_filter': self.blur_filter}


@keras.saving.register_keras_serializable(REGISTER)
class SynthesisBlock(keras.layers.Layer):
    """One resolution of the synthesis network: `4x4` (Const, Conv) or `{R}x{R}` (Conv0_up, Conv1).

    Mirrors NVIDIA training/networks_stylegan.py: G_synthesis, its `4x4` scope and local `block()`.
    """

    def __init__(self, res: int, in_channels: int, out_channels: int, dlatent_size: int = 512,
                 fused_scale='auto', **layer_kwargs):
        layer_kwargs.pop('name', None)
        super().__init__(name=f'{res}x{res}')
        self.res, self.in_channels, self.out_channels = int(res), int(in_channels), int(out_channels)
        self.dlatent_size, self.fused_scale = int(dlatent_size), fused_scale
        self.layer_kwargs = dict(layer_kwargs)
        common = dict(dlatent_size=self.dlatent_size, **self.layer_kwargs)
        if self.res == 4:
            self.conv0 = SynthesisLayer(out_channels, out_channels, 'const', name='Const', **common)
            self.conv1 = SynthesisLayer(out_channels, out_channels, 'conv', name='Conv', **common)
        else:
            self.conv0 = SynthesisLayer(in_channels, out_channels, 'up', fused=_fused(fused_scale, self.res),
                                        name='Conv0_up', **common)
            self.conv1 = SynthesisLayer(out_channels, out_channels, 'conv', name='Conv1', **common)

    def build(self, input_shape=None):
        self.conv0.build()
        self.conv1.build()
        self.built = True

    def call(self, x, ws, noises):
        """ws: the full W [N, num_layers, w_dim]; layer k of the network reads ws[:, k] and noises[k]."""
        first = 2 * arch.log2_resolution(self.res) - 4
        if self.res > 4:
            assert_shape(x, [None, self.res // 2, self.res // 2, self.in_channels], f'{_where(self)} input x')
        x = self.conv0(x, ws[:, first], noises[first])
        x = self.conv1(x, ws[:, first + 1], noises[first + 1])
        return x

    def get_config(self):
        return {'res': self.res, 'in_channels': self.in_channels, 'out_channels': self.out_channels,
                'dlatent_size': self.dlatent_size, 'fused_scale': self.fused_scale, **self.layer_kwargs}


# -- networks ------------------------------------------------------------------------------------------------------
@keras.saving.register_keras_serializable(REGISTER)
class MappingNetwork(DnnlibMappingMixin, keras.Model):
    """z (+ label embedding) -> pixel norm -> `mapping_layers` x (dense, gain sqrt(2), lrmul 0.01; lrelu) -> W.

    Mirrors NVIDIA training/networks_stylegan.py: G_mapping. Output [N, dlatent_broadcast, dlatent_size], or
    [N, dlatent_size] without broadcast.
    """

    def __init__(self, latent_size: int = 512, label_size: int = 0, dlatent_size: int = 512,
                 dlatent_broadcast: int | None = None, mapping_layers: int = 8, mapping_fmaps: int = 512,
                 mapping_lrmul: float = 0.01, mapping_nonlinearity: str = 'lrelu', use_wscale: bool = True,
                 normalize_latents: bool = True, name: str = 'mapping', **kwargs):
        super().__init__(name=name, **kwargs)
        _check_choice('mapping_nonlinearity', mapping_nonlinearity, NONLINEARITIES)
        self.latent_size, self.label_size, self.dlatent_size = int(latent_size), int(label_size), int(dlatent_size)
        self.dlatent_broadcast = None if dlatent_broadcast is None else int(dlatent_broadcast)
        self.mapping_layers, self.mapping_fmaps = int(mapping_layers), int(mapping_fmaps)
        self.mapping_lrmul, self.mapping_nonlinearity = float(mapping_lrmul), mapping_nonlinearity
        self.use_wscale, self.normalize_latents = bool(use_wscale), bool(normalize_latents)
        self.label_concat = LabelConcat(self.label_size, self.latent_size) if self.label_size else None
        fan_in = self.latent_size * (2 if self.label_size else 1)
        self.dense_layers = []
        for i in range(self.mapping_layers):
            units = self.dlatent_size if i == self.mapping_layers - 1 else self.mapping_fmaps
            self.dense_layers.append(Dense(fan_in, units, gain=SQRT2, lrmul=self.mapping_lrmul,
                                           use_wscale=self.use_wscale, activation=mapping_nonlinearity,
                                           name=f'Dense{i}'))
            fan_in = units

    def build(self, input_shape=None):
        if self.label_concat is not None:
            self.label_concat.build()
        for layer in self.dense_layers:
            layer.build()
        self.built = True

    def call(self, z, c=None):
        assert_shape(z, [None, self.latent_size], f'{_where(self)} latents z')
        x = tf.cast(z, tf.float32)
        if self.label_size:
            assert_shape(c, [None, self.label_size], f'{_where(self)} labels c')
            x = tf.concat([x, self.label_concat(c)], axis=1)
        if self.normalize_latents:
            x = pixel_norm(x)
        for layer in self.dense_layers:
            x = layer(x)
        if self.dlatent_broadcast is not None:
            x = tf.tile(x[:, None], [1, self.dlatent_broadcast, 1])
        return x

    def get_config(self):
        return {'name': self.name, 'latent_size': self.latent_size, 'label_size': self.label_size,
                'dlatent_size': self.dlatent_size, 'dlatent_broadcast': self.dlatent_broadcast,
                'mapping_layers': self.mapping_layers, 'mapping_fmaps': self.mapping_fmaps,
                'mapping_lrmul': self.mapping_lrmul, 'mapping_nonlinearity': self.mapping_nonlinearity,
                'use_wscale': self.use_wscale, 'normalize_latents': self.normalize_latents}


@keras.saving.register_keras_serializable(REGISTER)
class SynthesisNetwork(DnnlibSynthesisMixin, keras.Model):
    """W [N, num_layers, dlatent_size] -> images [N, R, R, num_channels] (fully grown: `ToRGB_lod0` only).

    Mirrors NVIDIA training/networks_stylegan.py: G_synthesis with lod = 0. Every `ToRGB_lod{k}` weight of
    progressive growing exists (NVIDIA's pickles store them) but only `ToRGB_lod0` is evaluated. Noise buffers
    `noise{k}`, k < num_layers (two per resolution, 4x4 included), are [1, H, W, 1] here ([1, 1, H, W] in NVIDIA's
    files); buffer k feeds layer k.
    """

    def __init__(self, dlatent_size: int = 512, num_channels: int = 3, resolution: int = 1024,
                 fmap_base: int = 8192, fmap_decay: float = 1.0, fmap_max: int = 512, nonlinearity: str = 'lrelu',
                 use_wscale: bool = True, use_pixel_norm: bool = False, use_instance_norm: bool = True,
                 fused_scale='auto', blur_filter=(1, 2, 1), name: str = 'synthesis', **kwargs):
        super().__init__(name=name, **kwargs)
        _fused(fused_scale, 4)
        self.dlatent_size, self.num_channels, self.resolution = int(dlatent_size), int(num_channels), int(resolution)
        self.fmap = dict(fmap_base=int(fmap_base), fmap_decay=float(fmap_decay), fmap_max=int(fmap_max))
        self.nonlinearity, self.use_wscale = nonlinearity, bool(use_wscale)
        self.use_pixel_norm, self.use_instance_norm = bool(use_pixel_norm), bool(use_instance_norm)
        self.fused_scale = fused_scale
        self.blur_filter = None if not blur_filter else list(blur_filter)
        self.resolution_log2 = arch.log2_resolution(self.resolution)
        self.num_layers = arch.num_layers(self.resolution)
        layer_kwargs = dict(nonlinearity=nonlinearity, use_wscale=self.use_wscale, use_pixel_norm=self.use_pixel_norm,
                            use_instance_norm=self.use_instance_norm, blur_filter=self.blur_filter)
        # NVIDIA's creation order: 4x4, ToRGB_lod{L2-2}, 8x8, ToRGB_lod{L2-3}, ..., ToRGB_lod0.
        self.blocks, self.torgb = [], []
        for r in range(2, self.resolution_log2 + 1):
            channels = nf(r - 1, **self.fmap)
            self.blocks.append(SynthesisBlock(2 ** r, nf(r - 2, **self.fmap) if r > 2 else channels, channels,
                                              self.dlatent_size, fused_scale, **layer_kwargs))
            self.torgb.append(Conv2d(channels, self.num_channels, 1, gain=1.0, use_wscale=self.use_wscale,
                                     name=f'ToRGB_lod{self.resolution_log2 - r}'))

    def build(self, input_shape=None):
        self.noise_buffers = []
        for k in range(self.num_layers):
            size = 2 ** (k // 2 + 2)
            self.noise_buffers.append(self.add_weight(name=f'noise{k}', shape=(1, size, size, 1), trainable=False,
                                                      initializer=normal_init(1.0)))
        for block, torgb in zip(self.blocks, self.torgb):
            block.build()
            torgb.build()
        self.built = True

    def call(self, ws, noise_mode: str = 'const', noise=None):
        """`noise` (optional): explicit per-layer noise, a list of num_layers [N or 1, H, W, 1]; overrides
        `noise_mode` ('const': the stored buffers, 'random': fresh N(0, 1) per call, 'none': no noise)."""
        _check_choice('noise_mode', noise_mode, NOISE_MODES)
        assert_shape(ws, [None, self.num_layers, self.dlatent_size], f'{_where(self)} dlatents ws')
        ws = tf.cast(ws, tf.float32)
        n = tf.shape(ws)[0]
        if noise is not None:
            if len(noise) != self.num_layers:
                raise ValueError(f'{_where(self)}: noise: expected a list of {self.num_layers} maps, got {len(noise)}')
            noises = list(noise)
        elif noise_mode == 'const':
            noises = list(self.noise_buffers)
        elif noise_mode == 'random':
            noises = [tf.random.normal([n, 2 ** (k // 2 + 2), 2 ** (k // 2 + 2), 1]) for k in range(self.num_layers)]
        else:
            noises = [None] * self.num_layers
        x = None
        for block in self.blocks:
            x = block(x, ws, noises)
        return self.torgb[-1](x)

    def get_config(self):
        return {'name': self.name, 'dlatent_size': self.dlatent_size, 'num_channels': self.num_channels,
                'resolution': self.resolution, **self.fmap, 'nonlinearity': self.nonlinearity,
                'use_wscale': self.use_wscale, 'use_pixel_norm': self.use_pixel_norm,
                'use_instance_norm': self.use_instance_norm, 'fused_scale': self.fused_scale,
                'blur_filter': self.blur_filter}


@keras.saving.register_keras_serializable(REGISTER)
class Generator(networks.Generator):
    """Mapping + synthesis and the W average `dlatent_avg`, with G_style's truncation.

    Mirrors NVIDIA training/networks_stylegan.py: G_style (lod 0; the training-time W-average update and style
    mixing are not part of this forward pass).

    Keras call: `G(z, c, truncation_psi=1.0, truncation_cutoff=None, noise_mode='const')` -> NHWC images. As in
    G_style, truncation applies only when both `truncation_psi` and `truncation_cutoff` are set. The constructor's
    `truncation_psi`, `truncation_cutoff` are NVIDIA's static defaults (0.7, 8), used by `run()`.
    """
    synthesis_class = SynthesisNetwork
    mapping_class = MappingNetwork
    truncation = staticmethod(style_truncate)

    def __init__(self, *args, truncation_psi: float | None = 0.7, truncation_cutoff: int | None = 8, **kwargs):
        super().__init__(*args, truncation_psi=truncation_psi, truncation_cutoff=truncation_cutoff, **kwargs)


@keras.saving.register_keras_serializable(REGISTER)
class DiscriminatorBlock(keras.layers.Layer):
    """One resolution of D (`{R}x{R}`): Conv0, then Conv1_down (blur, conv + 2x downscale, fused at R >= 128).

    Mirrors NVIDIA training/networks_stylegan.py: D_basic, its local `block()` for res >= 3.
    """

    def __init__(self, res: int, in_channels: int, out_channels: int, nonlinearity: str = 'lrelu',
                 use_wscale: bool = True, fused_scale='auto', blur_filter=(1, 2, 1), **kwargs):
        kwargs.pop('name', None)
        super().__init__(name=f'{res}x{res}', **kwargs)
        self.res, self.in_channels, self.out_channels = int(res), int(in_channels), int(out_channels)
        self.nonlinearity, self.use_wscale, self.fused_scale = nonlinearity, bool(use_wscale), fused_scale
        self.blur_filter = None if not blur_filter else list(blur_filter)
        common = dict(use_wscale=self.use_wscale, activation=nonlinearity)
        self.conv0 = Conv2d(in_channels, in_channels, 3, name='Conv0', **common)
        self.conv1 = Conv2d(in_channels, out_channels, 3, down=True, fused=_fused(fused_scale, self.res),
                            blur_filter=self.blur_filter, name='Conv1_down', **common)

    def build(self, input_shape=None):
        self.conv0.build()
        self.conv1.build()
        self.built = True

    def call(self, x):
        assert_shape(x, [None, self.res, self.res, self.in_channels], f'{_where(self)} input x')
        return self.conv1(self.conv0(x))

    def get_config(self):
        return {**super().get_config(), 'res': self.res, 'in_channels': self.in_channels,
                'out_channels': self.out_channels, 'nonlinearity': self.nonlinearity, 'use_wscale': self.use_wscale,
                'fused_scale': self.fused_scale, 'blur_filter': self.blur_filter}


@keras.saving.register_keras_serializable(REGISTER)
class DiscriminatorEpilogue(keras.layers.Layer):
    """The `4x4` scope of D_basic: minibatch stddev, Conv, Dense0 (NCHW flatten), Dense1 (gain 1, linear)."""

    def __init__(self, in_channels: int, hidden: int, out_features: int, nonlinearity: str = 'lrelu',
                 use_wscale: bool = True, mbstd_group_size: int = 4, mbstd_num_features: int = 1, **kwargs):
        kwargs.pop('name', None)
        super().__init__(name='4x4', **kwargs)
        self.in_channels, self.hidden, self.out_features = int(in_channels), int(hidden), int(out_features)
        self.nonlinearity, self.use_wscale = nonlinearity, bool(use_wscale)
        self.mbstd_group_size, self.mbstd_num_features = int(mbstd_group_size), int(mbstd_num_features)
        use_mbstd = self.mbstd_group_size > 1
        self.mbstd = MinibatchStddevLayer(self.mbstd_group_size, self.mbstd_num_features) if use_mbstd else None
        extra = self.mbstd_num_features if use_mbstd else 0
        common = dict(use_wscale=self.use_wscale, activation=nonlinearity)
        self.conv = Conv2d(self.in_channels + extra, self.in_channels, 3, name='Conv', **common)
        self.dense0 = Dense(self.in_channels * 16, self.hidden, name='Dense0', **common)
        self.dense1 = Dense(self.hidden, self.out_features, gain=1.0, use_wscale=self.use_wscale, name='Dense1')

    def build(self, input_shape=None):
        for layer in (self.conv, self.dense0, self.dense1):
            layer.build()
        self.built = True

    def call(self, x):
        if self.mbstd is not None:
            x = self.mbstd(x)
        return self.dense1(self.dense0(self.conv(x)))

    def get_config(self):
        return {**super().get_config(), 'in_channels': self.in_channels, 'hidden': self.hidden,
                'out_features': self.out_features, 'nonlinearity': self.nonlinearity, 'use_wscale': self.use_wscale,
                'mbstd_group_size': self.mbstd_group_size, 'mbstd_num_features': self.mbstd_num_features}


@keras.saving.register_keras_serializable(REGISTER)
class Discriminator(DnnlibDiscriminatorMixin, keras.Model):
    """Images [N, R, R, C] in [-1, 1] (+ labels [N, label_size]) -> scores [N, 1].

    Mirrors NVIDIA training/networks_stylegan.py: D_basic with lod = 0: `FromRGB_lod0`, the blocks R ... 8,
    the 4x4 epilogue; labels select the score (`sum(scores * labels)`). Every `FromRGB_lod{k}` weight exists
    (NVIDIA's pickles store them) but only `FromRGB_lod0` is evaluated. Defaults are NVIDIA's (resolution 32,
    one channel); its training loop always passes the dataset's.
    """

    def __init__(self, resolution: int = 32, num_channels: int = 1, label_size: int = 0, fmap_base: int = 8192,
                 fmap_decay: float = 1.0, fmap_max: int = 512, nonlinearity: str = 'lrelu', use_wscale: bool = True,
                 mbstd_group_size: int = 4, mbstd_num_features: int = 1, fused_scale='auto', blur_filter=(1, 2, 1),
                 nvidia_static_kwargs: dict | None = None, name: str = 'D', **kwargs):
        super().__init__(name=name, **kwargs)
        _check_choice('nonlinearity', nonlinearity, NONLINEARITIES)
        _fused(fused_scale, 4)
        self.resolution, self.num_channels, self.label_size = int(resolution), int(num_channels), int(label_size)
        self.fmap = dict(fmap_base=int(fmap_base), fmap_decay=float(fmap_decay), fmap_max=int(fmap_max))
        self.nonlinearity, self.use_wscale = nonlinearity, bool(use_wscale)
        self.mbstd_group_size, self.mbstd_num_features = int(mbstd_group_size), int(mbstd_num_features)
        self.fused_scale = fused_scale
        self.blur_filter = None if not blur_filter else list(blur_filter)
        self.nvidia_static_kwargs = nvidia_static_kwargs
        l2 = arch.log2_resolution(self.resolution)
        common = dict(use_wscale=self.use_wscale, activation=nonlinearity)
        # NVIDIA's creation order: FromRGB_lod0, RxR, FromRGB_lod1, R/2xR/2, ..., FromRGB_lod{L2-2}, 4x4.
        self.fromrgb, self.blocks = [], []
        for r in range(l2, 2, -1):
            self.fromrgb.append(Conv2d(self.num_channels, nf(r - 1, **self.fmap), 1, name=f'FromRGB_lod{l2 - r}',
                                       **common))
            self.blocks.append(DiscriminatorBlock(2 ** r, nf(r - 1, **self.fmap), nf(r - 2, **self.fmap),
                                                  nonlinearity, self.use_wscale, fused_scale, self.blur_filter))
        self.fromrgb.append(Conv2d(self.num_channels, nf(1, **self.fmap), 1, name=f'FromRGB_lod{l2 - 2}', **common))
        self.epilogue = DiscriminatorEpilogue(nf(1, **self.fmap), nf(0, **self.fmap), max(self.label_size, 1),
                                              nonlinearity, self.use_wscale, self.mbstd_group_size,
                                              self.mbstd_num_features)

    def build(self, input_shape=None):
        for i, fromrgb in enumerate(self.fromrgb):
            fromrgb.build()
            if i < len(self.blocks):
                self.blocks[i].build()
        self.epilogue.build()
        self.built = True

    def call(self, img, c=None):
        assert_shape(img, [None, self.resolution, self.resolution, self.num_channels], f'{_where(self)} images')
        x = self.fromrgb[0](tf.cast(img, tf.float32))
        for block in self.blocks:
            x = block(x)
        x = self.epilogue(x)
        if self.label_size:
            assert_shape(c, [None, self.label_size], f'{_where(self)} labels c')
            x = tf.reduce_sum(x * tf.cast(c, tf.float32), axis=1, keepdims=True)
        return x

    def get_config(self):
        return {'name': self.name, 'resolution': self.resolution, 'num_channels': self.num_channels,
                'label_size': self.label_size, **self.fmap, 'nonlinearity': self.nonlinearity,
                'use_wscale': self.use_wscale, 'mbstd_group_size': self.mbstd_group_size,
                'mbstd_num_features': self.mbstd_num_features, 'fused_scale': self.fused_scale,
                'blur_filter': self.blur_filter, 'nvidia_static_kwargs': self.nvidia_static_kwargs}
