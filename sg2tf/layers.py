"""StyleGAN2 building blocks as Keras 3 layers, channels-last (NHWC).

Every weight is stored raw, exactly as in NVIDIA's pickles (equalized learning rate: the runtime scale
`gain / sqrt(fan_in) * lrmul` is applied in `call`), and every layer and weight carries NVIDIA's name,
so `synthesis/8x8/Conv0_up/weight` here is `G_synthesis/8x8/Conv0_up/weight` there.
"""
from __future__ import annotations

import contextlib

import numpy as np
import keras
import tensorflow as tf

from sg2tf import ops

REGISTER = 'sg2tf'
# Non-fused modulated conv with a static batch up to this size modulates the kernels per sample (see below):
# batch 1 only, where per-sample is as fast or faster and lighter; batches >= 2 are faster with the shared weight
# (benchmarks/results/modconv_paths*.txt: Intel Xeon 1.19 vs 1.51 s/img at b1, 1.25 vs 1.12 at b4).
PER_SAMPLE_MODCONV_MAX_BATCH = 1


def _no_values(path: str, shape: tuple) -> None:
    return None


_TO_BE_FILLED: list = [None]  # inside `weights_to_be_filled()`: the initial-value source (None outside)


class _InitialValue(keras.initializers.Initializer):
    """Inside `weights_to_be_filled(source)`: the value `source(path, shape)` gives for the weight being created
    (TF names the scope of a variable's initial value after the variable's path), else `fallback`'s."""

    def __init__(self, fallback: keras.initializers.Initializer):
        self.fallback = fallback

    def __call__(self, shape, dtype=None):
        value = _TO_BE_FILLED[0](tf.get_current_name_scope(), tuple(shape))
        return self.fallback(shape, dtype) if value is None else value


def normal_init(std: float) -> keras.initializers.Initializer:
    """N(0, std^2), the initializer of every random weight of every family; inside `weights_to_be_filled()` no
    draw: the stored value where a source gives one, else zeros."""
    if _TO_BE_FILLED[0] is None:
        return keras.initializers.RandomNormal(stddev=std)
    return _InitialValue(keras.initializers.Zeros())


def const_init(value: float) -> keras.initializers.Initializer:
    """A constant (biases: 0), or inside `weights_to_be_filled(source)` the stored value where it gives one."""
    init = keras.initializers.Constant(value)
    return init if _TO_BE_FILLED[0] is None else _InitialValue(init)


@contextlib.contextmanager
def weights_to_be_filled(source=None):
    """Networks built inside start with zero weights instead of random draws: for the loaders, which set every
    weight (drawing config-f's 30M normal numbers took 60% of a build, 1.0 s against 0.4 s). With `source`, a
    callable `(variable path, Keras shape) -> array or None`, each weight is created holding the value it gives
    (no zero fill and second copy: benchmarks/results/load_generate*.txt); the rest start at zero."""
    previous, _TO_BE_FILLED[0] = _TO_BE_FILLED[0], source or _no_values
    try:
        yield
    finally:
        _TO_BE_FILLED[0] = previous


def gpu_visible() -> bool:
    """Fused (grouped-conv) modulation runs only where a GPU is visible: TF's CPU kernels lack grouped-conv
    gradients, and on CPU the non-fused paths (same math) are faster (benchmarks/results/modconv_paths_epyc_zen5.txt:
    grouped 0.89 / 0.99 s per image at batch 1 / 4, the others 0.57-0.63 / 0.49-0.57); the float16 warning asks too."""
    return bool(tf.config.list_logical_devices('GPU'))


