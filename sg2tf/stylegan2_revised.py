"""StyleGAN2 configs B-D networks, fully grown (lod = 0): revised synthesis, its generator, and D_stylegan.

Mirrors NVIDIA training/networks_stylegan2.py: G_synthesis_stylegan_revised and D_stylegan. Configs B-D keep
StyleGAN's progressive-growing layout: one `ToRGB_lod{k}` / `FromRGB_lod{k}` layer per resolution, at the network's
top scope, k = log2(R / res). Fully grown, only `ToRGB_lod0` / `FromRGB_lod0` are used and the networks compute
exactly config E's `orig` synthesis and discriminator; the other lod layers are held (loaded and written back) but
not used. The per-resolution blocks are sg2tf.networks' own, built without their ToRGB / FromRGB.

Keras tracks sub-layers in assignment order, and that order is the variable order NVIDIA creates: each resolution's
block and its lod layer are appended together.
"""
from __future__ import annotations

import keras
import tensorflow as tf

from sg2tf import arch
from sg2tf.compat import DnnlibDiscriminatorMixin, DnnlibSynthesisMixin
from sg2tf.layers import REGISTER, Conv2dLayer, FullyConnectedLayer, ToRGBLayer, normal_init
from sg2tf.misc import assert_shape
from sg2tf.networks import (DiscriminatorBlock, DiscriminatorEpilogue, Generator, SynthesisBlock,
                            synthesis_noises)


def _where(layer: keras.layers.Layer) -> str:
    """The layer's scope path (`G/synthesis`) for error messages; its name before it is built."""
    return layer.path or layer.name


def lod_of(resolution: int, res: int) -> int:
    """The level of detail NVIDIA names a resolution's ToRGB / FromRGB with: log2(resolution / res)."""
    return arch.log2_resolution(resolution) - arch.log2_resolution(res)


@keras.saving.register_keras_serializable(REGISTER)
class RevisedSynthesisNetwork(DnnlibSynthesisMixin, keras.Model):
    """W [N, num_layers, dlatent_size] -> images [N, R, R, C] (NHWC), configs B-D, fully grown.

    Mirrors NVIDIA training/networks_stylegan2.py: G_synthesis_stylegan_revised at lod 0: the `orig` topology with
    `ToRGB_lod{k}` for every resolution; the image is `ToRGB_lod0` of the last block (W index num_layers - 1).
    Owns the noise buffers `noise0 ... noise{num_layers-2}` ([1, H, W, 1]) used by `noise_mode='const'`.
    """

    def __init__(self, resolution: int = 1024, num_channels: int = 3, dlatent_size: int = 512,
                 fmap_base: int = 16 << 10, fmap_decay: float = 1.0, fmap_min: int = 1, fmap_max: int = 512,
                 nonlinearity: str = 'lrelu', resample_kernel=(1, 3, 3, 1), fused_modconv: bool = True,
                 name: str = 'synthesis', **kwargs):
        super().__init__(name=name, **kwargs)
        self.resolution, self.num_channels, self.dlatent_size = int(resolution), int(num_channels), int(dlatent_size)
        self.fmap = dict(fmap_base=int(fmap_base), fmap_decay=float(fmap_decay), fmap_min=int(fmap_min),
                         fmap_max=int(fmap_max))
        self.nonlinearity, self.fused_modconv = nonlinearity, bool(fused_modconv)
        self.resample_kernel = None if resample_kernel is None else list(resample_kernel)
        self.num_layers = arch.num_layers(self.resolution)
        self.blocks, self.torgbs = [], []
        for res in arch.block_resolutions(self.resolution):
            stage = arch.log2_resolution(res) - 1
            in_ch, out_ch = arch.nf(max(stage - 1, 1), **self.fmap), arch.nf(stage, **self.fmap)
            # 'orig', not last: the block has no ToRGB of its own; this resolution's ToRGB_lod{k} follows it.
            self.blocks.append(SynthesisBlock(res, in_ch, out_ch, self.num_channels, 'orig', False,
                                              dlatent_size=dlatent_size, nonlinearity=nonlinearity,
                                              resample_kernel=self.resample_kernel, fused_modconv=fused_modconv))
            self.torgbs.append(ToRGBLayer(out_ch, self.num_channels, dlatent_size=dlatent_size,
                                          fused_modconv=fused_modconv, name=f'ToRGB_lod{lod_of(resolution, res)}'))

    def build(self, input_shape=None):
        self.noise_buffers = []
        for k in range(self.num_layers - 1):
            size = arch.noise_resolution(k)
            self.noise_buffers.append(self.add_weight(name=f'noise{k}', shape=(1, size, size, 1), trainable=False,
                                                      initializer=normal_init(1.0)))
        for block, torgb in zip(self.blocks, self.torgbs):
            block.build()
            torgb.build()
        self.built = True

    def call(self, ws, noise_mode: str = 'const', noise=None):
        """`noise` (optional): explicit per-conv-layer noise, a list of [N, H, W, 1]; overrides `noise_mode`."""
        assert_shape(ws, [None, self.num_layers, self.dlatent_size], f'{_where(self)} dlatents ws')
        ws = tf.cast(ws, tf.float32)
        noises = synthesis_noises(self, tf.shape(ws)[0], noise_mode, noise)
        x, k = None, 0
        for block in self.blocks:
            count = 1 if block.res == 4 else 2
            x, _ = block(x, None, ws, noises[k:k + count])
            k += count
        # lod 0: the image is the last resolution's ToRGB_lod0 (NVIDIA's lerp towards lower lods has weight 0).
        return self.torgbs[-1](x, ws[:, arch.w_index(self.resolution, 'ToRGB')])

    def get_config(self):
        return {'name': self.name, 'resolution': self.resolution, 'num_channels': self.num_channels,
                'dlatent_size': self.dlatent_size, **self.fmap, 'nonlinearity': self.nonlinearity,
                'resample_kernel': self.resample_kernel, 'fused_modconv': self.fused_modconv}


