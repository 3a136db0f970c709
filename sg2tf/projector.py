"""Find the W (or W+) and noise maps that reproduce a target image: NVIDIA's projector on any sg2tf generator.

Mirrors NVIDIA projector.py: Projector (run_projector.py project-real-images), schedule and constants below:
W starts at the average of `mapping(z)` over 10,000 z from RandomState(123) and is perturbed by noise whose
strength (the spread of W times 0.05) ramps down to 0 over the first 75 % of the steps; the learning rate ramps up
over 5 % and down (cosine) over the last 25 %; the noise maps are optimised too, regularised against spatial
autocorrelation at every scale and renormalised to mean 0, variance 1 after every Adam step.

Distance: pixel MSE on [-1, 1] images always, plus (with `vgg16=`) an LPIPS-style VGG16 feature distance
(unit-normalised activations relu1_2 ... relu5_3, squared difference, spatial mean, summed over layers, without
LPIPS' learned per-channel weights) on images scaled to [0, 255] and box-downsampled to <= 256 px as NVIDIA does.

    proj = Projector(G, num_steps=1000)
    result = proj.run(target)          # target: [H, W, C] float in [-1, 1]; result.w, result.noise, result.image
"""
from __future__ import annotations

import dataclasses
import math
from typing import Callable

import numpy as np
import tensorflow as tf

from sg2tf.images import convert_images_to_uint8

# NVIDIA projector.py: Projector.__init__
NUM_STEPS = 1000
DLATENT_AVG_SAMPLES = 10000
DLATENT_AVG_SEED = 123
INITIAL_LEARNING_RATE = 0.1
INITIAL_NOISE_FACTOR = 0.05
LR_RAMPDOWN_LENGTH = 0.25
LR_RAMPUP_LENGTH = 0.05
NOISE_RAMP_LENGTH = 0.75
REGULARIZE_NOISE_WEIGHT = 1e5
ADAM_BETA1, ADAM_BETA2, ADAM_EPSILON = 0.9, 0.999, 1e-8  # dnnlib Optimizer default: TF1 AdamOptimizer

# VGG16 layers LPIPS compares (relu1_2, relu2_2, relu3_3, relu4_3, relu5_3) in keras.applications.VGG16 names.
VGG16_LAYERS = ('block1_conv2', 'block2_conv2', 'block3_conv3', 'block4_conv3', 'block5_conv3')
VGG16_HELP = ("Keras VGG16 weights, e.g. vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5 from "
              "https://storage.googleapis.com/tensorflow/keras-applications/vgg16/ (or the file Keras caches in "
              "~/.keras/models/ after keras.applications.VGG16(weights='imagenet') on a machine with internet)")


def learning_rate(t: float, initial: float = INITIAL_LEARNING_RATE) -> float:
    """lr at progress t = step / num_steps: cosine ramp-down over the last 25 %, linear ramp-up over the first 5 %."""
    rampdown = min(1.0, (1.0 - t) / LR_RAMPDOWN_LENGTH)
    rampup = min(1.0, t / LR_RAMPUP_LENGTH)
    return initial * (0.5 - 0.5 * math.cos(math.pi * rampdown)) * rampup


def noise_strength(t: float, w_std: float) -> float:
    """Std of the noise added to W at progress t: `w_std * 0.05 * max(0, 1 - t / 0.75) ** 2`."""
    return w_std * INITIAL_NOISE_FACTOR * max(0.0, 1.0 - t / NOISE_RAMP_LENGTH) ** 2


def noise_regularization(buffers: list[tf.Tensor]) -> tf.Tensor:
    """Σ over buffers and scales of the squared mean autocorrelation with a 1-pixel shift along W and along H;
    scales: the buffer, then 2x2 box-downsampled while larger than 8x8. Buffers NHWC [1, H, W, 1]."""
    reg = tf.constant(0.0)
    for v in buffers:
        size = int(v.shape[1])
        while True:
            reg += tf.reduce_mean(v * tf.roll(v, 1, axis=2)) ** 2 + tf.reduce_mean(v * tf.roll(v, 1, axis=1)) ** 2
            if size <= 8:
                break
            v = tf.nn.avg_pool2d(v, 2, 2, 'VALID')
            size //= 2
    return reg


def to_255_downsampled(images: tf.Tensor) -> tf.Tensor:
    """[-1, 1] NHWC -> [0, 255], box-downsampled by H // 256 when H > 256 (NVIDIA's projector)."""
    x = (images + 1.0) * 127.5
    h = int(images.shape[1])
    if h > 256:
        f = h // 256
        x = tf.nn.avg_pool2d(x, f, f, 'VALID')
    return x