@keras.saving.register_keras_serializable(REGISTER)
class FullyConnectedLayer(keras.layers.Layer):
    """Equalized-LR dense layer (`Dense{i}`, `Dense0`, `Output`): `act(x @ (W * lrmul/sqrt(in)) + b * lrmul)`.

    Mirrors NVIDIA training/networks_stylegan2.py: dense_layer + apply_bias_act (weights from get_weight).
    """

    def __init__(self, in_features: int, units: int, activation: str = 'linear', lrmul: float = 1.0,
                 use_bias: bool = True, **kwargs):
        super().__init__(**kwargs)
        self.in_features, self.units, self.activation = int(in_features), int(units), activation
        self.lrmul, self.use_bias = float(lrmul), bool(use_bias)

    def build(self, input_shape=None):
        self.weight = self.add_weight(name='weight', shape=(self.in_features, self.units),
                                      initializer=normal_init(1.0 / self.lrmul))
        self.bias = (self.add_weight(name='bias', shape=(self.units,), initializer=const_init(0.0))
                     if self.use_bias else None)
        self.built = True

    def call(self, x):
        pre, post = ops.split_gain(self.activation)
        w = self.weight * np.float32(pre * self.lrmul / np.sqrt(self.in_features))
        x = tf.matmul(x, w)
        b = None if self.bias is None else self.bias * np.float32(pre * self.lrmul)
        return ops.bias_act(x, b, act=self.activation, gain=post)

    def get_config(self):
        return {**super().get_config(), 'in_features': self.in_features, 'units': self.units,
                'activation': self.activation, 'lrmul': self.lrmul, 'use_bias': self.use_bias}


@keras.saving.register_keras_serializable(REGISTER)
class Conv2dLayer(keras.layers.Layer):
    """Equalized-LR convolution with optional 2x FIR up/down-sampling (D layers, G/D `Skip`, `FromRGB`).

    Mirrors NVIDIA training/networks_stylegan2.py: conv2d_layer (+ apply_bias_act); the convolution is
    `ops.conv2d_resample` (`up=2`: upsample_conv_2d, `down=2`: conv_downsample_2d, else stride-1 SAME).
    """

    def __init__(self, in_channels: int, filters: int, kernel_size: int, activation: str = 'linear',
                 use_bias: bool = True, up: int = 1, down: int = 1, resample_kernel=(1, 3, 3, 1), **kwargs):
        kwargs['autocast'] = False  # Keras would cast the float16 inputs of ADA's float16 blocks to float32
        super().__init__(**kwargs)
        self.in_channels, self.filters, self.kernel_size = int(in_channels), int(filters), int(kernel_size)
        self.activation, self.use_bias, self.up, self.down = activation, bool(use_bias), int(up), int(down)
        self.resample_kernel = None if resample_kernel is None else list(resample_kernel)
        self.resample_filter = ops.setup_filter(self.resample_kernel)

    def build(self, input_shape=None):
        k = self.kernel_size
        self.weight = self.add_weight(name='weight', shape=(k, k, self.in_channels, self.filters),
                                      initializer=normal_init(1.0))
        self.bias = (self.add_weight(name='bias', shape=(self.filters,), initializer=const_init(0.0))
                     if self.use_bias else None)
        self.built = True

    def call(self, x):
        pre, post = ops.split_gain(self.activation)
        w = self.weight * np.float32(pre / np.sqrt(self.kernel_size ** 2 * self.in_channels))
        x = ops.conv2d_resample(x, tf.cast(w, x.dtype), self.resample_filter, up=self.up, down=self.down)
        b = None if self.bias is None else self.bias * np.float32(pre)
        return ops.bias_act(x, b, act=self.activation, gain=post)

    def get_config(self):
        return {**super().get_config(), 'in_channels': self.in_channels, 'filters': self.filters,
                'kernel_size': self.kernel_size, 'activation': self.activation, 'use_bias': self.use_bias,
                'up': self.up, 'down': self.down, 'resample_kernel': self.resample_kernel}


