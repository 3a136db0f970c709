"""StyleGAN2 networks (NVIDIA config E/F): mapping, synthesis (orig/skip/resnet), generator, discriminator.

Constructor keyword arguments use NVIDIA's static-kwarg names and defaults, so a pickle's `static_kwargs`
map onto them directly. Layers and weights carry NVIDIA's names (`synthesis/8x8/Conv0_up/weight`).
"""
from __future__ import annotations

import numpy as np
import keras
import tensorflow as tf

from sg2tf import arch, ops
from sg2tf.arch import NOISE_MODES
from sg2tf.misc import assert_shape
from sg2tf.compat import DnnlibGeneratorMixin, DnnlibMappingMixin, DnnlibSynthesisMixin, DnnlibDiscriminatorMixin
from sg2tf.layers import (REGISTER, ConstantInput, Conv2dLayer, FullyConnectedLayer, LabelConcat,
                          MinibatchStddevLayer, SynthesisLayer, ToRGBLayer, const_init, gpu_visible,
                          normal_init)

SQRT1_2 = np.float32(np.sqrt(0.5))
# On the CPU (no GPU visible), static batch 2..PER_SAMPLE_BLOCKS_MAX_BATCH: the synthesis blocks from this
# resolution up run once per sample (see run_synthesis_blocks; a GPU keeps the batch together).
PER_SAMPLE_BLOCKS_FROM_RES = 256
PER_SAMPLE_BLOCKS_MAX_BATCH = 8
# On the CPU, the synthesis blocks from BAND_FROM_RES up run in horizontal bands of the final image,
# BAND_ROWS rows each, one band after the other (see run_synthesis_blocks): their full-resolution
# activations then never exist whole. Config-f 1024 at batch 1 on the AMD EPYC family 26 (record
# bands_epyc_zen5.txt), steady peak RSS and median s: 64 rows 949-957 MiB, 0.577 s; 128 rows 983-999, 0.544;
# 256 rows 1059-1065, 0.511.
BAND_FROM_RES = 512
BAND_ROWS = 128


def synthesis_noises(network, n, noise_mode: str, noise=None, use_noise: bool = True) -> list:
    """The per-conv-layer noise inputs of a synthesis network (`num_layers - 1`, None where there is none):
    explicit `noise` (a list of [N, H, W, 1]) over `noise_mode`: 'const' the network's `noise_buffers`, 'random'
    fresh N(0, 1) draws for `n` samples, 'none' none."""
    _check_choice('noise_mode', noise_mode, NOISE_MODES)
    noises = []
    for k in range(network.num_layers - 1):
        if not use_noise or (noise is None and noise_mode == 'none'):
            noises.append(None)
        elif noise is not None:
            noises.append(noise[k])
        elif noise_mode == 'const':
            noises.append(network.noise_buffers[k])
        else:
            size = arch.noise_resolution(k)
            noises.append(tf.random.normal([n, size, size, 1]))
    return noises


def run_synthesis_blocks(blocks, ws: tf.Tensor, noises: list, per_sample: bool, block_kwargs=None) -> tf.Tensor:
    """Run synthesis blocks in order (each `block(x, img, ws, its noises)`, one noise at 4x4, two above) -> img.

    `per_sample` (the CPU) turns on two ways of running the same math in less time and memory:
    - a static batch of 2..PER_SAMPLE_BLOCKS_MAX_BATCH runs the blocks from PER_SAMPLE_BLOCKS_FROM_RES up once
      per sample: their modulated convolutions then take the batch-1 path (kernels modulated per sample, conv
      fused with its bias, noise and activation) instead of scaling the large activations by styles and
      demodulation coefficients, and their activations exist one sample at a time. The lower resolutions, where
      a batched conv pays, stay batched.
    - the blocks from BAND_FROM_RES up run in bands of BAND_ROWS rows of the final image (`_run_in_bands`).
    `block_kwargs(block)`: extra call arguments per block (the ADA blocks' float16 switch)."""
    kwargs = block_kwargs or (lambda block: {})
    ends = np.cumsum([1 if block.res == 4 else 2 for block in blocks])
    own = [noises[start:end] for start, end in zip(np.concatenate([[0], ends[:-1]]), ends)]
    batch = ws.shape[0]
    split = banded = len(blocks)
    if per_sample:
        banded = next((i for i, block in enumerate(blocks) if block.res >= BAND_FROM_RES and i > 0), len(blocks))
        if batch is not None and 2 <= batch <= PER_SAMPLE_BLOCKS_MAX_BATCH:
            split = next((i for i, block in enumerate(blocks) if block.res >= PER_SAMPLE_BLOCKS_FROM_RES and i > 0),
                         len(blocks))
    split = min(split, banded)

    def run(x, img, ws, lo, hi, noise_lists):
        for i in range(lo, hi):
            x, img = blocks[i](x, img, ws, noise_lists[i - lo], **kwargs(blocks[i]))
        return x, img

    def top(x, img, ws, noise_lists):  # blocks split.. : per sample or batched, the highest in bands
        x, img = run(x, img, ws, split, banded, noise_lists)
        if banded == len(blocks):
            return img
        return _run_in_bands(blocks[banded:], x, img, ws, noise_lists[banded - split:], kwargs)

    x, img = run(None, None, ws, 0, split, own)
    if split == len(blocks):
        return img
    if split == banded:  # no per-sample blocks (split < banded only for a batch of 2..PER_SAMPLE_BLOCKS_MAX_BATCH)
        return top(x, img, ws, own[split:])
    images = []
    for s in range(batch):
        sample_noises = [[nz if nz is None or nz.shape[0] == 1 else nz[s:s + 1] for nz in lst] for lst in own[split:]]
        images.append(top(x[s:s + 1], None if img is None else img[s:s + 1], ws[s:s + 1], sample_noises))
    return tf.concat(images, axis=0)


