"""The StyleGAN2 training loop: configs, per-step random draws, snapshots, checkpoints, resume, logs.

Randomness is stateless, keyed by (seed, step), and drawn for the GLOBAL minibatch on every worker, so a run
gives the same weights on one device or on several replicas/hosts (up to float round-off), and a resumed run
continues with the draws it would have made.
"""
from __future__ import annotations

import dataclasses
import enum
import json
import math
import os
import time
from typing import Callable

import numpy as np
import tensorflow as tf

from sg2tf import arch
from sg2tf.fileio import atomic_open, atomic_write
from sg2tf.networks import Discriminator, Generator
from sg2tf.training.loss import GeneratorInputs, StyleGAN2Loss
from sg2tf.training.steps import StyleGAN2Steps, ema_beta, lazy_adam


@dataclasses.dataclass
class TrainingConfig:
    """Hyperparameters; defaults are NVIDIA's config-f (NVIDIA run_training.py, training/training_loop.py)."""
    fmap_base: int = 16 << 10
    fmap_max: int = 512
    latent_size: int = 512
    dlatent_size: int = 512
    mapping_layers: int = 8
    mapping_fmaps: int = 512
    g_architecture: str = 'skip'
    d_architecture: str = 'resnet'
    mbstd_group_size: int = 4
    batch_size: int = 32            # global minibatch
    learning_rate: float = 0.002
    beta1: float = 0.0
    beta2: float = 0.99
    epsilon: float = 1e-8
    r1_gamma: float = 10.0
    pl_weight: float = 2.0
    pl_batch_shrink: int = 2
    G_reg_interval: int = 4
    D_reg_interval: int = 16
    style_mixing_prob: float = 0.9
    ema_kimg: float = 10.0
    ema_rampup: float | None = None
    mirror_augment: bool = False

    def generator(self, resolution: int, num_channels: int, label_size: int, name: str = 'G') -> Generator:
        return Generator(resolution, num_channels, label_size, latent_size=self.latent_size,
                         dlatent_size=self.dlatent_size, style_mixing_prob=self.style_mixing_prob,
                         mapping_kwargs=dict(mapping_layers=self.mapping_layers, mapping_fmaps=self.mapping_fmaps),
                         synthesis_kwargs=dict(fmap_base=self.fmap_base, fmap_max=self.fmap_max,
                                               architecture=self.g_architecture), name=name)

    def discriminator(self, resolution: int, num_channels: int, label_size: int) -> Discriminator:
        return Discriminator(resolution, num_channels, label_size, fmap_base=self.fmap_base, fmap_max=self.fmap_max,
                             architecture=self.d_architecture, mbstd_group_size=self.mbstd_group_size, name='D')


CONFIGS = {
    'f': TrainingConfig(),
    'e': TrainingConfig(fmap_base=8 << 10, r1_gamma=100.0),
    # For a 2-core CPU: narrow nets, short EMA with ADA-style ramp-up, small minibatch.
    'small': TrainingConfig(fmap_base=512, fmap_max=64, latent_size=64, dlatent_size=64, mapping_layers=2,
                            mapping_fmaps=64, batch_size=16, learning_rate=0.0025, r1_gamma=0.1, ema_kimg=1.0,
                            ema_rampup=0.05),
}


class TrainingDiverged(RuntimeError):
    """A loss or penalty became NaN/Inf; the message names the step and the term."""


class Stream(enum.IntEnum):
    """The random streams of one training step. Each draw is keyed by (seed, step * STREAMS_PER_STEP + stream),
    so streams never share a key; a generator pass's draws use GENERATOR_DRAWS sub-streams from its base."""
    G_MAIN_LABELS = 0
    PL_LABELS = 2
    PL_NOISE = 4
    G_MAIN = 8
    G_REG = 24
    D_MAIN = 40


STREAMS_PER_STEP = 64
# Sub-streams of one generator pass, offsets from its Stream (values kept from the first release: resumable runs).
GENERATOR_DRAWS = {'latents': 0, 'style_mix_latents2': 1, 'style_mix_uniform': 2, 'style_mix_cutoff_draw': 3,
                   'noise': 5}