@keras.saving.register_keras_serializable(REGISTER)
class RevisedGenerator(Generator):
    """sg2tf.Generator (NVIDIA G_main: mapping, W average, truncation) whose synthesis is `RevisedSynthesisNetwork`.

    Mirrors NVIDIA training/networks_stylegan2.py: G_main with synthesis_func='G_synthesis_stylegan_revised'.
    Same constructor arguments as Generator; `synthesis_kwargs` are RevisedSynthesisNetwork's.
    """

    synthesis_class = RevisedSynthesisNetwork


@keras.saving.register_keras_serializable(REGISTER)
class RevisedDiscriminator(DnnlibDiscriminatorMixin, keras.Model):
    """Images [N, R, R, C] in [-1, 1] (+ labels [N, label_size]) -> scores [N, 1], configs B-D, fully grown.

    Mirrors NVIDIA training/networks_stylegan2.py: D_stylegan at lod 0: `FromRGB_lod0` on the full-resolution
    image, then the `orig` blocks (Conv0, Conv1_down), the 4x4 epilogue (minibatch stddev, Conv, Dense0) and
    `Output` (projection conditioning on labels). `FromRGB_lod{k}`, k > 0, are held but not used.
    """

    def __init__(self, resolution: int = 1024, num_channels: int = 3, label_size: int = 0,
                 fmap_base: int = 16 << 10, fmap_decay: float = 1.0, fmap_min: int = 1, fmap_max: int = 512,
                 nonlinearity: str = 'lrelu', mbstd_group_size: int = 4, mbstd_num_features: int = 1,
                 resample_kernel=(1, 3, 3, 1), nvidia_static_kwargs: dict | None = None, name: str = 'D',
                 **kwargs):
        super().__init__(name=name, **kwargs)
        self.resolution, self.num_channels, self.label_size = int(resolution), int(num_channels), int(label_size)
        self.fmap = dict(fmap_base=int(fmap_base), fmap_decay=float(fmap_decay), fmap_min=int(fmap_min),
                         fmap_max=int(fmap_max))
        self.nonlinearity = nonlinearity
        self.mbstd_group_size, self.mbstd_num_features = int(mbstd_group_size), int(mbstd_num_features)
        self.resample_kernel = None if resample_kernel is None else list(resample_kernel)
        self.nvidia_static_kwargs = nvidia_static_kwargs
        nf = lambda stage: arch.nf(stage, **self.fmap)  # noqa: E731
        self.fromrgbs, self.blocks = [], []
        for res in reversed(arch.block_resolutions(self.resolution)):
            stage = arch.log2_resolution(res) - 1
            self.fromrgbs.append(Conv2dLayer(self.num_channels, nf(stage), 1, activation=nonlinearity,
                                             name=f'FromRGB_lod{lod_of(resolution, res)}'))
            if res > 4:  # 'orig', not first: the block has no FromRGB of its own
                self.blocks.append(DiscriminatorBlock(res, nf(stage), nf(stage - 1), self.num_channels, 'orig',
                                                      False, nonlinearity=nonlinearity,
                                                      resample_kernel=self.resample_kernel))
        self.epilogue = DiscriminatorEpilogue(nf(1), nf(0), self.num_channels, 'orig', self.mbstd_group_size,
                                              self.mbstd_num_features, nonlinearity=nonlinearity)
        self.out = FullyConnectedLayer(nf(0), max(self.label_size, 1), name='Output')

    def build(self, input_shape=None):
        for i, fromrgb in enumerate(self.fromrgbs):
            fromrgb.build()
            if i < len(self.blocks):
                self.blocks[i].build()
        self.epilogue.build()
        self.out.build()
        self.built = True

    def call(self, img, c=None):
        assert_shape(img, [None, self.resolution, self.resolution, self.num_channels], f'{_where(self)} images')
        if self.label_size:
            assert_shape(c, [None, self.label_size], f'{_where(self)} labels c')
        # lod 0: FromRGB_lod0 reads the full-resolution image (NVIDIA's lerp towards lower lods has weight 0).
        x = self.fromrgbs[0](tf.cast(img, tf.float32))
        for block in self.blocks:
            x, _ = block(x, None)
        x = self.out(self.epilogue(x, None))
        if self.label_size:
            x = tf.reduce_sum(x * tf.cast(c, tf.float32), axis=1, keepdims=True)
        return x

    def get_config(self):
        return {'name': self.name, 'resolution': self.resolution, 'num_channels': self.num_channels,
                'label_size': self.label_size, **self.fmap, 'nonlinearity': self.nonlinearity,
                'mbstd_group_size': self.mbstd_group_size, 'mbstd_num_features': self.mbstd_num_features,
                'resample_kernel': self.resample_kernel, 'nvidia_static_kwargs': self.nvidia_static_kwargs}