class VGG16Distance:
    """LPIPS-style distance on a Keras VGG16 (weights from a local file, never downloaded): per layer in
    VGG16_LAYERS, channel-unit-normalised features, squared difference summed over channels, spatial mean; summed
    over layers (Zhang et al. 2018 with uniform instead of learned channel weights). Images NHWC in [0, 255]."""

    def __init__(self, weights_path: str, height: int, width: int):
        import keras
        base = keras.applications.VGG16(include_top=False, weights=None, input_shape=(height, width, 3))
        try:
            base.load_weights(weights_path)
        except Exception as e:  # noqa: BLE001 - wrong file of any kind
            raise ValueError(f'{weights_path}: not Keras VGG16 weights ({type(e).__name__}: '
                             f'{" ".join(str(e).split())[:120]})') from None
        self.model = keras.Model(base.input, [base.get_layer(n).output for n in VGG16_LAYERS])
        self.mean_bgr = tf.constant([103.939, 116.779, 123.68])  # keras.applications.vgg16.preprocess_input

    def features(self, x255: tf.Tensor) -> list[tf.Tensor]:
        if x255.shape[-1] == 1:
            x255 = tf.tile(x255, [1, 1, 1, 3])
        x = x255[..., ::-1] - self.mean_bgr  # RGB -> BGR, ImageNet mean removed (caffe-style VGG16)
        return [f / (tf.sqrt(tf.reduce_sum(f * f, axis=-1, keepdims=True)) + 1e-10) for f in self.model(x)]

    def __call__(self, a255: tf.Tensor, b_features: list[tf.Tensor]) -> tf.Tensor:
        return tf.add_n([tf.reduce_mean(tf.reduce_sum((fa - fb) ** 2, axis=-1)) for fa, fb in
                         zip(self.features(a255), b_features)])


def check_target(G, target: np.ndarray, what: str = 'target') -> np.ndarray:
    """`target` as float32 if it is [H, W, C] of the network's size and channels, else ValueError naming both."""
    want = (G.resolution, G.resolution, G.num_channels)
    if target.ndim != 3 or tuple(target.shape) != want:
        got = 'x'.join(map(str, target.shape))
        raise ValueError(f'{what} is {got} (HxWxC); the network makes {want[0]}x{want[1]}x{want[2]} images')
    return target.astype(np.float32)


@dataclasses.dataclass
class ProjectionResult:
    w: np.ndarray                  # [1, num_layers, dlatent_size]: the projected latent (no W noise)
    noise: list[np.ndarray]        # the optimised noise maps, NHWC [1, H, W, 1], in G.synthesis order
    image: np.ndarray              # [H, W, C] float, the synthesis of w with noise
    losses: list[dict]             # per step: step, lr, noise_strength, mse, lpips, noise_reg, loss
    frames: list[np.ndarray]       # uint8 images [H, W, C] at the recorded steps (see `Projector.run`)