def modulated_conv2d(x: tf.Tensor, weight: tf.Tensor, styles: tf.Tensor, demodulate: bool = True, up: int = 1,
                     resample_filter: np.ndarray | None = None, fused: bool = False, gain: float = 1.0) -> tf.Tensor:
    """StyleGAN2 modulated convolution, NHWC. `weight` [k, k, Cin, Cout] already scaled; `styles` [N, Cin];
    the output times `gain` (the activation gain a layer folds in, see `ops.split_gain`: it rides on the
    demodulation coefficients, or on the styles without demodulation, instead of costing a pass of its own).

    Mirrors NVIDIA training/networks_stylegan2.py: modulated_conv2d_layer. Sample n is convolved with its own
    kernel `weight * styles[n]` (over Cin), demodulated per output channel if `demodulate`. Three equivalent
    ways to run it (same math, float32 round-off apart):
    - fused=True (NVIDIA's default): all per-sample kernels as one grouped conv, the batch folded into channels.
      Training needs grouped-conv gradients, which TF's CPU kernels lack.
    - fused=False, static batch <= PER_SAMPLE_MODCONV_MAX_BATCH: one conv per sample with its (tiny) modulated
      kernel: no full-resolution passes for the styles and demodulation, and the conv is followed directly by
      the layer's BiasAdd -> Add -> activation, which TensorFlow fuses into it.
    - fused=False otherwise (NVIDIA's fused_modconv=False): scale the input channels by the styles, one conv with
      the shared weight, scale the output channels by the demodulation coefficients.

    The kernels and demodulation coefficients are computed in x's precision, or in float32 for a float16 `x`
    (the float16 blocks of ADA networks), which gets them cast to float16 just before they are applied. On the
    activation-scaling path float16 first rescales the weight to `1/sqrt(fan_in)` times its largest magnitude per
    output channel and the styles by their largest magnitude, as ADA does against float16 overflow (demodulation
    cancels both).
    """
    x = tf.convert_to_tensor(x)
    half = x.dtype in (tf.float16, tf.bfloat16)
    weight, styles = (tf.cast(v, tf.float32 if half else x.dtype) for v in (weight, styles))
    if gain != 1 and not demodulate:
        styles = styles * gain
    batch = x.shape[0]
    per_sample = not fused and batch is not None and batch <= PER_SAMPLE_MODCONV_MAX_BATCH

    if half and demodulate and not fused and not per_sample:
        fan_in = int(weight.shape[0]) * int(weight.shape[1]) * int(weight.shape[2])
        weight = weight * (np.float32(1 / np.sqrt(fan_in)) / tf.reduce_max(tf.abs(weight), axis=[0, 1, 2],
                                                                         keepdims=True))
        styles = styles / tf.reduce_max(tf.abs(styles), axis=1, keepdims=True)
    dcoefs = None
    if demodulate:  # sum over k, k, Cin of (weight * s)^2 = s^2 @ (sum over k, k of weight^2): no [N, k, k, Cin, Cout]
        dcoefs = tf.math.rsqrt(tf.matmul(tf.square(styles), tf.reduce_sum(tf.square(weight), axis=[0, 1])) + 1e-8)
        if gain != 1:
            dcoefs = dcoefs * gain                                           # [N, Cout]

    if not fused and not per_sample:
        x = x * tf.cast(styles, x.dtype)[:, None, None, :]
        x = ops.conv2d_resample(x, tf.cast(weight, x.dtype), resample_filter, up=up)
        return x if dcoefs is None else x * tf.cast(dcoefs, x.dtype)[:, None, None, :]

    scale = styles[:, :, None] if dcoefs is None else styles[:, :, None] * dcoefs[:, None, :]  # [N, Cin, 1 or Cout]
    w = weight[None] * scale[:, None, None]                                  # [N, k, k, Cin, Cout], one product
    w = tf.cast(w, x.dtype)
    if per_sample:
        outs = [ops.conv2d_resample(x if batch == 1 else x[i:i + 1], w[i], resample_filter, up=up, polyphase=True)
                for i in range(batch)]
        return outs[0] if batch == 1 else tf.concat(outs, axis=0)
    return _grouped_conv(x, w, resample_filter, up)


def _grouped_conv(x: tf.Tensor, w: tf.Tensor, resample_filter: np.ndarray | None, up: int) -> tf.Tensor:
    """Per-sample kernels w [N, k, k, Cin, Cout] as one grouped conv: x [1, H, W, N*Cin], kernel [k, k, Cin, N*Cout]."""
    k, cin, cout = int(w.shape[1]), int(w.shape[3]), int(w.shape[4])
    n, h, wd = tf.shape(x)[0], tf.shape(x)[1], tf.shape(x)[2]
    xg = tf.reshape(tf.transpose(x, [1, 2, 0, 3]), [1, h, wd, -1])
    wg = tf.reshape(tf.transpose(w, [1, 2, 3, 0, 4]), [k, k, cin, -1])
    # groups=None: N groups, implied by the channel counts; the same (grouped) route for every N, dynamic and 1.
    yg = ops.conv2d_resample(xg, wg, resample_filter, up=up, groups=None)
    oh, ow = tf.shape(yg)[1], tf.shape(yg)[2]
    return tf.transpose(tf.reshape(yg, [oh, ow, n, cout]), [2, 0, 1, 3])


