"""One StyleGAN2 training iteration in NVIDIA's order, on tf.GradientTape (SPEC 4.2).

G main step; G reg (path length) if due; Gs moving average + D main step; D reg (R1) if due. Each network has
ONE Adam instance shared by its main and reg steps, with lazy-regularization hyperparameters
`lr * r, beta1 ** r, beta2 ** r`, `r = I / (I + 1)`; reg losses are multiplied by their interval I.
"""
from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from sg2tf import nvnames
from sg2tf.training.loss import GeneratorInputs, StyleGAN2Loss, update_dlatent_avg


def lazy_adam(learning_rate: float, beta1: float, beta2: float, epsilon: float, reg_interval: int | None,
              name: str) -> keras.optimizers.Adam:
    """Keras Adam (same update as TF1's AdamOptimizer) with NVIDIA's lazy-regularization adjustment."""
    ratio = 1.0 if not reg_interval else reg_interval / (reg_interval + 1)
    return keras.optimizers.Adam(learning_rate=learning_rate * ratio, beta_1=beta1 ** ratio, beta_2=beta2 ** ratio,
                                 epsilon=epsilon, name=name)


def ema_beta(batch_size: int, ema_kimg: float = 10.0, rampup: float | None = None, cur_nimg: int = 0) -> float:
    """`0.5 ** (batch / (ema_kimg * 1000))`; with `rampup` (ADA-style), ema_nimg = min(ema, cur_nimg * rampup)."""
    ema_nimg = ema_kimg * 1000
    if rampup is not None:
        ema_nimg = min(ema_nimg, cur_nimg * rampup)
    return 0.5 ** (batch_size / max(ema_nimg, 1e-8))


def update_ema(Gs, G, beta) -> None:
    """Gs trainables <- G + (Gs - G) * beta; non-trainables (dlatent_avg, noise buffers) copied from G."""
    for s, g in zip(Gs.weights, G.weights):
        if g.trainable:
            s.assign(g + (s - g) * tf.cast(beta, s.dtype))
        else:
            s.assign(g)


def _apply(optimizer, loss_value, tape, variables):
    grads = tape.gradient(loss_value, variables)
    grads = [tf.zeros_like(v) if g is None else g for g, v in zip(grads, variables)]  # no path: zero, as NVIDIA
    optimizer.apply_gradients(zip(grads, variables))
    return grads


class StyleGAN2Steps:
    """The four update steps. Losses given to the optimisers: `mean(per-sample) / replicas`, summed by
    tf.distribute, i.e. the mean over the global minibatch."""

    def __init__(self, G, D, Gs, loss: StyleGAN2Loss, G_opt, D_opt):
        self.G, self.D, self.Gs, self.loss = G, D, Gs, loss
        self.G_opt, self.D_opt = G_opt, D_opt

    @staticmethod
    def _global_mean(per_sample):
        ctx = tf.distribute.get_replica_context()
        replicas = 1 if ctx is None else ctx.num_replicas_in_sync
        return tf.reduce_mean(per_sample) / replicas

    def G_main_step(self, inputs: GeneratorInputs):
        with tf.GradientTape() as tape:
            loss, batch_avg = self.loss.G_main(inputs)
            objective = self._global_mean(loss)
        _apply(self.G_opt, objective, tape, self.G.trainable_weights)
        update_dlatent_avg(self.G, self.loss.cross_replica_mean(batch_avg))
        return loss

    def G_reg_step(self, inputs: GeneratorInputs, pl_noise):
        with tf.GradientTape() as tape:
            reg, pl_mean_new, pl_lengths, batch_avg = self.loss.G_reg(inputs, pl_noise)
            objective = self._global_mean(reg * np.float32(self.loss.G_reg_interval))
        _apply(self.G_opt, objective, tape, self.G.trainable_weights)
        self.loss.pl_mean.assign(pl_mean_new)
        update_dlatent_avg(self.G, self.loss.cross_replica_mean(batch_avg))
        return reg, pl_lengths

    def D_main_step(self, inputs: GeneratorInputs, reals, real_labels, ema_beta_value):
        update_ema(self.Gs, self.G, ema_beta_value)  # NVIDIA runs it in the same session run as the D step
        with tf.GradientTape() as tape:
            loss, real_scores, fake_scores, batch_avg = self.loss.D_main(inputs, reals, real_labels)
            objective = self._global_mean(loss)
        _apply(self.D_opt, objective, tape, self.D.trainable_weights)
        update_dlatent_avg(self.G, self.loss.cross_replica_mean(batch_avg))
        return loss, real_scores, fake_scores

    def D_reg_step(self, reals, real_labels):
        with tf.GradientTape() as tape:
            reg, _ = self.loss.D_reg(reals, real_labels)
            objective = self._global_mean(reg * np.float32(self.loss.D_reg_interval))
        _apply(self.D_opt, objective, tape, self.D.trainable_weights)
        return reg


def nvidia_trainable_name(name: str) -> str:
    """sg2tf name -> the name NVIDIA's `Network.trainables` uses (`mapping/x` -> `G_mapping/x`)."""
    for key in nvnames.COMPONENTS:
        if name.startswith(key + '/'):
            return f'G_{name}'
    return name
