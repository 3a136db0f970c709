"""Train StyleGAN2 (config E/F family) with tf.distribute on NVIDIA-format TFRecords.

    sg2tf-train --data datasets/digits --outdir runs/digits --cfg small --kimg 200 --snap 10
    sg2tf-train --resume runs/digits --kimg 400                    # continue a run (same kimg counter, state)
    sg2tf-train --data datasets/ffhq --outdir runs/ft --resume-from stylegan2-ffhq-config-f.pkl   # fine-tune

One device, several GPUs (MirroredStrategy) or several hosts (MultiWorkerMirroredStrategy, chosen when
TF_CONFIG is set): the same code path. Every `--snap` kimg: an NVIDIA-format snapshot pickle `(G, D, Gs)`,
a fakes grid PNG, TensorBoard scalars and a progress line; every `--ckpt` kimg an atomic training checkpoint.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys


def make_strategy(kind: str):
    import tensorflow as tf
    if kind == 'auto':
        kind = 'multiworker' if os.environ.get('TF_CONFIG') else (
            'mirrored' if len(tf.config.list_physical_devices('GPU')) > 1 else 'one')
    if kind == 'multiworker':
        return tf.distribute.MultiWorkerMirroredStrategy()
    if kind == 'mirrored':
        return tf.distribute.MirroredStrategy()
    return tf.distribute.get_strategy()


def is_chief() -> bool:
    cfg = json.loads(os.environ.get('TF_CONFIG', '{}') or '{}')
    task = cfg.get('task', {})
    return task.get('type', 'chief') == 'chief' or (task.get('type') == 'worker' and task.get('index', 0) == 0
                                                     and 'chief' not in cfg.get('cluster', {}))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--data', help='dataset directory (NVIDIA TFRecords; make one with sg2tf-dataset-tool)')
    ap.add_argument('--outdir', help='run directory (created)')
    ap.add_argument('--resume', metavar='DIR', help='continue the run in DIR from its latest checkpoint')
    ap.add_argument('--resume-from', metavar='PKL',
                    help='fine-tune from an NVIDIA pickle (G, D, Gs); its architecture replaces the --cfg one')
    ap.add_argument('--cfg', default='f', help='f (default), e or small')
    ap.add_argument('--kimg', type=float, default=25000, help='train until this many thousand real images')
    ap.add_argument('--snap', type=float, default=40, help='snapshot/log every N kimg')
    ap.add_argument('--ckpt', type=float, default=None, help='checkpoint every N kimg (default: --snap)')
    ap.add_argument('--batch', type=int, default=None, help='global minibatch (config default)')
    ap.add_argument('--gamma', type=float, default=None, help='R1 weight (config default)')
    ap.add_argument('--mirror', action='store_true', help='x-flip augmentation')
    ap.add_argument('--cond', action='store_true', help='use the dataset labels (conditional networks)')
    ap.add_argument('--seed', type=int, default=0)
    ap.add_argument('--strategy', choices=['auto', 'one', 'mirrored', 'multiworker'], default='auto')
    ap.add_argument('--no-jit', action='store_true', help='run the steps eagerly (debugging)')
    ap.add_argument('--max-steps', type=int, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)

    os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
    from sg2tf.training.dataset import DatasetError, TFRecordDataset
    from sg2tf.training.loop import CONFIGS, Trainer, TrainingDiverged, write_options

    def fail(msg: str) -> int:
        print(f'error: {msg}', file=sys.stderr)
        return 1

    if args.resume:
        opts_path = os.path.join(args.resume, 'training_options.json')
        if not os.path.exists(opts_path):
            return fail(f'--resume {args.resume}: no training_options.json there (not a sg2tf run directory)')
        with open(opts_path) as f:
            opts = json.load(f)
        outdir, data_dir, cond, seed = args.resume, opts['data'], opts['cond'], opts['seed']
        config = dataclasses.replace(CONFIGS['f'], **opts['config'])
        args.resume_from = opts.get('resume_from')
    else:
        if not args.data or not args.outdir:
            return fail('--data and --outdir are required (or --resume DIR)')
        if args.cfg not in CONFIGS:
            return fail(f'--cfg {args.cfg!r}: expected one of {", ".join(CONFIGS)}')
        outdir, data_dir, cond, seed = args.outdir, args.data, args.cond, args.seed
        overrides = {k: v for k, v in (('batch_size', args.batch), ('r1_gamma', args.gamma)) if v is not None}
        config = dataclasses.replace(CONFIGS[args.cfg], mirror_augment=args.mirror, **overrides)
        if os.path.isdir(outdir) and os.listdir(outdir):
            return fail(f'--outdir {outdir} exists and is not empty (use --resume {outdir} to continue it)')
    try:
        data = TFRecordDataset(data_dir, max_label_size='full' if cond else 0)
    except DatasetError as e:
        return fail(str(e))
    os.makedirs(outdir, exist_ok=True)
    strategy = make_strategy(args.strategy)
    if config.batch_size % strategy.num_replicas_in_sync:
        return fail(f'batch {config.batch_size} is not divisible by {strategy.num_replicas_in_sync} replicas')
    chief = is_chief()
    import keras
    keras.utils.set_random_seed(seed)  # network initialisation (training draws are keyed by seed and step)
    init = None
    if args.resume_from:  # also on --resume of such a run: the architecture comes from that pickle
        from sg2tf.nvidia import NetworkPickleError, load_network_pkl
        try:
            init = load_network_pkl(args.resume_from)
        except NetworkPickleError as e:
            return fail(str(e))
        if not isinstance(init, dict):
            return fail(f'--resume-from {args.resume_from}: a single network; a (G, D, Gs) snapshot is needed')
    try:
        trainer = Trainer(outdir, data, config, seed=seed, strategy=strategy, jit=not args.no_jit, is_chief=chief,
                          init_networks=init)
    except ValueError as e:
        return fail(f'--resume-from {args.resume_from}: {e}' if init else str(e))
    if args.resume:
        if not trainer.restore():
            return fail(f'--resume {outdir}: no complete checkpoint in {outdir}/checkpoints')
        print(f'Resumed {outdir} at kimg {int(trainer.cur_nimg.numpy()) / 1000:.3f} (step {int(trainer.step.numpy())})')
    else:
        if chief:
            write_options(outdir, data=data_dir, cond=cond, seed=seed, config=dataclasses.asdict(config),
                          resume_from=args.resume_from, replicas=strategy.num_replicas_in_sync)
    print(f'Dataset {data_dir}: {data.num_images} images {data.resolution}x{data.resolution}x{data.num_channels}, '
          f'label_size {data.label_size}; {strategy.num_replicas_in_sync} replica(s); global batch {config.batch_size}')
    try:
        trainer.train(args.kimg, snapshot_kimg=args.snap, checkpoint_kimg=args.ckpt, max_steps=args.max_steps,
                      log=lambda line: print(line, flush=True))
    except TrainingDiverged as e:
        return fail(str(e))
    print(f'Done: {outdir}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
