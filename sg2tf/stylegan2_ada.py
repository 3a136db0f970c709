"""StyleGAN2-ADA (TensorFlow) networks: mapping with label embedding, synthesis with `conv_clamp` and optional
noise, generator, discriminator with projection conditioning through a label mapping.

Mirrors NVIDIA stylegan2-ada training/networks.py: G_main, G_mapping, G_synthesis, D_main. Constructor keyword
arguments use NVIDIA's static-kwarg names and defaults, so a pickle's `static_kwargs` map onto them directly.
Layers and weights carry NVIDIA's names (`synthesis/8x8/Conv0_up/weight`). Channels-last (NHWC) inside.

The math is StyleGAN2's (sg2tf.networks) with these differences: latents are normalised before the label
embedding is concatenated, and the embedding is a biased dense layer `LabelEmbed` followed by its own
normalisation; every convolution of G and D except `Skip` clamps its output to `[-conv_clamp, conv_clamp]` after
bias, activation and gain; `use_noise=False` removes the noise buffers and strengths; the 4x4 constant may have
its own width `fmap_const`; D maps labels with `LabelEmbed` (+ `Mapping{i}`) and projects its `Output` features
onto them; the minibatch-stddev group defaults to the whole minibatch.

Precision: sg2tf computes in float32 by default, which is what NVIDIA computes with the dynamic `num_fp16_res=0`
(stylegan2-ada-pytorch: `force_fp32=True`). The declared `num_fp16_res` (NVIDIA's float16 top resolutions) is kept
so that it round-trips, and is honoured on request: `fp16=True` (a network setting, or per call) runs those
resolutions in float16 as ADA does (activations, kernels and bias in float16, clamped by `conv_clamp`; styles,
demodulation coefficients and the RGB skip path in float32). The setting is not saved with the network. That is the fast mode on a GPU; on a CPU it computes
in float16 all the same, which TensorFlow's CPU kernels do no faster than float32 (useful to check results).
"""
from __future__ import annotations

import warnings

import numpy as np
import keras
import tensorflow as tf

from sg2tf import arch, ops
from sg2tf.compat import DnnlibDiscriminatorMixin, DnnlibMappingMixin, DnnlibSynthesisMixin
from sg2tf.layers import (REGISTER, ConstantInput, Conv2dLayer, FullyConnectedLayer, MinibatchStddevLayer,
                          _ModulatedLayer, const_init, gpu_visible, modulated_conv2d, normal_init)
from sg2tf.misc import assert_shape
from sg2tf.networks import Generator, run_synthesis_blocks, synthesis_noises

SQRT1_2 = np.float32(np.sqrt(0.5))

__all__ = ['LabelEmbed', 'ClampedConv2dLayer', 'AdaSynthesisLayer', 'AdaToRGBLayer', 'WholeBatchStddevLayer',
           'AdaMappingNetwork', 'AdaSynthesisBlock', 'AdaSynthesisNetwork', 'AdaGenerator',
           'AdaDiscriminatorBlock', 'AdaDiscriminatorEpilogue', 'AdaDiscriminator']


def _check_choice(what: str, value, choices):
    if value not in choices:
        raise ValueError(f'{what} must be one of {list(choices)}, got {value!r}')


def _where(layer: keras.layers.Layer) -> str:
    return layer.path or layer.name


def _clamp(x: tf.Tensor, conv_clamp: float | None) -> tf.Tensor:
    """NVIDIA fused_bias_act(..., clamp=c): `clip(x, -c, c)` after bias, activation and gain; None = off."""
    return x if conv_clamp is None else tf.clip_by_value(x, -float(conv_clamp), float(conv_clamp))


def _clamp_arg(conv_clamp) -> float | None:
    return None if conv_clamp is None else float(conv_clamp)


def normalize_2nd_moment(x: tf.Tensor, eps: float = 1e-8) -> tf.Tensor:
    """`x * rsqrt(mean(x**2, axis=1) + eps)` (NVIDIA training/networks.py: normalize_2nd_moment)."""
    return x * tf.math.rsqrt(tf.reduce_mean(tf.square(x), axis=1, keepdims=True) + eps)


def _fp16_blocks(network, fp16: bool | None, num_fp16_res: int | None) -> list[int]:
    """Block resolutions to compute in float16 for one call: none unless `fp16` (None: the network's setting);
    then the top `num_fp16_res` (None: as the network declares). Says once when that happens without a GPU."""
    if not (network.fp16 if fp16 is None else fp16):
        return []
    count = network.num_fp16_res if num_fp16_res is None else int(num_fp16_res)
    blocks = arch.fp16_resolutions(network.resolution, count)
    if blocks and not gpu_visible():
        warnings.warn(f'{network.name}: float16 requested without a GPU: computing resolutions {blocks[0]}x{blocks[0]}'
                      f' and up in float16 on the CPU, which is no faster than float32 there', stacklevel=3)
    return blocks


