"""The four training step functions (G main, G reg / path length, D main, D reg / R1) are traced once per run and
keep no Python callback inside their graphs: every training step after the first runs four (or two) compiled graphs,
with no retracing and no host round trip inside a step."""
import dataclasses

import pytest
import tensorflow as tf

from sg2tf.training.dataset import TFRecordDataset
from sg2tf.training.loop import CONFIGS, Trainer
from test_training_loop import TINY, make_dataset

STEPS = ('G_main_step', 'G_reg_step', 'D_main_step', 'D_reg_step')
# Ops that call back into Python (a host round trip per call, and a retrace hazard).
PYTHON_OPS = {'PyFunc', 'PyFuncStateless', 'EagerPyFunc'}


class _Recorder:
    """Stands in for one step function: counts calls and keeps the last arguments (to look up its graph)."""

    def __init__(self, fn):
        self.fn, self.calls, self.args = fn, 0, None

    def __call__(self, *args):
        self.calls += 1
        self.args = args
        return self.fn(*args)


@pytest.fixture(scope='module')
def trained(tmp_path_factory):
    """A tiny run of 7 steps through Trainer.train (snapshots and checkpoints included) with G reg every 2 and
    D reg every 3 steps: G reg at steps 0, 2, 4, 6 and D reg at 0, 3, 6, so both lazy steps run after warm-up."""
    root = tmp_path_factory.mktemp('tracing')
    data = TFRecordDataset(make_dataset(root / 'data'), max_label_size='full')
    cfg = dataclasses.replace(CONFIGS['f'], **TINY, G_reg_interval=2, D_reg_interval=3)
    trainer = Trainer(str(root / 'run'), data, cfg, seed=1)
    recorders = {name: _Recorder(getattr(trainer.steps, name)) for name in STEPS}
    for name, rec in recorders.items():
        setattr(trainer.steps, name, rec)
    trainer.train(1.0, snapshot_kimg=0.008, max_steps=7, log=lambda s: None)
    return trainer, recorders


def test_each_step_function_traced_once(trained):
    trainer, recorders = trained
    assert {n: r.calls for n, r in recorders.items()} == {'G_main_step': 7, 'G_reg_step': 4, 'D_main_step': 7,
                                                          'D_reg_step': 3}
    for name, rec in recorders.items():
        assert isinstance(rec.fn, tf.types.experimental.PolymorphicFunction), f'{name} is not a tf.function'
        assert rec.fn.experimental_get_tracing_count() == 1, f'{name} was traced ' \
            f'{rec.fn.experimental_get_tracing_count()} times in 7 steps'


def test_no_python_callback_inside_a_step(trained):
    _, recorders = trained
    for name, rec in recorders.items():
        graph = rec.fn.get_concrete_function(*rec.args).graph.as_graph_def()
        assert rec.fn.experimental_get_tracing_count() == 1  # the lookup found the existing trace
        ops = {n.op for n in graph.node} | {n.op for f in graph.library.function for n in f.node_def}
        assert 'AssignVariableOp' in ops or 'AssignAddVariableOp' in ops, f'{name}: graph not found'  # sanity
        assert not ops & PYTHON_OPS, f'{name} calls back into Python: {sorted(ops & PYTHON_OPS)}'



def test_random_draws_compiled_once_and_equal_to_eager(trained):
    """A step's random draws run as two tf.functions (main passes, path length), each traced once in 7 steps, with
    the values of the eager draws (stateless seeds from the step number)."""
    import numpy as np
    from sg2tf.training.loop import Stream, draw_generator_inputs, random_labels
    trainer, _ = trained
    for fn in (trainer._draw_main, trainer._draw_pl):
        assert isinstance(fn, tf.types.experimental.PolymorphicFunction)
        assert fn.experimental_get_tracing_count() == 1
    B, step = trainer.cfg.batch_size, 5
    real_labels = tf.constant(trainer.data.labels[:B], tf.float32)
    g_in, d_in = trainer._draw_main(tf.constant(step, tf.int64), real_labels)
    labels = random_labels(trainer.data.labels, B, trainer.seed, step, Stream.G_MAIN_LABELS)
    for got, eager in ((g_in, draw_generator_inputs(trainer.G, B, labels, trainer.seed, step, Stream.G_MAIN)),
                       (d_in, draw_generator_inputs(trainer.G, B, real_labels, trainer.seed, step, Stream.D_MAIN))):
        for a, b in zip(tf.nest.flatten(got), tf.nest.flatten(eager)):
            np.testing.assert_array_equal(a.numpy(), b.numpy())
    assert trainer._draw_main.experimental_get_tracing_count() == 1