def _run_in_bands(blocks, x: tf.Tensor, img: tf.Tensor | None, ws: tf.Tensor, noise_lists: list, kwargs):
    """The last synthesis blocks, band after band of BAND_ROWS output rows -> img [N, R, R, C] (float32).

    Every op of a StyleGAN2 synthesis block acts on a few neighbouring rows (3x3 and 1x1 convs, the 2x
    up-convolution and the FIR filters; no normalization over the image), so the output rows [r0, r0 + rows)
    need only the input rows [r0 / 2 - m, (r0 + rows) / 2 + m) of each block, m = `_band_margin`. Each band runs
    its blocks on such a slice, keeps the rows that are exact and hands them on; rows beyond the image are the
    zero padding as in the whole image. Same sums as the whole image: only the GEMM shapes differ (round-off).
    Every band's slice of a block has the same height (the ones at the image's edges reach further inward, and
    a last band that would be short starts earlier and overlaps the one before), so the bands are one loop
    (`tf.while_loop`, one iteration at a time): a compiled graph holds the blocks once, not once per band (less
    memory for the graph and its executor), and TensorFlow's oneDNN kernels, which keep state per input shape
    (benchmarks/op_memory.py), see one shape. A dynamic batch (the exports) has the bands unrolled instead, one
    after the other through control dependencies: TFLite needs a loop's TensorArray to have a static shape."""
    res = blocks[-1].res
    rows = min(BAND_ROWS, res)
    count = -(-res // rows)
    margins = [_band_margin(block) for block in blocks]
    heights, h = [], rows   # per block: the input slice height of every band
    for block, m in zip(reversed(blocks), reversed(margins)):
        h = min(block.res // 2, -(-h // 2) + 2 * m)
        heights.append(h)
    heights.reverse()
    kept = heights[1:] + [rows]  # per block: the output rows it hands on

    def band(r0):  # r0: the band's first output row (an int, or an int32 scalar tensor in the loop)
        starts, top = [], r0  # per block from the top: the first row of its input slice
        for block, h, m in zip(reversed(blocks), reversed(heights), reversed(margins)):
            top = _clip(top // 2 - m, 0, block.res // 2 - h)
            starts.append(top)
        starts.reverse()
        xs, imgs = _rows(x, starts[0], heights[0]), None if img is None else _rows(img, starts[0], heights[0])
        for i, (block, noises) in enumerate(zip(blocks, noise_lists)):
            noises = [nz if nz is None else _rows(nz, 2 * starts[i], 2 * heights[i]) for nz in noises]
            xs, imgs = block(xs, imgs, ws, noises, **kwargs(block))
            keep = (starts[i + 1] if i + 1 < len(blocks) else r0) - 2 * starts[i]
            xs, imgs = _rows(xs, keep, kept[i]), None if imgs is None else _rows(imgs, keep, kept[i])
        return imgs

    if count == 1:
        return band(0)
    band_rows = [min(k * rows, res - rows) for k in range(count)]  # each band's first output row
    if x.shape[0] is None:  # a dynamic batch: unrolled
        images = []
        for r0 in band_rows:
            with tf.control_dependencies(images[-1:]):  # the band before is done: one band at a time
                images.append(band(r0))
        return _join_bands(tf.concat(images, axis=1), rows, res)

    def body(i, out):
        with tf.control_dependencies([out.flow]):  # the band before has been written: one band at a time
            rgb = band(tf.gather(band_rows, i))
        return [i + 1, out.write(i, tf.cast(rgb, tf.float32))]
    out = tf.TensorArray(tf.float32, size=count, element_shape=[x.shape[0], rows, res, blocks[-1].num_channels])
    _, out = tf.while_loop(lambda i, out: i < count, body, [tf.constant(0), out], parallel_iterations=1,
                           maximum_iterations=count)
    bands = out.stack()  # [count, N, rows, R, C]
    if x.shape[0] != 1:  # (batch 1: the bands are already in order)
        bands = tf.transpose(bands, [1, 0, 2, 3, 4])
    return _join_bands(tf.reshape(bands, [x.shape[0], count * rows, res, bands.shape[-1]]), rows, res)


def _join_bands(bands: tf.Tensor, rows: int, res: int) -> tf.Tensor:
    """Bands of `rows` rows one after the other along axis 1 -> the image's `res` rows: a last band that starts
    early (to keep the height) has its first rows, those of the band before, dropped."""
    extra = bands.shape[1] - res
    if extra == 0:
        return bands
    last = bands.shape[1] - rows
    return tf.concat([bands[:, :last], bands[:, last + extra:]], axis=1)


def _clip(v, lo: int, hi: int):
    """min(max(v, lo), hi) for an int or an int32 scalar tensor."""
    return min(max(v, lo), hi) if isinstance(v, int) else tf.clip_by_value(v, lo, hi)


def _rows(t: tf.Tensor, start, height: int) -> tf.Tensor:
    """Rows [start, start + height) of an NHWC tensor; `start` an int or an int32 scalar tensor (the static
    shape is kept either way)."""
    if isinstance(start, int):
        return t[:, start:start + height]
    n, _, w, c = (-1 if d is None else d for d in t.shape)
    return tf.slice(t, tf.stack([0, start, 0, 0]), [n, height, w, c])


def _band_margin(block) -> int:
    """Input rows a block's output band needs beyond its own on each side: the up-convolution's kernel and FIR
    filter reach (k + taps) / 4 input rows, the following 3x3 conv and the skip paths' filters one more."""
    taps = 2 if block.resample_kernel is None else len(block.resample_kernel)
    return (3 + taps) // 4 + 2


def _check_choice(what: str, value, choices):
    if value not in choices:
        raise ValueError(f'{what} must be one of {list(choices)}, got {value!r}')


def _where(layer: keras.layers.Layer) -> str:
    """The layer's scope path (`G/synthesis/8x8`) for error messages; its name before it is built."""
    return layer.path or layer.name


@keras.saving.register_keras_serializable(REGISTER)
class MappingNetwork(DnnlibMappingMixin, keras.Model):
    """z (+ label embedding) -> normalize -> `mapping_layers` dense layers (lrmul 0.01) -> W, broadcast.

    Mirrors NVIDIA training/networks_stylegan2.py: G_mapping. Input z [N, latent_size] (+ labels
    [N, label_size]); output [N, dlatent_broadcast, dlatent_size], or [N, dlatent_size] without broadcast.
    """

    def __init__(self, latent_size: int = 512, label_size: int = 0, dlatent_size: int = 512,
                 dlatent_broadcast: int | None = None, mapping_layers: int = 8, mapping_fmaps: int = 512,
                 mapping_lrmul: float = 0.01, mapping_nonlinearity: str = 'lrelu', normalize_latents: bool = True,
                 name: str = 'mapping', **kwargs):
        super().__init__(name=name, **kwargs)
        self.latent_size, self.label_size, self.dlatent_size = int(latent_size), int(label_size), int(dlatent_size)
        self.dlatent_broadcast = None if dlatent_broadcast is None else int(dlatent_broadcast)
        self.mapping_layers, self.mapping_fmaps = int(mapping_layers), int(mapping_fmaps)
        self.mapping_lrmul, self.mapping_nonlinearity = float(mapping_lrmul), mapping_nonlinearity
        self.normalize_latents = bool(normalize_latents)
        self.label_concat = LabelConcat(label_size, latent_size) if self.label_size else None
        fan_in = self.latent_size * (2 if self.label_size else 1)
        self.dense_layers = []
        for i in range(self.mapping_layers):
            units = self.dlatent_size if i == self.mapping_layers - 1 else self.mapping_fmaps
            self.dense_layers.append(FullyConnectedLayer(fan_in, units, activation=mapping_nonlinearity,
                                                         lrmul=self.mapping_lrmul, name=f'Dense{i}'))
            fan_in = units

    def build(self, input_shape=None):
        if self.label_concat is not None:
            self.label_concat.build()
        for layer in self.dense_layers:
            layer.build()
        self.built = True

    def call(self, z, c=None):
        assert_shape(z, [None, self.latent_size], f'{_where(self)} latents z')
        if self.label_size:
            assert_shape(c, [None, self.label_size], f'{_where(self)} labels c')
        x = tf.cast(z, tf.float32)
        if self.label_size:
            x = tf.concat([x, self.label_concat(c)], axis=1)
        if self.normalize_latents:
            x = x * tf.math.rsqrt(tf.reduce_mean(tf.square(x), axis=1, keepdims=True) + 1e-8)
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
                'normalize_latents': self.normalize_latents}


@keras.saving.register_keras_serializable(REGISTER)
class SynthesisBlock(keras.layers.Layer):
    """One resolution of the synthesis network (`4x4`, `8x8`, ...): its convs, `Skip` and `ToRGB`.

    Mirrors NVIDIA training/networks_stylegan2.py: G_synthesis_stylegan2, its local `block()` (and, for the
    skip architecture, `upsample()` + `torgb()`).
    """

    def __init__(self, res: int, in_channels: int, out_channels: int, num_channels: int, architecture: str,
                 is_last: bool, dlatent_size: int = 512, nonlinearity: str = 'lrelu', resample_kernel=(1, 3, 3, 1),
                 fused_modconv: bool = True, **kwargs):
        super().__init__(name=f'{res}x{res}', **{k: v for k, v in kwargs.items() if k != 'name'})
        self.res, self.in_channels, self.out_channels = int(res), int(in_channels), int(out_channels)
        self.num_channels, self.architecture, self.is_last = int(num_channels), architecture, bool(is_last)
        self.dlatent_size, self.nonlinearity, self.fused_modconv = int(dlatent_size), nonlinearity, bool(fused_modconv)
        self.resample_kernel = None if resample_kernel is None else list(resample_kernel)
        self.resample_filter = ops.setup_filter(self.resample_kernel)
        common = dict(dlatent_size=dlatent_size, activation=nonlinearity, resample_kernel=self.resample_kernel,
                      fused_modconv=fused_modconv)
        if self.res == 4:
            self.const = ConstantInput(out_channels, name='Const')
            self.conv1 = SynthesisLayer(out_channels, out_channels, name='Conv', **common)
            self.conv0 = self.skip = None
        else:
            self.conv0 = SynthesisLayer(in_channels, out_channels, up=2, name='Conv0_up', **common)
            self.conv1 = SynthesisLayer(out_channels, out_channels, name='Conv1', **common)
            self.skip = (Conv2dLayer(in_channels, out_channels, 1, use_bias=False, up=2,
                                     resample_kernel=self.resample_kernel, name='Skip')
                         if architecture == 'resnet' else None)
        self.torgb = (ToRGBLayer(out_channels, num_channels, dlatent_size=dlatent_size,
                                 fused_modconv=fused_modconv, name='ToRGB')
                      if architecture == 'skip' or is_last else None)

    def build(self, input_shape=None):
        for layer in (getattr(self, 'const', None), self.conv0, self.conv1, self.skip, self.torgb):
            if layer is not None:
                layer.build()
        self.built = True

    def call(self, x, img, ws, noises):
        """x: features or None (4x4); img: RGB skip path or None; ws: full W [N, L, w_dim]; noises: per conv."""
        where, half = _where(self), self.res // 2
        if self.res > 4:
            assert_shape(x, [None, None, half, self.in_channels], f'{where} input x')  # rows: maybe a band
        if img is not None:
            assert_shape(img, [None, None, half, self.num_channels], f'{where} input img')
        if self.res == 4:
            x = self.const(tf.shape(ws)[0])
            x = self.conv1(x, ws[:, arch.w_index(4, 'Conv')], noises[0])
        else:
            t = x
            x = self.conv0(x, ws[:, arch.w_index(self.res, 'Conv0_up')], noises[0])
            x = self.conv1(x, ws[:, arch.w_index(self.res, 'Conv1')], noises[1])
            if self.skip is not None:
                x = (x + self.skip(t)) * SQRT1_2
        if self.torgb is not None:
            y = self.torgb(x, ws[:, arch.w_index(self.res, 'ToRGB')])
            img = y if img is None or self.architecture != 'skip' else ops.upsample_2d(img, self.resample_filter) + y
        assert_shape(x, [None, None, self.res, self.out_channels], f'{where} output x')
        if img is not None:
            assert_shape(img, [None, None, self.res, self.num_channels], f'{where} output img')
        return x, img

    def get_config(self):
        return {**super().get_config(), 'res': self.res, 'in_channels': self.in_channels,
                'out_channels': self.out_channels, 'num_channels': self.num_channels,
                'architecture': self.architecture, 'is_last': self.is_last, 'dlatent_size': self.dlatent_size,
                'nonlinearity': self.nonlinearity, 'resample_kernel': self.resample_kernel,
                'fused_modconv': self.fused_modconv}


@keras.saving.register_keras_serializable(REGISTER)
class SynthesisNetwork(DnnlibSynthesisMixin, keras.Model):
    """W [N, num_layers, dlatent_size] -> images [N, R, R, C] (NHWC, nominally [-1, 1], not clipped).

    Mirrors NVIDIA training/networks_stylegan2.py: G_synthesis_stylegan2 (architectures orig, skip, resnet).

    Owns the noise buffers `noise0 ... noise{num_layers-2}` ([1, H, W, 1]) used by `noise_mode='const'`.
    """

    def __init__(self, resolution: int = 1024, num_channels: int = 3, dlatent_size: int = 512,
                 fmap_base: int = 16 << 10, fmap_decay: float = 1.0, fmap_min: int = 1, fmap_max: int = 512,
                 architecture: str = 'skip', nonlinearity: str = 'lrelu', resample_kernel=(1, 3, 3, 1),
                 fused_modconv: bool = True, name: str = 'synthesis', **kwargs):
        super().__init__(name=name, **kwargs)
        _check_choice('synthesis architecture', architecture, arch.G_ARCHITECTURES)
        self.resolution, self.num_channels, self.dlatent_size = int(resolution), int(num_channels), int(dlatent_size)
        self.fmap = dict(fmap_base=int(fmap_base), fmap_decay=float(fmap_decay), fmap_min=int(fmap_min),
                         fmap_max=int(fmap_max))
        self.architecture, self.nonlinearity, self.fused_modconv = architecture, nonlinearity, bool(fused_modconv)
        self.resample_kernel = None if resample_kernel is None else list(resample_kernel)
        self.num_layers = arch.num_layers(self.resolution)
        self.blocks = []
        for res in arch.block_resolutions(self.resolution):
            stage = arch.log2_resolution(res) - 1
            in_ch = arch.nf(max(stage - 1, 1), **self.fmap)
            self.blocks.append(SynthesisBlock(res, in_ch, arch.nf(stage, **self.fmap), self.num_channels,
                                              architecture, res == self.resolution, dlatent_size=dlatent_size,
                                              nonlinearity=nonlinearity, resample_kernel=self.resample_kernel,
                                              fused_modconv=fused_modconv))

    def build(self, input_shape=None):
        self.noise_buffers = []
        for k in range(self.num_layers - 1):
            size = arch.noise_resolution(k)
            self.noise_buffers.append(self.add_weight(name=f'noise{k}', shape=(1, size, size, 1), trainable=False,
                                                      initializer=normal_init(1.0)))
        for block in self.blocks:
            block.build()
        self.built = True

    def call(self, ws, noise_mode: str = 'const', noise=None):
        """`noise` (optional): explicit per-conv-layer noise, a list of [N, H, W, 1]; overrides `noise_mode`."""
        assert_shape(ws, [None, self.num_layers, self.dlatent_size], f'{_where(self)} dlatents ws')
        ws = tf.cast(ws, tf.float32)
        noises = synthesis_noises(self, tf.shape(ws)[0], noise_mode, noise)
        return run_synthesis_blocks(self.blocks, ws, noises, per_sample=not gpu_visible())

    def get_config(self):
        return {'name': self.name, 'resolution': self.resolution, 'num_channels': self.num_channels,
                'dlatent_size': self.dlatent_size, **self.fmap, 'architecture': self.architecture,
                'nonlinearity': self.nonlinearity, 'resample_kernel': self.resample_kernel,
                'fused_modconv': self.fused_modconv}


def truncate(ws: tf.Tensor, w_avg: tf.Tensor, psi: float | None = 1.0, cutoff: int | None = None) -> tf.Tensor:
    """`w_avg + (w - w_avg) * psi` on layers `< cutoff` (all layers if cutoff is None); psi None/1 = identity."""
    if psi is None or (not isinstance(psi, tf.Tensor) and float(psi) == 1.0):
        return ws
    num_ws = ws.shape[1]
    layer_psi = tf.where(tf.range(num_ws) < (num_ws if cutoff is None else int(cutoff)),
                         tf.cast(psi, tf.float32), 1.0)
    return w_avg + (ws - w_avg) * layer_psi[None, :, None]


@keras.saving.register_keras_serializable(REGISTER)
class Generator(DnnlibGeneratorMixin, keras.Model):
    """Mapping + synthesis, the W average `dlatent_avg`, truncation and style mixing.

    Mirrors NVIDIA training/networks_stylegan2.py: G_main.

    Keras call: `G(z, c, truncation_psi=1.0, truncation_cutoff=None, noise_mode='const')` -> NHWC images.
    `truncation_psi`, `truncation_cutoff` given to the constructor are NVIDIA's static defaults, used by `run()`.
    Other families' generators (configs B-D, StyleGAN1, ADA) are this class with other `synthesis_class`,
    `mapping_class` and `truncation` (NVIDIA's G_main / G_style differ only there).
    """
    synthesis_class: type = SynthesisNetwork
    mapping_class: type = MappingNetwork
    truncation = staticmethod(truncate)

    def __init__(self, resolution: int = 1024, num_channels: int = 3, label_size: int = 0, latent_size: int = 512,
                 dlatent_size: int = 512, mapping_kwargs: dict | None = None, synthesis_kwargs: dict | None = None,
                 truncation_psi: float | None = 0.5, truncation_cutoff: int | None = None,
                 dlatent_avg_beta: float | None = 0.995, style_mixing_prob: float | None = 0.9,
                 nvidia_static_kwargs: dict | None = None, name: str = 'G', **kwargs):
        super().__init__(name=name, **kwargs)
        self.resolution, self.num_channels, self.label_size = int(resolution), int(num_channels), int(label_size)
        self.latent_size, self.dlatent_size = int(latent_size), int(dlatent_size)
        self.mapping_kwargs, self.synthesis_kwargs = dict(mapping_kwargs or {}), dict(synthesis_kwargs or {})
        self.truncation_psi, self.truncation_cutoff = truncation_psi, truncation_cutoff
        # ADA's G_main takes None for both (no W average update, no style mixing)
        self.dlatent_avg_beta = None if dlatent_avg_beta is None else float(dlatent_avg_beta)
        self.style_mixing_prob = None if style_mixing_prob is None else float(style_mixing_prob)
        self.nvidia_static_kwargs = nvidia_static_kwargs
        self.num_layers = arch.num_layers(self.resolution)
        self.synthesis = self.synthesis_class(resolution=resolution, num_channels=num_channels,
                                              dlatent_size=dlatent_size, **self.synthesis_kwargs)
        self.mapping = self.mapping_class(latent_size=latent_size, label_size=label_size, dlatent_size=dlatent_size,
                                          dlatent_broadcast=self.num_layers, **self.mapping_kwargs)

    def build(self, input_shape=None):
        self.synthesis.build()
        self.mapping.build()
        self.dlatent_avg = self.add_weight(name='dlatent_avg', shape=(self.dlatent_size,), initializer=const_init(0.0),
                                           trainable=False)
        self.built = True

    def call(self, z, c=None, truncation_psi=1.0, truncation_cutoff=None, noise_mode='const', noise=None,
             return_dlatents=False, fp16=None, num_fp16_res=None):
        """`fp16`, `num_fp16_res`: float16 for the top resolutions of networks that declare them (ADA; see
        sg2tf.stylegan2_ada); other families have no float16 resolutions and compute in float32."""
        ws = self.truncation(self.mapping(z, c), self.dlatent_avg, truncation_psi, truncation_cutoff)
        precision = dict(fp16=fp16, num_fp16_res=num_fp16_res) if hasattr(self.synthesis, 'fp16') else {}
        img = self.synthesis(ws, noise_mode=noise_mode, noise=noise, **precision)
        return (img, ws) if return_dlatents else img

    @property
    def fp16(self) -> bool:
        """Compute the declared float16 resolutions in float16 (default False: float32 everywhere)."""
        return bool(getattr(self.synthesis, 'fp16', False))

    @fp16.setter
    def fp16(self, enabled: bool) -> None:
        if hasattr(self.synthesis, 'fp16'):
            self.synthesis.fp16 = bool(enabled)

    def get_config(self):
        return {'name': self.name, 'resolution': self.resolution, 'num_channels': self.num_channels,
                'label_size': self.label_size, 'latent_size': self.latent_size, 'dlatent_size': self.dlatent_size,
                'mapping_kwargs': self.mapping_kwargs, 'synthesis_kwargs': self.synthesis_kwargs,
                'truncation_psi': self.truncation_psi, 'truncation_cutoff': self.truncation_cutoff,
                'dlatent_avg_beta': self.dlatent_avg_beta, 'style_mixing_prob': self.style_mixing_prob,
                'nvidia_static_kwargs': self.nvidia_static_kwargs}


@keras.saving.register_keras_serializable(REGISTER)
class DiscriminatorBlock(keras.layers.Layer):
    """One resolution of D (`32x32`, ...): FromRGB (top or skip), Conv0, Conv1_down, Skip (resnet).

    Mirrors NVIDIA training/networks_stylegan2.py: D_stylegan2, its local `fromrgb()`, `block()` and
    `downsample()`.
    """

    def __init__(self, res: int, in_channels: int, out_channels: int, num_channels: int, architecture: str,
                 is_first: bool, nonlinearity: str = 'lrelu', resample_kernel=(1, 3, 3, 1), **kwargs):
        super().__init__(name=f'{res}x{res}', **{k: v for k, v in kwargs.items() if k != 'name'})
        self.res, self.in_channels, self.out_channels = int(res), int(in_channels), int(out_channels)
        self.num_channels, self.architecture, self.is_first = int(num_channels), architecture, bool(is_first)
        self.nonlinearity = nonlinearity
        self.resample_kernel = None if resample_kernel is None else list(resample_kernel)
        self.resample_filter = ops.setup_filter(self.resample_kernel)
        act, rk = nonlinearity, self.resample_kernel
        self.fromrgb = (Conv2dLayer(num_channels, in_channels, 1, activation=act, name='FromRGB')
                        if architecture == 'skip' or is_first else None)
        self.conv0 = Conv2dLayer(in_channels, in_channels, 3, activation=act, name='Conv0')
        self.conv1 = Conv2dLayer(in_channels, out_channels, 3, activation=act, down=2, resample_kernel=rk,
                                 name='Conv1_down')
        self.skip = (Conv2dLayer(in_channels, out_channels, 1, use_bias=False, down=2, resample_kernel=rk,
                                 name='Skip') if architecture == 'resnet' else None)

    def build(self, input_shape=None):
        for layer in (self.fromrgb, self.conv0, self.conv1, self.skip):
            if layer is not None:
                layer.build()
        self.built = True

    def call(self, x, img):
        where = _where(self)
        if x is not None:
            assert_shape(x, [None, self.res, self.res, self.in_channels], f'{where} input x')
        if self.fromrgb is not None:
            assert_shape(img, [None, self.res, self.res, self.num_channels], f'{where} input img')
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
                'resample_kernel': self.resample_kernel}


@keras.saving.register_keras_serializable(REGISTER)
class DiscriminatorEpilogue(keras.layers.Layer):
    """The `4x4` scope of D: FromRGB (skip), minibatch stddev, Conv, Dense0.

    Mirrors the end of NVIDIA training/networks_stylegan2.py: D_stylegan2. NVIDIA flattens NCHW activations
    into Dense0, so its weight rows are in (c, h, w) order: the NHWC activations are transposed before flattening.
    """

    def __init__(self, in_channels: int, out_features: int, num_channels: int, architecture: str,
                 mbstd_group_size: int = 4, mbstd_num_features: int = 1, nonlinearity: str = 'lrelu', **kwargs):
        super().__init__(name='4x4', **{k: v for k, v in kwargs.items() if k != 'name'})
        self.in_channels, self.out_features, self.num_channels = int(in_channels), int(out_features), int(num_channels)
        self.architecture, self.nonlinearity = architecture, nonlinearity
        self.mbstd_group_size, self.mbstd_num_features = int(mbstd_group_size), int(mbstd_num_features)
        act = nonlinearity
        self.fromrgb = (Conv2dLayer(num_channels, in_channels, 1, activation=act, name='FromRGB')
                        if architecture == 'skip' else None)
        use_mbstd = self.mbstd_group_size > 1
        self.mbstd = MinibatchStddevLayer(self.mbstd_group_size, self.mbstd_num_features) if use_mbstd else None
        extra = self.mbstd_num_features if use_mbstd else 0
        self.conv = Conv2dLayer(in_channels + extra, in_channels, 3, activation=act, name='Conv')
        self.dense = FullyConnectedLayer(in_channels * 16, out_features, activation=act, name='Dense0')

    def build(self, input_shape=None):
        for layer in (self.fromrgb, self.conv, self.dense):
            if layer is not None:
                layer.build()
        self.built = True

    def call(self, x, img):
        if self.fromrgb is not None:
            x = x + self.fromrgb(img)
        if self.mbstd is not None:
            x = self.mbstd(x)
        x = self.conv(x)
        x = tf.reshape(tf.transpose(x, [0, 3, 1, 2]), [-1, self.in_channels * 16])  # NCHW flatten order
        return self.dense(x)

    def get_config(self):
        return {**super().get_config(), 'in_channels': self.in_channels, 'out_features': self.out_features,
                'num_channels': self.num_channels, 'architecture': self.architecture,
                'mbstd_group_size': self.mbstd_group_size, 'mbstd_num_features': self.mbstd_num_features,
                'nonlinearity': self.nonlinearity}


@keras.saving.register_keras_serializable(REGISTER)
class Discriminator(DnnlibDiscriminatorMixin, keras.Model):
    """Images [N, R, R, C] in [-1, 1] (+ labels [N, label_size]) -> scores [N, 1].

    Mirrors NVIDIA training/networks_stylegan2.py: D_stylegan2 (projection conditioning on labels).
    """

    def __init__(self, resolution: int = 1024, num_channels: int = 3, label_size: int = 0,
                 fmap_base: int = 16 << 10, fmap_decay: float = 1.0, fmap_min: int = 1, fmap_max: int = 512,
                 architecture: str = 'resnet', nonlinearity: str = 'lrelu', mbstd_group_size: int = 4,
                 mbstd_num_features: int = 1, resample_kernel=(1, 3, 3, 1), nvidia_static_kwargs: dict | None = None,
                 name: str = 'D', **kwargs):
        super().__init__(name=name, **kwargs)
        _check_choice('discriminator architecture', architecture, arch.D_ARCHITECTURES)
        self.resolution, self.num_channels, self.label_size = int(resolution), int(num_channels), int(label_size)
        self.fmap = dict(fmap_base=int(fmap_base), fmap_decay=float(fmap_decay), fmap_min=int(fmap_min),
                         fmap_max=int(fmap_max))
        self.architecture, self.nonlinearity = architecture, nonlinearity
        self.mbstd_group_size, self.mbstd_num_features = int(mbstd_group_size), int(mbstd_num_features)
        self.resample_kernel = None if resample_kernel is None else list(resample_kernel)
        self.nvidia_static_kwargs = nvidia_static_kwargs
        self.blocks = []
        for res in reversed(arch.block_resolutions(self.resolution)[1:]):
            stage = arch.log2_resolution(res) - 1
            self.blocks.append(DiscriminatorBlock(res, arch.nf(stage, **self.fmap), arch.nf(stage - 1, **self.fmap),
                                                  self.num_channels, architecture, res == self.resolution,
                                                  nonlinearity=nonlinearity, resample_kernel=self.resample_kernel))
        self.epilogue = DiscriminatorEpilogue(arch.nf(1, **self.fmap), arch.nf(0, **self.fmap), self.num_channels,
                                              architecture, self.mbstd_group_size, self.mbstd_num_features,
                                              nonlinearity=nonlinearity)
        self.out = FullyConnectedLayer(arch.nf(0, **self.fmap), max(self.label_size, 1), name='Output')

    def build(self, input_shape=None):
        for block in self.blocks:
            block.build()
        self.epilogue.build()
        self.out.build()
        self.built = True

    def call(self, img, c=None):
        assert_shape(img, [None, self.resolution, self.resolution, self.num_channels], f'{_where(self)} images')
        if self.label_size:
            assert_shape(c, [None, self.label_size], f'{_where(self)} labels c')
        img = tf.cast(img, tf.float32)
        x = None
        for block in self.blocks:
            x, img = block(x, img)
        x = self.out(self.epilogue(x, img))
        if self.label_size:
            x = tf.reduce_sum(x * tf.cast(c, tf.float32), axis=1, keepdims=True)
        return x

    def get_config(self):
        return {'name': self.name, 'resolution': self.resolution, 'num_channels': self.num_channels,
                'label_size': self.label_size, **self.fmap, 'architecture': self.architecture,
                'nonlinearity': self.nonlinearity, 'mbstd_group_size': self.mbstd_group_size,
                'mbstd_num_features': self.mbstd_num_features, 'resample_kernel': self.resample_kernel,
                'nvidia_static_kwargs': self.nvidia_static_kwargs}
