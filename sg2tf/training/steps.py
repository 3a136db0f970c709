"""One StyleGAN2 training iteration in NVIDIA's order, on tf.GradientTape and tf.distribute (NVIDIA
training/training_loop.py, dnnlib/tflib/optimizer.py).

G main step; G reg (path length) if due; Gs moving average + D main step; D reg (R1) if due. Each network has
ONE Adam instance shared by its main and reg steps, with lazy-regularization hyperparameters
`lr * r, beta1 ** r, beta2 ** r`, `r = I / (I + 1)`; reg losses are multiplied by their interval I.

Every step takes the GLOBAL minibatch's inputs; under a distribution strategy each replica takes its slice,
gradients are summed over replicas (each replica's loss is divided by their number: the mean over the global
minibatch), and the state updates (`dlatent_avg`, `pl_mean`, Gs) use cross-replica means. One code path for one
device, MirroredStrategy and MultiWorkerMirroredStrategy.
"""
from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

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


def _replica():
    ctx = tf.distribute.get_replica_context()
    return (0, 1) if ctx is None else (ctx.replica_id_in_sync_group, ctx.num_replicas_in_sync)


def _local(x):
    """This replica's slice of a global-minibatch tensor."""
    rid, n = _replica()
    if n == 1:
        return x
    per = tf.shape(x)[0] // n
    return x[rid * per:(rid + 1) * per]


def _local_inputs(inputs: GeneratorInputs) -> GeneratorInputs:
    return inputs._replace(latents=_local(inputs.latents), labels=_local(inputs.labels),
                           style_mix_latents2=_local(inputs.style_mix_latents2),
                           noise=[_local(n) for n in inputs.noise])


def _global_mean(per_sample):
    return tf.reduce_mean(per_sample) / _replica()[1]


def _apply(optimizer, objective, tape, variables):
    grads = tape.gradient(objective, variables)
    grads = [tf.zeros_like(v) if g is None else g for g, v in zip(grads, variables)]  # no path: zero, as NVIDIA
    optimizer.apply_gradients(zip(grads, variables))


class StyleGAN2Steps:
    """The four update steps. Each returns a dict of scalar statistics (means over the global minibatch)."""

    def __init__(self, G, D, Gs, loss: StyleGAN2Loss, G_opt, D_opt, strategy: tf.distribute.Strategy | None = None,
                 jit: bool = False):
        self.G, self.D, self.Gs, self.loss = G, D, Gs, loss
        self.G_opt, self.D_opt = G_opt, D_opt
        self.strategy = strategy or tf.distribute.get_strategy()
        wrap = (lambda f: tf.function(f, reduce_retracing=True)) if jit else (lambda f: f)
        self.G_main_step, self.G_reg_step = wrap(self._G_main_step), wrap(self._G_reg_step)
        self.D_main_step, self.D_reg_step = wrap(self._D_main_step), wrap(self._D_reg_step)

    def _mean(self, value):
        return self.strategy.reduce(tf.distribute.ReduceOp.MEAN, value, axis=None)

    def _first(self, value):
        return self.strategy.experimental_local_results(value)[0]

    def _G_main_step(self, inputs: GeneratorInputs):
        def replica_fn(inputs):
            with tf.GradientTape() as tape:
                t = self.loss.G_main(_local_inputs(inputs))
                objective = _global_mean(t.loss)
            _apply(self.G_opt, objective, tape, self.G.trainable_weights)
            return tf.reduce_mean(t.loss), self.loss.cross_replica_mean(t.batch_avg)
        loss, batch_avg = self.strategy.run(replica_fn, (inputs,))
        update_dlatent_avg(self.G, self._first(batch_avg))
        return {'Loss/G/loss': self._mean(loss)}

    def _G_reg_step(self, inputs: GeneratorInputs, pl_noise):
        def replica_fn(inputs, pl_noise):
            with tf.GradientTape() as tape:
                t = self.loss.G_reg(_local_inputs(inputs), _local(pl_noise))
                objective = _global_mean(t.reg * np.float32(self.loss.G_reg_interval))
            _apply(self.G_opt, objective, tape, self.G.trainable_weights)
            return (tf.reduce_mean(t.reg), tf.reduce_mean(t.pl_lengths), t.pl_mean_new,
                    self.loss.cross_replica_mean(t.batch_avg))
        reg, pl_lengths, pl_mean_new, batch_avg = self.strategy.run(replica_fn, (inputs, pl_noise))
        self.loss.pl_mean.assign(self._first(pl_mean_new))
        update_dlatent_avg(self.G, self._first(batch_avg))
        return {'Loss/G/pl_penalty': self._mean(reg), 'Loss/G/pl_lengths': self._mean(pl_lengths),
                'Loss/G/pl_mean': tf.identity(self.loss.pl_mean)}

    def _D_main_step(self, inputs: GeneratorInputs, reals, real_labels, ema_beta_value):
        update_ema(self.Gs, self.G, ema_beta_value)  # NVIDIA runs it in the same session run as the D step

        def replica_fn(inputs, reals, real_labels):
            real_labels = _local(real_labels)
            with tf.GradientTape() as tape:
                t = self.loss.D_main(_local_inputs(inputs), _local(reals), real_labels)
                objective = _global_mean(t.loss)
            _apply(self.D_opt, objective, tape, self.D.trainable_weights)
            return (tf.reduce_mean(t.loss), tf.reduce_mean(t.real_scores), tf.reduce_mean(t.fake_scores),
                    self.loss.cross_replica_mean(t.batch_avg))
        loss, real_scores, fake_scores, batch_avg = self.strategy.run(replica_fn, (inputs, reals, real_labels))
        update_dlatent_avg(self.G, self._first(batch_avg))
        return {'Loss/D/loss': self._mean(loss), 'Loss/scores/real': self._mean(real_scores),
                'Loss/scores/fake': self._mean(fake_scores)}

    def _D_reg_step(self, reals, real_labels):
        def replica_fn(reals, real_labels):
            with tf.GradientTape() as tape:
                reg = self.loss.D_reg(_local(reals), _local(real_labels)).reg
                objective = _global_mean(reg * np.float32(self.loss.D_reg_interval))
            _apply(self.D_opt, objective, tape, self.D.trainable_weights)
            return tf.reduce_mean(reg)
        reg = self.strategy.run(replica_fn, (reals, real_labels))
        return {'Loss/D/r1_penalty': self._mean(reg)}