def step_seed(seed: int, step: int | tf.Tensor, stream: int) -> tf.Tensor:
    """The stateless-RNG seed of one stream at one step (`step` a Python int or an int64 tensor)."""
    if not 0 <= stream < STREAMS_PER_STEP:
        raise ValueError(f'random stream {stream} outside [0, {STREAMS_PER_STEP})')
    return tf.stack([tf.constant(seed, tf.int64), tf.cast(step, tf.int64) * STREAMS_PER_STEP + int(stream)])


def draw_generator_inputs(G, n: int, labels: tf.Tensor, seed: int, step: int | tf.Tensor,
                          stream: Stream) -> GeneratorInputs:
    """Stateless draws for one training-mode G pass of the global minibatch (n samples)."""
    num_ws = arch.num_layers(G.resolution)
    s = {what: step_seed(seed, step, stream + k) for what, k in GENERATOR_DRAWS.items()}
    noise_seeds = tf.random.experimental.stateless_split(s['noise'], num_ws - 1)
    return GeneratorInputs(
        latents=tf.random.stateless_normal([n, G.latent_size], s['latents']),
        labels=tf.cast(labels, tf.float32),
        style_mix_latents2=tf.random.stateless_normal([n, G.latent_size], s['style_mix_latents2']),
        style_mix_uniform=tf.random.stateless_uniform([], s['style_mix_uniform']),
        style_mix_cutoff_draw=tf.random.stateless_uniform([], s['style_mix_cutoff_draw'], 1, num_ws,
                                                          dtype=tf.int32),
        noise=[tf.random.stateless_normal([n, arch.noise_resolution(k), arch.noise_resolution(k), 1], noise_seeds[k])
               for k in range(num_ws - 1)])


def random_labels(all_labels: np.ndarray | tf.Tensor, n: int, seed: int, step: int | tf.Tensor,
                  stream: Stream) -> tf.Tensor:
    """Uniformly random rows of the dataset's label array (`[n, 0]` when unconditional)."""
    if all_labels.shape[1] == 0:
        return tf.zeros([n, 0], tf.float32)
    idx = tf.random.stateless_uniform([n], step_seed(seed, step, stream), 0, int(all_labels.shape[0]),
                                      dtype=tf.int32)
    return tf.gather(tf.cast(all_labels, tf.float32), idx)


def save_image_grid(images_nhwc: np.ndarray, path: str, grid: tuple[int, int]) -> None:
    """[-1, 1] float images -> one PNG, `rint` rounding as NVIDIA's grids; written atomically."""
    from PIL import Image
    gw, gh = grid
    n, h, w, c = images_nhwc.shape
    img = np.rint((images_nhwc[:gw * gh] + 1) * 127.5).clip(0, 255).astype(np.uint8)
    img = img.reshape(gh, gw, h, w, c).transpose(0, 2, 1, 3, 4).reshape(gh * h, gw * w, c)
    with atomic_write(path) as tmp:
        Image.fromarray(img[:, :, 0] if c == 1 else img).save(tmp, format='PNG')


def check_trainable(nets: dict) -> None:
    """The trainer runs StyleGAN2's losses on StyleGAN2 E/F, configs B-D (fully grown: E/F orig) and ADA
    networks (TF pickles or stylegan2-ada-pytorch snapshots); StyleGAN1 needs its own training loop."""
    from sg2tf import stylegan1
    from sg2tf.stylegan2_ada import AdaDiscriminator
    from sg2tf.stylegan2_revised import RevisedDiscriminator
    kinds = {'G': (Generator,), 'D': (Discriminator, RevisedDiscriminator, AdaDiscriminator)}  # Generator: + B-D, ADA
    for key, classes in kinds.items():
        if key not in nets:
            raise ValueError(f'the pickle holds no {key} (fine-tuning needs G, D and Gs)')
        if not isinstance(nets[key], classes) or isinstance(nets[key], (stylegan1.Generator, stylegan1.Discriminator)):
            what = f'{type(nets[key]).__module__}.{type(nets[key]).__name__}'
            raise ValueError(f'not supported yet: fine-tuning a {what} ({key}); sg2tf trains StyleGAN2 (configs B-F) '
                             f'and StyleGAN2-ADA networks')