class _ModulatedLayer(keras.layers.Layer):
    """Shared part of `SynthesisLayer` and `ToRGBLayer`: weight, mod_weight, mod_bias (NVIDIA order) and the
    style affine. Their build() fixes `_use_fused` once: fused iff `fused_modconv` and a GPU is visible."""

    def __init__(self, in_channels: int, filters: int, kernel_size: int, dlatent_size: int = 512, **kwargs):
        kwargs['autocast'] = False  # Keras would cast the float16 inputs of ADA's float16 blocks to float32
        super().__init__(**kwargs)
        self.in_channels, self.filters = int(in_channels), int(filters)
        self.kernel_size, self.dlatent_size = int(kernel_size), int(dlatent_size)

    def _build_modulation(self):
        k = self.kernel_size
        self.weight = self.add_weight(name='weight', shape=(k, k, self.in_channels, self.filters),
                                      initializer=normal_init(1.0))
        self.mod_weight = self.add_weight(name='mod_weight', shape=(self.dlatent_size, self.in_channels),
                                          initializer=normal_init(1.0))
        self.mod_bias = self.add_weight(name='mod_bias', shape=(self.in_channels,), initializer=const_init(0.0))

    def styles(self, w):
        """`w @ (mod_weight / sqrt(w_dim)) + mod_bias + 1`; NVIDIA modulated_conv2d_layer adds the 1 at run time
        (`apply_bias_act(s, bias_var='mod_bias') + 1`), so the stored mod_bias starts at 0."""
        return tf.matmul(w, self.mod_weight * np.float32(1 / np.sqrt(self.dlatent_size))) + self.mod_bias + 1.0

    def scaled_weight(self):
        return self.weight * np.float32(1 / np.sqrt(self.kernel_size ** 2 * self.in_channels))

    def weight_and_styles(self, x, w):
        """(scaled_weight(), styles(w)) for the modulated conv of `x`, computed only once `x` exists: in a graph
        they could otherwise be computed for every layer as soon as W is known, and the scaled weights and
        per-sample kernels of all layers would exist at once (9.4 MiB each for a 3x3 512->512 layer)."""
        if tf.executing_eagerly():
            return self.scaled_weight(), self.styles(w)
        with tf.control_dependencies([x]):
            w = tf.identity(w)
            return self.scaled_weight(), self.styles(w)

    def get_config(self):
        return {**super().get_config(), 'in_channels': self.in_channels, 'filters': self.filters,
                'kernel_size': self.kernel_size, 'dlatent_size': self.dlatent_size}


@keras.saving.register_keras_serializable(REGISTER)
class SynthesisLayer(_ModulatedLayer):
    """Modulated conv -> + noise * noise_strength -> + bias -> lrelu * sqrt(2) (`Conv`, `Conv0_up`, `Conv1`).

    Mirrors NVIDIA training/networks_stylegan2.py: G_synthesis_stylegan2, its local `layer()`.
    """

    def __init__(self, in_channels: int, filters: int, kernel_size: int = 3, dlatent_size: int = 512, up: int = 1,
                 activation: str = 'lrelu', resample_kernel=(1, 3, 3, 1), fused_modconv: bool = True, **kwargs):
        super().__init__(in_channels, filters, kernel_size, dlatent_size, **kwargs)
        self.up, self.activation, self.fused_modconv = int(up), activation, bool(fused_modconv)
        self.resample_kernel = None if resample_kernel is None else list(resample_kernel)
        self.resample_filter = ops.setup_filter(self.resample_kernel)

    def build(self, input_shape=None):
        self._build_modulation()
        self._use_fused = self.fused_modconv and gpu_visible()
        self.noise_strength = self.add_weight(name='noise_strength', shape=(), initializer=const_init(0.0))
        self.bias = self.add_weight(name='bias', shape=(self.filters,), initializer=const_init(0.0))
        self.built = True

    def call(self, x, w, noise=None):
        pre, post = ops.split_gain(self.activation)
        weight, styles = self.weight_and_styles(x, w)
        x = modulated_conv2d(x, weight, styles, demodulate=True, up=self.up,
                             resample_filter=self.resample_filter, fused=self._use_fused, gain=pre)
        noise = None if noise is None else noise * (self.noise_strength * pre)
        return ops.bias_act(x, self.bias * pre, act=self.activation, gain=post, noise=noise)

    def get_config(self):
        return {**super().get_config(), 'up': self.up, 'activation': self.activation,
                'resample_kernel': self.resample_kernel, 'fused_modconv': self.fused_modconv}


