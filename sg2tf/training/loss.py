"""StyleGAN2 training objectives (NVIDIA `G_logistic_ns_pathreg`, `D_logistic_r1`) with explicit randomness.

Every random draw of a training pass is an input (`GeneratorInputs`, `pl_noise`), so the computation can be
fed NVIDIA's recorded draws and compared with the original up to float32 round-off; the training loop draws
them with stateless seeds (`sg2tf.training.loop.draw_generator_inputs`). Images are channels-last (NHWC).
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np
import tensorflow as tf

from sg2tf import arch


class GeneratorInputs(NamedTuple):
    """All inputs of one training-mode generator pass (NVIDIA G_main, is_training=True; fixtures' `inputs/<pass>/*`)."""
    latents: tf.Tensor               # [n, latent_size]
    labels: tf.Tensor                # [n, label_size]
    style_mix_latents2: tf.Tensor    # [n, latent_size]
    style_mix_uniform: tf.Tensor     # scalar float32 u ~ U[0, 1): mixing iff u < style_mixing_prob
    style_mix_cutoff_draw: tf.Tensor  # scalar int32 ~ UniformInt[1, num_layers)
    noise: list                      # per conv layer k: [n, H_k, W_k, 1]


class GMainTerms(NamedTuple):
    loss: tf.Tensor          # [n] softplus(-D(G(z)))
    batch_avg: tf.Tensor     # [w_dim] batch mean of the unmixed w[:, 0], for dlatent_avg
    images: tf.Tensor        # [n, H, W, C] the fakes
    dlatents: tf.Tensor      # [n, num_ws, w_dim] after style mixing: what the synthesis consumed
    scores: tf.Tensor        # [n, 1] D(fakes)


class GRegTerms(NamedTuple):
    reg: tf.Tensor           # [n] pl_weight * pl_penalty
    pl_mean_new: tf.Tensor   # [] the path-length target after this pass (assign to pl_mean after the step)
    pl_lengths: tf.Tensor    # [n]
    batch_avg: tf.Tensor     # [w_dim]
    images: tf.Tensor        # [n, H, W, C]
    dlatents: tf.Tensor      # [n, num_ws, w_dim]
    pl_grads: tf.Tensor      # [n, num_ws, w_dim] d sum(images * pl_noise / sqrt(H * W)) / d dlatents
    pl_penalty: tf.Tensor    # [n] (pl_lengths - pl_mean_new)^2


class DMainTerms(NamedTuple):
    loss: tf.Tensor          # [n] softplus(D(fake)) + softplus(-D(real))
    real_scores: tf.Tensor   # [n, 1]
    fake_scores: tf.Tensor   # [n, 1]
    batch_avg: tf.Tensor     # [w_dim]
    fake_images: tf.Tensor   # [n, H, W, C]


class DRegTerms(NamedTuple):
    reg: tf.Tensor               # [n] (gamma / 2) * gradient_penalty
    real_grads: tf.Tensor        # [n, H, W, C] d sum(D(reals)) / d reals
    gradient_penalty: tf.Tensor  # [n] sum of real_grads^2 over H, W, C


def mixed_dlatents(G, inputs: GeneratorInputs):
    """Training-mode mapping with style mixing (one cutoff per minibatch), no truncation.

    Returns (dlatents after mixing, batch mean of the unmixed w[:, 0]); the latter feeds the `dlatent_avg`
    moving average (`update_dlatent_avg`), a side effect kept out of the maths here.
    """
    w = G.mapping(inputs.latents, inputs.labels)
    num_ws = w.shape[1]
    if G.style_mixing_prob > 0:
        w2 = G.mapping(inputs.style_mix_latents2, inputs.labels)
        cutoff = tf.where(inputs.style_mix_uniform < np.float32(G.style_mixing_prob),
                          tf.cast(inputs.style_mix_cutoff_draw, tf.int32), num_ws)
        ws = tf.where((tf.range(num_ws) < cutoff)[None, :, None], w, w2)
    else:
        ws = w
    return ws, tf.reduce_mean(w[:, 0], axis=0)


def generator_training_pass(G, inputs: GeneratorInputs):
    """Training-mode G_main -> (images NHWC, dlatents after mixing, batch mean of unmixed w[:, 0])."""
    ws, batch_avg = mixed_dlatents(G, inputs)
    return G.synthesis(ws, noise=inputs.noise), ws, batch_avg


def update_dlatent_avg(G, batch_avg: tf.Tensor) -> None:
    """`dlatent_avg <- batch_avg + (dlatent_avg - batch_avg) * beta` (NVIDIA: every training-mode G pass)."""
    G.dlatent_avg.assign(batch_avg + (G.dlatent_avg - batch_avg) * np.float32(G.dlatent_avg_beta))


class StyleGAN2Loss(tf.Module):
    """The four objectives of NVIDIA's StyleGAN2 training, per sample (the optimiser minimises their mean).

    `pl_mean` (path-length target) is state of the loss, not of any network, as in the original.
    `cross_replica_mean(x)` averages over replicas under tf.distribute (identity on one device), so the
    path-length target and `dlatent_avg` see the global minibatch.
    """

    def __init__(self, G, D, r1_gamma: float = 10.0, pl_weight: float = 2.0, pl_decay: float = 0.01,
                 G_reg_interval: int = 4, D_reg_interval: int = 16):
        super().__init__(name='loss')
        self.G, self.D = G, D
        self.r1_gamma, self.pl_weight, self.pl_decay = float(r1_gamma), float(pl_weight), float(pl_decay)
        self.G_reg_interval, self.D_reg_interval = int(G_reg_interval), int(D_reg_interval)
        self.pl_mean = tf.Variable(0.0, trainable=False, name='pl_mean',
                                   aggregation=tf.VariableAggregation.ONLY_FIRST_REPLICA)

    @staticmethod
    def cross_replica_mean(x):
        ctx = tf.distribute.get_replica_context()
        if ctx is None or ctx.num_replicas_in_sync == 1:
            return x
        return ctx.all_reduce(tf.distribute.ReduceOp.MEAN, x)

    def G_main(self, inputs: GeneratorInputs) -> GMainTerms:
        """Non-saturating logistic loss `softplus(-D(G(z)))` (NVIDIA training/loss.py: G_logistic_ns)."""
        images, ws, batch_avg = generator_training_pass(self.G, inputs)
        scores = self.D(images, inputs.labels)
        return GMainTerms(tf.nn.softplus(-scores)[:, 0], batch_avg, images, ws, scores)

    def G_reg(self, inputs: GeneratorInputs, pl_noise: tf.Tensor) -> GRegTerms:
        """Path-length penalty on a separate pass (NVIDIA training/loss.py: G_logistic_ns_pathreg).

        `pl_noise` is the raw N(0, 1) draw shaped like the images; it is divided by sqrt(H * W) here.
        `pl_mean_new` is not stop-gradiented (as in NVIDIA's graph); assign it to `pl_mean` after the step.
        """
        ws, batch_avg = mixed_dlatents(self.G, inputs)
        with tf.GradientTape(watch_accessed_variables=False) as tape:  # trainables: taped by the caller
            tape.watch(ws)
            images = self.G.synthesis(ws, noise=inputs.noise)
            res = int(images.shape[1]) * int(images.shape[2])
            noise = tf.cast(pl_noise, tf.float32) / np.float32(np.sqrt(res))
            out = tf.reduce_sum(images * noise)
        pl_grads = tape.gradient(out, ws)
        pl_lengths = tf.sqrt(tf.reduce_mean(tf.reduce_sum(tf.square(pl_grads), axis=2), axis=1))
        mean_length = self.cross_replica_mean(tf.reduce_mean(pl_lengths))
        pl_mean_new = self.pl_mean + np.float32(self.pl_decay) * (mean_length - self.pl_mean)
        pl_penalty = tf.square(pl_lengths - pl_mean_new)
        return GRegTerms(pl_penalty * np.float32(self.pl_weight), pl_mean_new, pl_lengths, batch_avg, images, ws,
                         pl_grads, pl_penalty)

    def D_main(self, inputs: GeneratorInputs, reals: tf.Tensor, real_labels: tf.Tensor) -> DMainTerms:
        """Logistic loss `softplus(D(fake)) + softplus(-D(real))` (NVIDIA training/loss.py: D_logistic_r1);
        fakes use the real labels; fakes and reals are two separate D calls."""
        fakes, _, batch_avg = generator_training_pass(self.G, inputs._replace(labels=real_labels))
        fake_scores = self.D(tf.stop_gradient(fakes), real_labels)
        real_scores = self.D(reals, real_labels)
        loss = tf.nn.softplus(fake_scores)[:, 0] + tf.nn.softplus(-real_scores)[:, 0]
        return DMainTerms(loss, real_scores, fake_scores, batch_avg, fakes)

    def D_reg(self, reals: tf.Tensor, real_labels: tf.Tensor) -> DRegTerms:
        """R1: `(gamma / 2) * sum((d sum(D(reals)) / d reals)^2)` (NVIDIA training/loss.py: D_logistic_r1)."""
        with tf.GradientTape(watch_accessed_variables=False) as tape:
            tape.watch(reals)
            scores = self.D(reals, real_labels)
            total = tf.reduce_sum(scores)
        real_grads = tape.gradient(total, reals)
        penalty = tf.reduce_sum(tf.square(real_grads), axis=[1, 2, 3])
        return DRegTerms(penalty * np.float32(self.r1_gamma * 0.5), real_grads, penalty)