def _optional_int(value) -> int | None:
    return None if value is None else int(value)


def _clamp_setting(value) -> float | int | None:
    """`conv_clamp` as given (None, or a number: NVIDIA's scripts pass the int 256, kept so it writes back as is)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ValueError(f'conv_clamp must be None or a number, got {value!r}')
    return value.item() if isinstance(value, np.generic) else value


# -- layers --------------------------------------------------------------------------------------------------------
@keras.saving.register_keras_serializable(REGISTER)
class LabelEmbed(FullyConnectedLayer):
    """Label embedding of the ADA mapping network and of D (`LabelEmbed/weight`, `LabelEmbed/bias`):
    `normalize_2nd_moment(c @ (W / sqrt(label_size)) + b)`.

    Mirrors NVIDIA training/networks.py: G_mapping / D_main, scope `LabelEmbed` (dense_layer + apply_bias_act,
    then normalize_2nd_moment).
    """

    def __init__(self, label_size: int, embed_features: int, **kwargs):
        kwargs.setdefault('name', 'LabelEmbed')
        for key in ('in_features', 'units', 'activation', 'lrmul', 'use_bias'):  # fixed; from_config passes them
            kwargs.pop(key, None)
        super().__init__(label_size, embed_features, **kwargs)

    def call(self, c):
        return normalize_2nd_moment(super().call(tf.cast(c, tf.float32)))

    def get_config(self):
        config = super().get_config()
        for key in ('in_features', 'units', 'activation', 'lrmul', 'use_bias'):
            config.pop(key)
        return {**config, 'label_size': self.in_features, 'embed_features': self.units}


@keras.saving.register_keras_serializable(REGISTER)
class ClampedConv2dLayer(Conv2dLayer):
    """`Conv2dLayer` whose output is clamped to `[-conv_clamp, conv_clamp]` (ADA D `FromRGB`, `Conv0`,
    `Conv1_down`, `4x4/Conv`; NVIDIA training/networks.py: conv2d_layer + apply_bias_act(clamp=conv_clamp))."""

    def __init__(self, in_channels: int, filters: int, kernel_size: int, conv_clamp: float | None = None, **kwargs):
        super().__init__(in_channels, filters, kernel_size, **kwargs)
        self.conv_clamp = _clamp_setting(conv_clamp)

    def call(self, x):
        return _clamp(super().call(x), self.conv_clamp)

    def get_config(self):
        return {**super().get_config(), 'conv_clamp': self.conv_clamp}


@keras.saving.register_keras_serializable(REGISTER)
class AdaSynthesisLayer(_ModulatedLayer):
    """Modulated conv -> [+ noise * noise_strength] -> + bias -> lrelu * sqrt(2) -> clamp (`Conv`, `Conv0_up`,
    `Conv1`). Without `use_noise` the layer has no `noise_strength` variable.

    Mirrors NVIDIA training/networks.py: G_synthesis, its local `layer()` (modulated_conv2d_layer).
    """

    def __init__(self, in_channels: int, filters: int, kernel_size: int = 3, dlatent_size: int = 512, up: int = 1,
                 activation: str = 'lrelu', resample_kernel=(1, 3, 3, 1), fused_modconv: bool = False,
                 use_noise: bool = True, conv_clamp: float | None = None, **kwargs):
        super().__init__(in_channels, filters, kernel_size, dlatent_size, **kwargs)
        self.up, self.activation, self.fused_modconv = int(up), activation, bool(fused_modconv)
        self.use_noise, self.conv_clamp = bool(use_noise), _clamp_setting(conv_clamp)
        self.resample_kernel = None if resample_kernel is None else list(resample_kernel)
        self.resample_filter = ops.setup_filter(self.resample_kernel)

    def build(self, input_shape=None):
        self._build_modulation()
        self._fused = self.fused_modconv and gpu_visible()
        self.noise_strength = (self.add_weight(name='noise_strength', shape=(), initializer=const_init(0.0))
                               if self.use_noise else None)
        self.bias = self.add_weight(name='bias', shape=(self.filters,), initializer=const_init(0.0))
        self.built = True

    def call(self, x, w, noise=None):
        pre, post = ops.split_gain(self.activation)
        weight, styles = self.weight_and_styles(x, w)
        x = modulated_conv2d(x, weight, styles, demodulate=True, up=self.up,
                             resample_filter=self.resample_filter, fused=self._fused, gain=pre)
        noise = None if noise is None or self.noise_strength is None else noise * (self.noise_strength * pre)
        return ops.bias_act(x, self.bias * pre, act=self.activation, gain=post, noise=noise,
                            clamp=_clamp_arg(self.conv_clamp))

    def get_config(self):
        return {**super().get_config(), 'up': self.up, 'activation': self.activation,
                'resample_kernel': self.resample_kernel, 'fused_modconv': self.fused_modconv,
                'use_noise': self.use_noise, 'conv_clamp': self.conv_clamp}


@keras.saving.register_keras_serializable(REGISTER)
class AdaToRGBLayer(_ModulatedLayer):
    """1x1 modulated conv without demodulation, + bias, linear, clamp (`ToRGB`; NVIDIA training/networks.py:
    G_synthesis, its local `torgb()`)."""

    def __init__(self, in_channels: int, filters: int, dlatent_size: int = 512, fused_modconv: bool = False,
                 conv_clamp: float | None = None, **kwargs):
        kwargs.pop('kernel_size', None)
        super().__init__(in_channels, filters, 1, dlatent_size, **kwargs)
        self.fused_modconv, self.conv_clamp = bool(fused_modconv), _clamp_setting(conv_clamp)

    def build(self, input_shape=None):
        self._build_modulation()
        self._fused = self.fused_modconv and gpu_visible()
        self.bias = self.add_weight(name='bias', shape=(self.filters,), initializer=const_init(0.0))
        self.built = True

    def call(self, x, w):
        weight, styles = self.weight_and_styles(x, w)
        x = modulated_conv2d(x, weight, styles, demodulate=False, fused=self._fused)
        return ops.bias_act(x, self.bias, clamp=_clamp_arg(self.conv_clamp))

    def get_config(self):
        return {**super().get_config(), 'fused_modconv': self.fused_modconv, 'conv_clamp': self.conv_clamp}


@keras.saving.register_keras_serializable(REGISTER)
class WholeBatchStddevLayer(MinibatchStddevLayer):
    """Minibatch stddev whose `group_size` None means the whole minibatch (ADA's default); an int G means
    `min(G, N)`. Groups are strided as in StyleGAN2 (sample b in group b mod (N / G)).

    Mirrors NVIDIA training/networks.py: minibatch_stddev_layer.
    """

    def __init__(self, group_size: int | None = None, num_features: int = 1, **kwargs):
        super().__init__(1 if group_size is None else group_size, num_features, **kwargs)
        self.group_size = _optional_int(group_size)

    def call(self, x):
        n, h, w, c = tf.shape(x)[0], tf.shape(x)[1], tf.shape(x)[2], x.shape[-1]
        g = n if self.group_size is None else tf.minimum(self.group_size, n)
        f = self.num_features
        y = tf.cast(tf.reshape(x, [g, -1, h, w, f, c // f]), tf.float32)  # sample b = g_idx * M + m
        y = y - tf.reduce_mean(y, axis=0)
        y = tf.sqrt(tf.reduce_mean(tf.square(y), axis=0) + 1e-8)          # [M, H, W, F, C/F]
        y = tf.reduce_mean(y, axis=[1, 2, 4])                              # [M, F]
        y = tf.tile(tf.cast(tf.reshape(y, [-1, 1, 1, f]), x.dtype), [g, h, w, 1])
        return tf.concat([x, y], axis=-1)


# -- generator -----------------------------------------------------------------------------------------------------
@keras.saving.register_keras_serializable(REGISTER)
class AdaMappingNetwork(DnnlibMappingMixin, keras.Model):
    """z -> normalise -> [concat LabelEmbed(c)] -> `mapping_layers` dense layers (lrmul 0.01) -> W, broadcast.

    Mirrors NVIDIA training/networks.py: G_mapping. `mapping_fmaps` None: every layer is `dlatent_size` wide;
    `label_fmaps` None: the embedding is `latent_size` wide.
    """

    def __init__(self, latent_size: int = 512, label_size: int = 0, dlatent_size: int = 512,
                 dlatent_broadcast: int | None = None, mapping_layers: int = 8, mapping_fmaps: int | None = None,
                 mapping_lrmul: float = 0.01, mapping_nonlinearity: str = 'lrelu', normalize_latents: bool = True,
                 label_fmaps: int | None = None, name: str = 'mapping', **kwargs):
        super().__init__(name=name, **kwargs)
        self.latent_size, self.label_size, self.dlatent_size = int(latent_size), int(label_size), int(dlatent_size)
        self.dlatent_broadcast = _optional_int(dlatent_broadcast)
        self.mapping_layers, self.mapping_fmaps = int(mapping_layers), _optional_int(mapping_fmaps)
        self.mapping_lrmul, self.mapping_nonlinearity = float(mapping_lrmul), mapping_nonlinearity
        self.normalize_latents, self.label_fmaps = bool(normalize_latents), _optional_int(label_fmaps)
        embed = self.latent_size if self.label_fmaps is None else self.label_fmaps
        self.embed = LabelEmbed(self.label_size, embed) if self.label_size else None
        fan_in = self.latent_size + (embed if self.label_size else 0)
        self.dense_layers = []
        for i in range(self.mapping_layers):
            last = i == self.mapping_layers - 1
            units = self.dlatent_size if last or self.mapping_fmaps is None else self.mapping_fmaps
            self.dense_layers.append(FullyConnectedLayer(fan_in, units, activation=mapping_nonlinearity,
                                                         lrmul=self.mapping_lrmul, name=f'Dense{i}'))
            fan_in = units

    def build(self, input_shape=None):
        if self.embed is not None:
            self.embed.build()
        for layer in self.dense_layers:
            layer.build()
        self.built = True

    def call(self, z, c=None):
        assert_shape(z, [None, self.latent_size], f'{_where(self)} latents z')
        if self.label_size:
            assert_shape(c, [None, self.label_size], f'{_where(self)} labels c')
        x = tf.cast(z, tf.float32)
        if self.normalize_latents:
            x = normalize_2nd_moment(x)
        if self.embed is not None:
            x = tf.concat([x, self.embed(c)], axis=1)
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
                'normalize_latents': self.normalize_latents, 'label_fmaps': self.label_fmaps}


@keras.saving.register_keras_serializable(REGISTER)
class AdaSynthesisBlock(keras.layers.Layer):
    """One resolution of the ADA synthesis network (`4x4`, `8x8`, ...): its convs, `Skip` and `ToRGB`.

    Mirrors NVIDIA training/networks.py: G_synthesis, its local `block()`, `upsample()` and `torgb()`.
    At 4x4, `in_channels` is the width of the constant input (`fmap_const`).
    """

    def __init__(self, res: int, in_channels: int, out_channels: int, num_channels: int, architecture: str,
                 is_last: bool, dlatent_size: int = 512, nonlinearity: str = 'lrelu', resample_kernel=(1, 3, 3, 1),
                 fused_modconv: bool = False, use_noise: bool = True, conv_clamp: float | None = None, **kwargs):
        kwargs = {k: v for k, v in kwargs.items() if k not in ('name', 'autocast')}
        super().__init__(name=f'{res}x{res}', autocast=False, **kwargs)  # float16 features pass as they are
        self.res, self.in_channels, self.out_channels = int(res), int(in_channels), int(out_channels)
        self.num_channels, self.architecture, self.is_last = int(num_channels), architecture, bool(is_last)
        self.dlatent_size, self.nonlinearity, self.fused_modconv = int(dlatent_size), nonlinearity, bool(fused_modconv)
        self.use_noise, self.conv_clamp = bool(use_noise), _clamp_setting(conv_clamp)
        self.resample_kernel = None if resample_kernel is None else list(resample_kernel)
        self.resample_filter = ops.setup_filter(self.resample_kernel)
        common = dict(dlatent_size=dlatent_size, activation=nonlinearity, resample_kernel=self.resample_kernel,
                      fused_modconv=fused_modconv, use_noise=use_noise, conv_clamp=self.conv_clamp)
        if self.res == 4:
            self.const = ConstantInput(in_channels, name='Const')
            self.conv1 = AdaSynthesisLayer(in_channels, out_channels, name='Conv', **common)
            self.conv0 = self.skip = None
        else:
            self.const = None
            self.conv0 = AdaSynthesisLayer(in_channels, out_channels, up=2, name='Conv0_up', **common)
            self.conv1 = AdaSynthesisLayer(out_channels, out_channels, name='Conv1', **common)
            self.skip = (Conv2dLayer(in_channels, out_channels, 1, use_bias=False, up=2,
                                     resample_kernel=self.resample_kernel, name='Skip')
                         if architecture == 'resnet' else None)
        self.torgb = (AdaToRGBLayer(out_channels, num_channels, dlatent_size=dlatent_size,
                                    fused_modconv=fused_modconv, conv_clamp=self.conv_clamp, name='ToRGB')
                      if architecture == 'skip' or is_last else None)

    def build(self, input_shape=None):
        for layer in (self.const, self.conv0, self.conv1, self.skip, self.torgb):
            if layer is not None:
                layer.build()
        self.built = True

    def call(self, x, img, ws, noises, fp16: bool = False):
        """x: features or None (4x4); img: RGB skip path or None; ws: full W [N, L, w_dim]; noises: per conv.
        `fp16`: the features of this block in float16 (the RGB skip path and the returned img stay float32)."""
        where, half = _where(self), self.res // 2
        dtype = tf.float16 if fp16 else tf.float32
        if self.res > 4:
            assert_shape(x, [None, None, half, self.in_channels], f'{where} input x')  # rows: maybe a band
        if img is not None:
            assert_shape(img, [None, None, half, self.num_channels], f'{where} input img')
        if self.res == 4:
            x = tf.cast(self.const(tf.shape(ws)[0]), dtype)
            x = self.conv1(x, ws[:, arch.w_index(4, 'Conv')], noises[0])
        else:
            x = t = tf.cast(x, dtype)
            x = self.conv0(x, ws[:, arch.w_index(self.res, 'Conv0_up')], noises[0])
            x = self.conv1(x, ws[:, arch.w_index(self.res, 'Conv1')], noises[1])
            if self.skip is not None:
                x = (x + self.skip(t)) * SQRT1_2
        if self.torgb is not None:
            y = tf.cast(self.torgb(x, ws[:, arch.w_index(self.res, 'ToRGB')]), tf.float32)
            img = y if img is None or self.architecture != 'skip' else ops.upsample_2d(img, self.resample_filter) + y
        return x, img

    def get_config(self):
        return {**super().get_config(), 'res': self.res, 'in_channels': self.in_channels,
                'out_channels': self.out_channels, 'num_channels': self.num_channels,
                'architecture': self.architecture, 'is_last': self.is_last, 'dlatent_size': self.dlatent_size,
                'nonlinearity': self.nonlinearity, 'resample_kernel': self.resample_kernel,
                'fused_modconv': self.fused_modconv, 'use_noise': self.use_noise, 'conv_clamp': self.conv_clamp}


@keras.saving.register_keras_serializable(REGISTER)
class AdaSynthesisNetwork(DnnlibSynthesisMixin, keras.Model):
    """W [N, num_layers, dlatent_size] -> images [N, R, R, C] (NHWC, nominally [-1, 1], not clipped).

    Mirrors NVIDIA training/networks.py: G_synthesis (architectures orig, skip, resnet). With `use_noise` it owns
    the noise buffers `noise0 ... noise{num_layers-2}` ([1, H, W, 1]) used by `noise_mode='const'`.
    """

    def __init__(self, resolution: int = 1024, num_channels: int = 3, dlatent_size: int = 512,
                 fmap_base: int = 16 << 10, fmap_decay: float = 1.0, fmap_min: int = 1, fmap_max: int = 512,
                 fmap_const: int | None = None, use_noise: bool = True, architecture: str = 'skip',
                 nonlinearity: str = 'lrelu', resample_kernel=(1, 3, 3, 1), fused_modconv: bool = False,
                 conv_clamp: float | None = None, num_fp16_res: int = 0, name: str = 'synthesis', **kwargs):
        super().__init__(name=name, **kwargs)
        _check_choice('synthesis architecture', architecture, arch.G_ARCHITECTURES)
        self.fp16 = False  # honour num_fp16_res (module docstring): a run setting, like NVIDIA's dynamic kwargs
        self.resolution, self.num_channels, self.dlatent_size = int(resolution), int(num_channels), int(dlatent_size)
        self.fmap = dict(fmap_base=int(fmap_base), fmap_decay=float(fmap_decay), fmap_min=int(fmap_min),
                         fmap_max=int(fmap_max))
        self.fmap_const, self.use_noise = _optional_int(fmap_const), bool(use_noise)
        self.architecture, self.nonlinearity, self.fused_modconv = architecture, nonlinearity, bool(fused_modconv)
        self.resample_kernel = None if resample_kernel is None else list(resample_kernel)
        self.conv_clamp, self.num_fp16_res = _clamp_setting(conv_clamp), int(num_fp16_res)
        self.num_layers = arch.num_layers(self.resolution)
        self.blocks = []
        for res in arch.block_resolutions(self.resolution):
            stage = arch.log2_resolution(res) - 1
            if res == 4:
                in_ch = arch.nf(1, **self.fmap) if self.fmap_const is None else self.fmap_const
            else:
                in_ch = arch.nf(stage - 1, **self.fmap)
            self.blocks.append(AdaSynthesisBlock(res, in_ch, arch.nf(stage, **self.fmap), self.num_channels,
                                                 architecture, res == self.resolution, dlatent_size=dlatent_size,
                                                 nonlinearity=nonlinearity, resample_kernel=self.resample_kernel,
                                                 fused_modconv=fused_modconv, use_noise=self.use_noise,
                                                 conv_clamp=self.conv_clamp))

    def build(self, input_shape=None):
        self.noise_buffers = []
        for k in range(self.num_layers - 1 if self.use_noise else 0):
            size = arch.noise_resolution(k)
            self.noise_buffers.append(self.add_weight(name=f'noise{k}', shape=(1, size, size, 1), trainable=False,
                                                      initializer=normal_init(1.0)))
        for block in self.blocks:
            block.build()
        self.built = True

    def call(self, ws, noise_mode: str = 'const', noise=None, fp16: bool | None = None,
             num_fp16_res: int | None = None):
        """`noise` (optional): explicit per-conv-layer noise, a list of [N, H, W, 1]; overrides `noise_mode`.
        Without `use_noise` there is no noise whatever the mode. `fp16` (None: the network's setting) computes the
        top `num_fp16_res` resolutions (None: as declared) in float16."""
        assert_shape(ws, [None, self.num_layers, self.dlatent_size], f'{_where(self)} dlatents ws')
        ws = tf.cast(ws, tf.float32)
        noises = synthesis_noises(self, tf.shape(ws)[0], noise_mode, noise, use_noise=self.use_noise)
        half = _fp16_blocks(self, fp16, num_fp16_res)
        return run_synthesis_blocks(self.blocks, ws, noises, per_sample=not gpu_visible(),
                                    block_kwargs=lambda block: {'fp16': block.res in half})

    def get_config(self):
        return {'name': self.name, 'resolution': self.resolution, 'num_channels': self.num_channels,
                'dlatent_size': self.dlatent_size, **self.fmap, 'fmap_const': self.fmap_const,
                'use_noise': self.use_noise, 'architecture': self.architecture, 'nonlinearity': self.nonlinearity,
                'resample_kernel': self.resample_kernel, 'fused_modconv': self.fused_modconv,
                'conv_clamp': self.conv_clamp, 'num_fp16_res': self.num_fp16_res}


@keras.saving.register_keras_serializable(REGISTER)
class AdaGenerator(Generator):
    """Mapping + synthesis, the W average `dlatent_avg` and truncation (the only own variable: no `lod`).

    Mirrors NVIDIA training/networks.py: G_main. Same API as sg2tf.Generator: Keras call
    `G(z, c, truncation_psi=1.0, truncation_cutoff=None, noise_mode='const')` -> NHWC images; `run()` with NVIDIA's
    defaults (`truncation_psi`, `truncation_cutoff` given here are NVIDIA's static defaults). Float32 unless asked:
    `G(z, c, fp16=True)`, `G.fp16 = True` or `run(..., num_fp16_res=k)` (see the module docstring).
    """
    synthesis_class = AdaSynthesisNetwork
    mapping_class = AdaMappingNetwork


# -- discriminator -------------------------------------------------------------------------------------------------
@keras.saving.register_keras_serializable(REGISTER)
class AdaDiscriminatorBlock(keras.layers.Layer):
    """One resolution of the ADA D (`32x32`, ...): FromRGB (top or skip), Conv0, Conv1_down (clamped), Skip.

    Mirrors NVIDIA training/networks.py: D_main, its local `fromrgb()`, `block()` and `downsample()`.
    """

    def __init__(self, res: int, in_channels: int, out_channels: int, num_channels: int, architecture: str,
                 is_first: bool, nonlinearity: str = 'lrelu', resample_kernel=(1, 3, 3, 1),
                 conv_clamp: float | None = None, **kwargs):
        kwargs = {k: v for k, v in kwargs.items() if k not in ('name', 'autocast')}
        super().__init__(name=f'{res}x{res}', autocast=False, **kwargs)  # float16 features pass as they are
        self.res, self.in_channels, self.out_channels = int(res), int(in_channels), int(out_channels)
        self.num_channels, self.architecture, self.is_first = int(num_channels), architecture, bool(is_first)
        self.nonlinearity, self.conv_clamp = nonlinearity, _clamp_setting(conv_clamp)
        self.resample_kernel = None if resample_kernel is None else list(resample_kernel)
        self.resample_filter = ops.setup_filter(self.resample_kernel)
        act, rk, clamp = nonlinearity, self.resample_kernel, self.conv_clamp
        self.fromrgb = (ClampedConv2dLayer(num_channels, in_channels, 1, clamp, activation=act, name='FromRGB')
                        if architecture == 'skip' or is_first else None)
        self.conv0 = ClampedConv2dLayer(in_channels, in_channels, 3, clamp, activation=act, name='Conv0')
        self.conv1 = ClampedConv2dLayer(in_channels, out_channels, 3, clamp, activation=act, down=2,
                                        resample_kernel=rk, name='Conv1_down')
        self.skip = (Conv2dLayer(in_channels, out_channels, 1, use_bias=False, down=2, resample_kernel=rk,
                                 name='Skip') if architecture == 'resnet' else None)

    def layers_in_order(self) -> list:
        """The layers NVIDIA's Freeze-D counts, in its order (FromRGB, Conv0, Conv1_down, Skip)."""
        return [layer for layer in (self.fromrgb, self.conv0, self.conv1, self.skip) if layer is not None]

    def build(self, input_shape=None):
        for layer in self.layers_in_order():
            layer.build()
        self.built = True

    def call(self, x, img, fp16: bool = False):
        """`fp16`: this block in float16 (features and, for FromRGB, the image), as ADA's D_main does."""
        where = _where(self)
        dtype = tf.float16 if fp16 else tf.float32
        if x is not None:
            assert_shape(x, [None, self.res, self.res, self.in_channels], f'{where} input x')
            x = tf.cast(x, dtype)
        if self.fromrgb is not None:
            assert_shape(img, [None, self.res, self.res, self.num_channels], f'{where} input img')
            img = tf.cast(img, dtype)
            t = self.fromrgb(img)
            x = t if x is None else x + t
        t = x
        x = self.conv1(self.conv0(x))
        if self.skip is not None:
            x = (x + self.skip(t)) * SQRT1_2
        if self.architecture == 'skip':
            img = ops.downsample_2d(img, self.resample_filter)
        return x, img

    def get_config(self):
        return {**super().get_config(), 'res': self.res, 'in_channels': self.in_channels,
                'out_channels': self.out_channels, 'num_channels': self.num_channels,
                'architecture': self.architecture, 'is_first': self.is_first, 'nonlinearity': self.nonlinearity,
                'resample_kernel': self.resample_kernel, 'conv_clamp': self.conv_clamp}


@keras.saving.register_keras_serializable(REGISTER)
class AdaDiscriminatorEpilogue(keras.layers.Layer):
    """The `4x4` scope of the ADA D: FromRGB (skip), minibatch stddev (unless `mbstd_num_features` is 0),
    Conv (clamped), Dense0. Dense0's weight rows are in NVIDIA's NCHW flatten order.

    Mirrors the end of NVIDIA training/networks.py: D_main.
    """

    def __init__(self, in_channels: int, out_features: int, num_channels: int, architecture: str,
                 mbstd_group_size: int | None = None, mbstd_num_features: int = 1, nonlinearity: str = 'lrelu',
                 conv_clamp: float | None = None, **kwargs):
        super().__init__(name='4x4', **{k: v for k, v in kwargs.items() if k != 'name'})
        self.in_channels, self.out_features, self.num_channels = int(in_channels), int(out_features), int(num_channels)
        self.architecture, self.nonlinearity, self.conv_clamp = architecture, nonlinearity, _clamp_setting(conv_clamp)
        self.mbstd_group_size, self.mbstd_num_features = _optional_int(mbstd_group_size), int(mbstd_num_features)
        act, clamp = nonlinearity, self.conv_clamp
        self.fromrgb = (ClampedConv2dLayer(num_channels, in_channels, 1, clamp, activation=act, name='FromRGB')
                        if architecture == 'skip' else None)
        self.mbstd = (WholeBatchStddevLayer(self.mbstd_group_size, self.mbstd_num_features)
                      if self.mbstd_num_features > 0 else None)
        self.conv = ClampedConv2dLayer(in_channels + self.mbstd_num_features, in_channels, 3, clamp, activation=act,
                                       name='Conv')
        self.dense = FullyConnectedLayer(in_channels * 16, out_features, activation=act, name='Dense0')

    def layers_in_order(self) -> list:
        """The layers NVIDIA's Freeze-D counts, in its order (FromRGB, Conv, Dense0)."""
        return [layer for layer in (self.fromrgb, self.conv, self.dense) if layer is not None]

    def build(self, input_shape=None):
        for layer in self.layers_in_order():
            layer.build()
        self.built = True

    def call(self, x, img):
        x = tf.cast(x, tf.float32)  # the epilogue is float32 whatever the blocks above computed in
        if self.fromrgb is not None:
            x = x + self.fromrgb(tf.cast(img, tf.float32))
        if self.mbstd is not None:
            x = self.mbstd(x)
        x = self.conv(x)
        x = tf.reshape(tf.transpose(x, [0, 3, 1, 2]), [-1, self.in_channels * 16])  # NCHW flatten order
        return self.dense(x)

    def get_config(self):
        return {**super().get_config(), 'in_channels': self.in_channels, 'out_features': self.out_features,
                'num_channels': self.num_channels, 'architecture': self.architecture,
                'mbstd_group_size': self.mbstd_group_size, 'mbstd_num_features': self.mbstd_num_features,
                'nonlinearity': self.nonlinearity, 'conv_clamp': self.conv_clamp}


@keras.saving.register_keras_serializable(REGISTER)
class AdaDiscriminator(DnnlibDiscriminatorMixin, keras.Model):
    """Images [N, R, R, C] in [-1, 1] (+ labels [N, label_size]) -> scores [N, 1].

    Mirrors NVIDIA training/networks.py: D_main. Conditional: the labels go through `LabelEmbed` and
    `mapping_layers` x `Mapping{i}` (lrmul `mapping_lrmul`) to a `mapping_fmaps`-wide cmap (None: nf(0)); `Output`
    then has `mapping_fmaps` features and the score is `sum(Output * cmap) / sqrt(mapping_fmaps)` (projection).
    `freeze_layers` k: the first k layers (FromRGB, Conv0, Conv1_down, Skip, ..., 4x4 Conv, Dense0, in NVIDIA's
    order) are not trainable (Freeze-D); Output always is.
    """

    def __init__(self, resolution: int = 1024, num_channels: int = 3, label_size: int = 0,
                 fmap_base: int = 16 << 10, fmap_decay: float = 1.0, fmap_min: int = 1, fmap_max: int = 512,
                 mapping_layers: int = 0, mapping_fmaps: int | None = None, mapping_lrmul: float = 0.1,
                 architecture: str = 'resnet', nonlinearity: str = 'lrelu', mbstd_group_size: int | None = None,
                 mbstd_num_features: int = 1, resample_kernel=(1, 3, 3, 1), conv_clamp: float | None = None,
                 num_fp16_res: int = 0, freeze_layers: int = 0, nvidia_static_kwargs: dict | None = None,
                 name: str = 'D', **kwargs):
        super().__init__(name=name, **kwargs)
        self.fp16 = False  # honour num_fp16_res (module docstring): a run setting, like NVIDIA's dynamic kwargs
        _check_choice('discriminator architecture', architecture, arch.D_ARCHITECTURES)
        self.resolution, self.num_channels, self.label_size = int(resolution), int(num_channels), int(label_size)
        self.fmap = dict(fmap_base=int(fmap_base), fmap_decay=float(fmap_decay), fmap_min=int(fmap_min),
                         fmap_max=int(fmap_max))
        self.mapping_layers, self.mapping_fmaps = int(mapping_layers), _optional_int(mapping_fmaps)
        self.mapping_lrmul = float(mapping_lrmul)
        self.architecture, self.nonlinearity = architecture, nonlinearity
        self.mbstd_group_size, self.mbstd_num_features = _optional_int(mbstd_group_size), int(mbstd_num_features)
        self.resample_kernel = None if resample_kernel is None else list(resample_kernel)
        self.conv_clamp, self.num_fp16_res = _clamp_setting(conv_clamp), int(num_fp16_res)
        self.freeze_layers = int(freeze_layers)
        self.nvidia_static_kwargs = nvidia_static_kwargs
        nf = lambda stage: arch.nf(stage, **self.fmap)  # noqa: E731
        self.cmap_dim = nf(0) if self.mapping_fmaps is None else self.mapping_fmaps
        # Created before the blocks, as NVIDIA does (its LabelEmbed / Mapping{i} variables come first).
        self.embed = LabelEmbed(self.label_size, self.cmap_dim) if self.label_size else None
        self.label_mapping = [FullyConnectedLayer(self.cmap_dim, self.cmap_dim, activation=nonlinearity,
                                                  lrmul=self.mapping_lrmul, name=f'Mapping{i}')
                              for i in range(self.mapping_layers if self.label_size else 0)]
        self.blocks = []
        for res in reversed(arch.block_resolutions(self.resolution)[1:]):
            stage = arch.log2_resolution(res) - 1
            self.blocks.append(AdaDiscriminatorBlock(res, nf(stage), nf(stage - 1), self.num_channels, architecture,
                                                     res == self.resolution, nonlinearity=nonlinearity,
                                                     resample_kernel=self.resample_kernel,
                                                     conv_clamp=self.conv_clamp))
        self.epilogue = AdaDiscriminatorEpilogue(nf(1), nf(0), self.num_channels, architecture,
                                                 self.mbstd_group_size, self.mbstd_num_features,
                                                 nonlinearity=nonlinearity, conv_clamp=self.conv_clamp)
        self.out = FullyConnectedLayer(nf(0), self.cmap_dim if self.label_size else 1, name='Output')

    def frozen_layers(self) -> list:
        """The first `freeze_layers` layers in NVIDIA's Freeze-D order."""
        ordered = [layer for block in self.blocks for layer in block.layers_in_order()]
        return (ordered + self.epilogue.layers_in_order())[:self.freeze_layers]

    def build(self, input_shape=None):
        if self.embed is not None:
            self.embed.build()
        for layer in self.label_mapping:
            layer.build()
        for block in self.blocks:
            block.build()
        self.epilogue.build()
        self.out.build()
        for layer in self.frozen_layers():
            layer.trainable = False
        self.built = True

    def call(self, img, c=None, fp16: bool | None = None, num_fp16_res: int | None = None):
        """`fp16` (None: the network's setting) computes the top `num_fp16_res` (None: as declared) blocks in
        float16; the epilogue, Output and the label mapping are float32."""
        assert_shape(img, [None, self.resolution, self.resolution, self.num_channels], f'{_where(self)} images')
        if self.label_size:
            assert_shape(c, [None, self.label_size], f'{_where(self)} labels c')
        img = tf.cast(img, tf.float32)
        half = _fp16_blocks(self, fp16, num_fp16_res)
        x = None
        for block in self.blocks:
            x, img = block(x, img, fp16=block.res in half)
        x = self.out(self.epilogue(x, img))
        if self.label_size:
            cmap = self.embed(c)
            for layer in self.label_mapping:
                cmap = layer(cmap)
            x = tf.reduce_sum(x * cmap, axis=1, keepdims=True) / np.float32(np.sqrt(self.cmap_dim))
        return x

    def get_config(self):
        return {'name': self.name, 'resolution': self.resolution, 'num_channels': self.num_channels,
                'label_size': self.label_size, **self.fmap, 'mapping_layers': self.mapping_layers,
                'mapping_fmaps': self.mapping_fmaps, 'mapping_lrmul': self.mapping_lrmul,
                'architecture': self.architecture, 'nonlinearity': self.nonlinearity,
                'mbstd_group_size': self.mbstd_group_size, 'mbstd_num_features': self.mbstd_num_features,
                'resample_kernel': self.resample_kernel, 'conv_clamp': self.conv_clamp,
                'num_fp16_res': self.num_fp16_res, 'freeze_layers': self.freeze_layers,
                'nvidia_static_kwargs': self.nvidia_static_kwargs}