@keras.saving.register_keras_serializable(REGISTER)
class ToRGBLayer(_ModulatedLayer):
    """1x1 modulated conv without demodulation, + bias, linear (`ToRGB`; NVIDIA G_synthesis_stylegan2 `torgb()`)."""

    def __init__(self, in_channels: int, filters: int, dlatent_size: int = 512, fused_modconv: bool = True,
                 **kwargs):
        kwargs.pop('kernel_size', None)
        super().__init__(in_channels, filters, 1, dlatent_size, **kwargs)
        self.fused_modconv = bool(fused_modconv)

    def build(self, input_shape=None):
        self._build_modulation()
        self._use_fused = self.fused_modconv and gpu_visible()
        self.bias = self.add_weight(name='bias', shape=(self.filters,), initializer=const_init(0.0))
        self.built = True

    def call(self, x, w):
        weight, styles = self.weight_and_styles(x, w)
        x = modulated_conv2d(x, weight, styles, demodulate=False, fused=self._use_fused)
        return ops.bias_act(x, self.bias)

    def get_config(self):
        return {**super().get_config(), 'fused_modconv': self.fused_modconv}


@keras.saving.register_keras_serializable(REGISTER)
class ConstantInput(keras.layers.Layer):
    """Learned 4x4 input of the synthesis network (`4x4/Const/const`, stored NHWC [1, 4, 4, C]).

    Mirrors NVIDIA G_synthesis_stylegan2: `tf.tile(const, [N, 1, 1, 1])` (NVIDIA stores it NCHW [1, C, 4, 4]).
    """

    def __init__(self, channels: int, **kwargs):
        super().__init__(**kwargs)
        self.channels = int(channels)

    def build(self, input_shape=None):
        self.const = self.add_weight(name='const', shape=(1, 4, 4, self.channels), initializer=normal_init(1.0))
        self.built = True

    def call(self, batch_size):
        return tf.tile(self.const, [batch_size, 1, 1, 1])

    def get_config(self):
        return {**super().get_config(), 'channels': self.channels}


@keras.saving.register_keras_serializable(REGISTER)
class MinibatchStddevLayer(keras.layers.Layer):
    """Appends the per-group feature stddev as `num_features` extra channels.

    Mirrors NVIDIA training/networks_stylegan2.py: minibatch_stddev_layer. Groups are strided: sample b is in
    group b mod (N / group_size), as NVIDIA's reshape to [G, -1, ...] makes them.
    """

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
    """Label embedding of the SG2 mapping network (`LabelConcat/weight`): `c @ W`, used raw (no runtime scale).

    Mirrors NVIDIA training/networks_stylegan2.py: G_mapping, scope `LabelConcat` (a plain tf.matmul).
    """

    def __init__(self, label_size: int, latent_size: int, **kwargs):
        kwargs.setdefault('name', 'LabelConcat')
        super().__init__(**kwargs)
        self.label_size, self.latent_size = int(label_size), int(latent_size)

    def build(self, input_shape=None):
        self.weight = self.add_weight(name='weight', shape=(self.label_size, self.latent_size),
                                      initializer=normal_init(1.0))
        self.built = True

    def call(self, c):
        return tf.matmul(tf.cast(c, tf.float32), self.weight)

    def get_config(self):
        return {**super().get_config(), 'label_size': self.label_size, 'latent_size': self.latent_size}