class Projector:
    """NVIDIA projector.py: Projector, for any sg2tf generator. `w_plus`: optimise one W per layer (W+) instead of
    NVIDIA's single W broadcast to every layer. `compiled`: run each step in a tf.function (the default; eager
    for comparison). `seed`: initial noise maps and the W perturbations."""

    def __init__(self, G, num_steps: int = NUM_STEPS, w_plus: bool = False, vgg16: str | None = None,
                 seed: int = 0, class_idx: int | None = None, compiled: bool = True, mse_weight: float = 1.0):
        from sg2tf.creative import map_z
        if num_steps < 1:
            raise ValueError(f'steps must be >= 1, got {num_steps}')
        self.G, self.num_steps, self.w_plus, self.seed = G, int(num_steps), bool(w_plus), int(seed)
        self.mse_weight = float(mse_weight)
        z = np.random.RandomState(DLATENT_AVG_SEED).randn(DLATENT_AVG_SAMPLES, G.latent_size)
        w = map_z(G, z, class_idx)[:, :1].astype(np.float64)                     # [10000, 1, dlatent_size]
        self.w_avg = w.mean(axis=0, keepdims=True).astype(np.float32)             # [1, 1, dlatent_size]
        self.w_std = float(np.sqrt(np.sum((w - self.w_avg) ** 2) / DLATENT_AVG_SAMPLES))
        res = G.resolution
        down = res // 256 if res > 256 else 1
        self.vgg = VGG16Distance(vgg16, res // down, res // down) if vgg16 else None
        self._make_state()
        self._step_fn = tf.function(self._step, reduce_retracing=True) if compiled else self._step

    def _make_state(self):
        """The optimised variables (W, noise maps) and Adam's moments, created once (the compiled step holds them)."""
        G = self.G
        layers = G.num_layers if self.w_plus else 1
        self.w_var = tf.Variable(tf.zeros([1, layers, G.dlatent_size]), name='dlatents')
        self.noise_vars = [tf.Variable(tf.zeros(v.shape), name=f'noise{k}')
                           for k, v in enumerate(G.synthesis.noise_buffers)]
        self.vars = [self.w_var] + self.noise_vars
        self.m = [tf.Variable(tf.zeros_like(v)) for v in self.vars]
        self.v = [tf.Variable(tf.zeros_like(v)) for v in self.vars]
        self.t = tf.Variable(0.0)
        self.rng = tf.random.Generator.from_seed(self.seed)

    def _reset_state(self):
        """NVIDIA Projector.start: W = w_avg, noise maps N(0, 1) (RandomState(seed)), Adam state cleared."""
        rnd = np.random.RandomState(self.seed)
        self.w_var.assign(np.tile(self.w_avg, [1, self.w_var.shape[1], 1]))
        for n in self.noise_vars:
            n.assign(rnd.randn(*n.shape).astype(np.float32))
        for s in self.m + self.v:
            s.assign(tf.zeros_like(s))
        self.t.assign(0.0)
        self.rng.reset_from_seed(self.seed)

    def _synthesize(self, w: tf.Tensor) -> tf.Tensor:
        ws = tf.broadcast_to(w, [1, self.G.num_layers, self.G.dlatent_size])
        noise = list(self.noise_vars) if self.noise_vars else None
        return self.G.synthesis(ws, noise_mode='const' if noise else 'none', noise=noise)

    def _losses(self, target: tf.Tensor, target_features, strength: tf.Tensor):
        w = self.w_var + self.rng.normal(self.w_var.shape) * strength
        img = self._synthesize(w)
        mse = tf.reduce_mean((img - target) ** 2)
        lpips = self.vgg(to_255_downsampled(img), target_features) if self.vgg else tf.constant(0.0)
        reg = noise_regularization(list(self.noise_vars)) if self.noise_vars else tf.constant(0.0)
        loss = self.mse_weight * mse + lpips + REGULARIZE_NOISE_WEIGHT * reg
        return loss, mse, lpips, reg, img

    def _step(self, target, target_features, lr, strength):
        """One Adam step (TF1 AdamOptimizer's update) on W and the noise maps, then renormalise the maps."""
        with tf.GradientTape() as tape:
            loss, mse, lpips, reg, img = self._losses(target, target_features, strength)
        grads = tape.gradient(loss, self.vars)
        self.t.assign_add(1.0)
        alpha = lr * tf.sqrt(1.0 - ADAM_BETA2 ** self.t) / (1.0 - ADAM_BETA1 ** self.t)
        for var, g, m, v in zip(self.vars, grads, self.m, self.v):
            m.assign(ADAM_BETA1 * m + (1.0 - ADAM_BETA1) * g)
            v.assign(ADAM_BETA2 * v + (1.0 - ADAM_BETA2) * g * g)
            var.assign_sub(alpha * m / (tf.sqrt(v) + ADAM_EPSILON))
        for n in self.noise_vars:
            centered = n - tf.reduce_mean(n)
            n.assign(centered / tf.sqrt(tf.reduce_mean(centered ** 2)))
        return loss, mse, lpips, reg, img

    def check_target(self, target: np.ndarray, what: str = 'target') -> np.ndarray:
        return check_target(self.G, target, what)

    def run(self, target: np.ndarray, progress: Callable[[int, dict], None] | None = None, frame_every: int = 0
            ) -> ProjectionResult:
        """Project `target` [H, W, C] (float, [-1, 1]). `progress(step, losses)` is called after every step; with
        `frame_every` > 0 the image (uint8) of every frame_every-th step and of the last is kept in `frames`."""
        target = tf.constant(self.check_target(target)[None])
        self._reset_state()
        target_features = self.vgg.features(to_255_downsampled(target)) if self.vgg else []
        losses, frames = [], []
        for step in range(self.num_steps):
            t = step / self.num_steps
            lr, strength = learning_rate(t), noise_strength(t, self.w_std)
            loss, mse, lpips, reg, img = self._step_fn(target, target_features, tf.constant(lr, tf.float32),
                                                       tf.constant(strength, tf.float32))
            losses.append({'step': step, 'lr': lr, 'noise_strength': strength, 'mse': float(mse),
                           'lpips': float(lpips), 'noise_reg': float(reg), 'loss': float(loss)})
            if frame_every and (step % frame_every == 0 or step == self.num_steps - 1):
                frames.append(convert_images_to_uint8(img.numpy())[0])
            if progress:
                progress(step, losses[-1])
        w = self.w_var.numpy()
        w = np.tile(w, [1, self.G.num_layers // w.shape[1], 1])
        image = self._synthesize(tf.constant(w)).numpy()[0]
        return ProjectionResult(w=w, noise=[n.numpy() for n in self.noise_vars], image=image, losses=losses,
                                frames=frames)


def psnr(a_uint8: np.ndarray, b_uint8: np.ndarray) -> float:
    """PSNR in dB between two uint8 images (peak 255)."""
    mse = np.mean((a_uint8.astype(np.float64) - b_uint8.astype(np.float64)) ** 2)
    return float('inf') if mse == 0 else 10 * math.log10(255.0 ** 2 / mse)