class Trainer:
    """Owns the networks, optimisers, loss state and checkpoint of one run."""

    def __init__(self, outdir: str, data, config: TrainingConfig, seed: int = 0,
                 strategy: tf.distribute.Strategy | None = None, jit: bool = True, is_chief: bool = True,
                 init_networks: dict | None = None):
        """`init_networks` ({'G', 'D', 'Gs'}, e.g. from an NVIDIA pickle): start from these architectures and
        weights (fine-tuning); the config's architecture fields are then not used."""
        self.outdir, self.data, self.cfg, self.seed = outdir, data, config, int(seed)
        self.strategy = strategy or tf.distribute.get_strategy()
        self.is_chief = is_chief
        res, ch, ls = data.resolution, data.num_channels, data.label_size
        if init_networks is not None:
            check_trainable(init_networks)
            got = (init_networks['G'].resolution, init_networks['G'].num_channels, init_networks['G'].label_size)
            if got != (res, ch, ls):
                raise ValueError(f'the networks are {got[0]}x{got[0]}x{got[1]} with label_size {got[2]}, the dataset '
                                 f'{res}x{res}x{ch} with label_size {ls}')
        with self.strategy.scope():
            if init_networks is None:
                self.G = config.generator(res, ch, ls, 'G')
                self.Gs = config.generator(res, ch, ls, 'Gs')
                self.D = config.discriminator(res, ch, ls)
            else:
                clone = lambda net, name: type(net).from_config({**net.get_config(), 'name': name})  # noqa: E731
                self.G, self.Gs, self.D = (clone(init_networks[k], k) for k in ('G', 'Gs', 'D'))
            for net in (self.G, self.Gs, self.D):
                net.build()
            if init_networks is None:
                self.Gs.set_weights(self.G.get_weights())
            else:
                for key, net in (('G', self.G), ('D', self.D), ('Gs', self.Gs)):
                    net.set_weights(init_networks[key].get_weights())
            self.loss = StyleGAN2Loss(self.G, self.D, r1_gamma=config.r1_gamma, pl_weight=config.pl_weight,
                                      G_reg_interval=config.G_reg_interval, D_reg_interval=config.D_reg_interval)
            self.G_opt = lazy_adam(config.learning_rate, config.beta1, config.beta2, config.epsilon,
                                   config.G_reg_interval, 'G_opt')
            self.D_opt = lazy_adam(config.learning_rate, config.beta1, config.beta2, config.epsilon,
                                   config.D_reg_interval, 'D_opt')
            self.G_opt.build(self.G.trainable_weights)
            self.D_opt.build(self.D.trainable_weights)
            self.step = tf.Variable(0, dtype=tf.int64, trainable=False, name='step')
            self.cur_nimg = tf.Variable(0, dtype=tf.int64, trainable=False, name='cur_nimg')
        self.steps = StyleGAN2Steps(self.G, self.D, self.Gs, self.loss, self.G_opt, self.D_opt, self.strategy, jit=jit)
        # A step's random draws (some 60 small stateless ops) as two compiled calls, not one eager dispatch each;
        # the step is a tensor argument, so each is traced once. Same values as drawn eagerly.
        self._all_labels = tf.constant(self.data.labels, tf.float32)  # captured, not copied into the graph
        wrap = tf.function if jit else (lambda f: f)
        self._draw_main, self._draw_pl = wrap(self._main_draws), wrap(self._pl_draws)
        self.checkpoint = tf.train.Checkpoint(state=self._state_module())
        ckpt_dir = os.path.join(outdir, 'checkpoints')
        if not is_chief:  # other workers write to a scratch directory (MultiWorkerMirroredStrategy convention)
            ckpt_dir = os.path.join(outdir, f'.worker-scratch-{os.getpid()}')
        self.manager = tf.train.CheckpointManager(self.checkpoint, ckpt_dir, max_to_keep=2)

    # -- state ------------------------------------------------------------------------------------------------
    def _state_module(self) -> tf.Module:
        """Every variable of the run under an explicit name. (tf.train.Checkpoint does not see the variables of
        Keras 3 sub-models through a model object, so they are listed one by one.)"""
        from sg2tf.nvidia import names as nvnames
        state = tf.Module(name='training_state')
        table = {}
        for key, net in (('G', self.G), ('D', self.D), ('Gs', self.Gs)):
            for name, v in nvnames.nvidia_variables(net).items():
                table[f'{key}/{name}'] = v.value
        for key, opt in (('G_opt', self.G_opt), ('D_opt', self.D_opt)):
            for v in opt.variables:
                table[f'{key}/{v.path}'] = v.value
        table.update({'pl_mean': self.loss.pl_mean, 'step': self.step, 'cur_nimg': self.cur_nimg})
        state.variables_by_name = table
        return state

    def restore(self) -> bool:
        """Continue from the newest complete checkpoint in outdir (False if there is none)."""
        path = tf.train.latest_checkpoint(os.path.join(self.outdir, 'checkpoints'))
        if path is None:
            return False
        self.checkpoint.restore(path).assert_existing_objects_matched()
        return True

    def save_checkpoint(self) -> None:
        self.manager.save(checkpoint_number=int(self.step.numpy()))

    def save_snapshot(self) -> str:
        from sg2tf.nvidia import save_network_pkl
        kimg = int(self.cur_nimg.numpy()) // 1000
        path = os.path.join(self.outdir, f'network-snapshot-{kimg:06d}.pkl')
        save_network_pkl(path, self.G, self.D, self.Gs)
        return path

    # -- one minibatch ----------------------------------------------------------------------------------------
    def _main_draws(self, step, real_labels) -> tuple[GeneratorInputs, GeneratorInputs]:
        """The G main and D main passes' generator inputs of one step."""
        B = self.cfg.batch_size
        g_labels = random_labels(self._all_labels, B, self.seed, step, Stream.G_MAIN_LABELS)
        return (draw_generator_inputs(self.G, B, g_labels, self.seed, step, Stream.G_MAIN),
                draw_generator_inputs(self.G, B, real_labels, self.seed, step, Stream.D_MAIN))

    def _pl_draws(self, step) -> tuple[GeneratorInputs, tf.Tensor]:
        """The path-length pass's generator inputs and its image-space noise."""
        n = self.cfg.batch_size // self.cfg.pl_batch_shrink
        labels = random_labels(self._all_labels, n, self.seed, step, Stream.PL_LABELS)
        pl_noise = tf.random.stateless_normal([n, self.G.resolution, self.G.resolution, self.G.num_channels],
                                              step_seed(self.seed, step, Stream.PL_NOISE))
        return draw_generator_inputs(self.G, n, labels, self.seed, step, Stream.G_REG), pl_noise

    def train_step(self, reals, real_labels) -> dict:
        cfg, step, B = self.cfg, int(self.step.numpy()), self.cfg.batch_size
        stats = {}
        g_in, d_in = self._draw_main(tf.constant(step, tf.int64), tf.cast(real_labels, tf.float32))
        stats.update(self.steps.G_main_step(g_in))
        if step % cfg.G_reg_interval == 0 and cfg.pl_weight > 0:
            stats.update(self.steps.G_reg_step(*self._draw_pl(tf.constant(step, tf.int64))))
        beta = ema_beta(B, cfg.ema_kimg, cfg.ema_rampup, int(self.cur_nimg.numpy()))
        stats.update(self.steps.D_main_step(d_in, reals, real_labels, tf.constant(beta, tf.float32)))
        if step % cfg.D_reg_interval == 0 and cfg.r1_gamma > 0:
            stats.update(self.steps.D_reg_step(reals, real_labels))
        stats = {k: float(v) for k, v in stats.items()}
        for term, value in stats.items():
            if not math.isfinite(value):
                raise TrainingDiverged(f'step {step} (kimg {int(self.cur_nimg.numpy()) / 1000:.3f}): {term} is '
                                       f'{value}; stopping (the last checkpoint is intact)')
        self.step.assign_add(1)
        self.cur_nimg.assign_add(B)
        return stats

    # -- the loop ---------------------------------------------------------------------------------------------
    def fakes(self, n: int) -> np.ndarray:
        rnd = np.random.RandomState(self.seed + 123)
        z = rnd.randn(n, self.G.latent_size).astype(np.float32)
        labels = self.data.labels
        c = labels[rnd.randint(len(labels), size=n)] if labels.shape[1] else np.zeros([n, 0], np.float32)
        return self.Gs(z, c, noise_mode='const').numpy()

    def train(self, total_kimg: float, snapshot_kimg: float = 4.0, checkpoint_kimg: float | None = None,
              grid: tuple[int, int] = (8, 4), log: Callable[[str], None] = print,
              max_steps: int | None = None) -> None:
        cfg = self.cfg
        checkpoint_kimg = snapshot_kimg if checkpoint_kimg is None else checkpoint_kimg
        ds = self.data.make_dataset(cfg.batch_size, mirror_augment=cfg.mirror_augment,
                                    seed=self.seed + int(self.step.numpy()))
        it = iter(ds)
        writer = tf.summary.create_file_writer(os.path.join(self.outdir, 'logs')) if self.is_chief else None
        start_nimg = int(self.cur_nimg.numpy())
        if self.is_chief and start_nimg == 0:  # as NVIDIA: reals, initial fakes and a snapshot at kimg 0
            reals, _ = next(iter(self.data.make_dataset(grid[0] * grid[1], seed=self.seed)))
            save_image_grid(reals.numpy(), os.path.join(self.outdir, 'reals.png'), grid)
            save_image_grid(self.fakes(grid[0] * grid[1]), os.path.join(self.outdir, 'fakes_init.png'), grid)
            self.save_snapshot()
        t_start = t_tick = time.time()
        tick_nimg, last_ckpt = start_nimg, start_nimg
        sums: dict[str, list] = {}
        steps_done = 0
        while int(self.cur_nimg.numpy()) < total_kimg * 1000 and (max_steps is None or steps_done < max_steps):
            reals, labels = next(it)
            for k, v in self.train_step(reals, labels).items():
                sums.setdefault(k, []).append(v)
            steps_done += 1
            nimg = int(self.cur_nimg.numpy())
            done = nimg >= total_kimg * 1000 or (max_steps is not None and steps_done >= max_steps)
            if nimg - last_ckpt >= checkpoint_kimg * 1000 or done:
                self.save_checkpoint()
                last_ckpt = nimg
            if nimg - tick_nimg >= snapshot_kimg * 1000 or done:
                now = time.time()
                means = {k: float(np.mean(v)) for k, v in sums.items()}
                rate = (nimg - tick_nimg) / max(now - t_tick, 1e-9)
                if self.is_chief:
                    snap = self.save_snapshot()
                    save_image_grid(self.fakes(grid[0] * grid[1]),
                                    os.path.join(self.outdir, f'fakes{nimg // 1000:06d}.png'), grid)
                    with writer.as_default(step=nimg):
                        for k, v in means.items():
                            tf.summary.scalar(k, v)
                        tf.summary.scalar('Progress/kimg', nimg / 1000)
                        tf.summary.scalar('Timing/img_per_sec', rate)
                    writer.flush()
                    log(f'kimg {nimg / 1000:8.3f}  step {int(self.step.numpy()):6d}  time {now - t_start:7.1f} s  '
                        f'img/s {rate:6.1f}  ' + '  '.join(f'{"_".join(k.split("/")[1:])} {v:.4f}' for k, v in
                                                           sorted(means.items())) + f'  snapshot {os.path.basename(snap)}')
                tick_nimg, t_tick, sums = nimg, now, {}


def write_options(outdir: str, **options) -> None:
    with atomic_open(os.path.join(outdir, 'training_options.json'), 'w') as f:
        json.dump(options, f, indent=2, default=str)
