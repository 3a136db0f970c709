"""Compiled custom ops (impl='custom') against the pure-TF reference (impl='ref'): values, first- and
second-order gradients on fresh random inputs, the impl switch, and NVIDIA parity with the custom ops selected.

The library is built once into the per-user cache (python -m sg2tf.ops.build); these tests skip only when no
C++ compiler exists on the machine.
"""
import itertools
import zlib

import numpy as np
import pytest
import tensorflow as tf

from sg2tf import ops
from sg2tf.ops import build as ops_build
from conftest import FIXTURES, rel_err

TOL = 1e-5

pytestmark = pytest.mark.skipif(ops_build.find_cxx() is None,
                                reason='no C++ compiler on this machine: the custom ops cannot be built')


@pytest.fixture(scope='module', autouse=True)
def library():
    from sg2tf.ops import custom
    ok, why = custom.available()
    assert ok, why  # a compiler exists (else skipped above), so a failed build is a real failure
    return custom


def _grads(fn, x, impl, extra=()):
    """y, dL/dinputs and d(||dL/dx||^2)/dinputs with a non-trivial loss."""
    watch = [x, *extra]
    with tf.GradientTape() as outer:
        outer.watch(watch)
        with tf.GradientTape() as inner:
            inner.watch(watch)
            y = fn(impl)
            loss = tf.reduce_sum(y * tf.cos(y))
        g = inner.gradient(loss, watch)
        penalty = tf.add_n([tf.reduce_sum(tf.square(gi)) for gi in g])
    gg = outer.gradient(penalty, watch)
    return [y, *g, *gg]


FILTERS = {'k4': [1, 3, 3, 1], 'k3': [1, 2, 1], 'k1': [1], 'k2box': None, 'k5': [1, 4, 6, 4, 1],
           'rect3x4': np.arange(12, dtype=np.float32).reshape(3, 4) / 66.0 - 0.05}
UPFIRDN_CASES = [  # (up, down, pad (x0, x1, y0, y1), filter, flip, gain, channels)
    (1, 1, (0, 0, 0, 0), 'k4', False, 1.0, 8),
    (1, 1, (1, 2, 2, 1), 'k4', True, 1.0, 32),
    (2, 1, (2, 1, 2, 1), 'k4', False, 4.0, 3),
    (2, 1, (2, 1, 2, 1), 'k4', False, 4.0, 64),
    (1, 2, (1, 1, 1, 1), 'k4', False, 1.0, 16),
    (1, 2, (2, 2, 2, 2), 'k4', True, 1.0, 40),
    (2, 2, (1, 2, 0, 3), 'k3', True, 2.0, 5),
    (3, 1, (-1, 2, 1, -2), 'k5', False, 1.0, 8),
    (1, 3, (1, 1, 2, 2), 'rect3x4', False, 0.5, 3),
    (2, 1, (1, 1, 1, 1), 'k2box', True, 1.0, 32),
    (1, 1, (0, 0, 0, 0), 'k1', False, 3.0, 7),
    (4, 2, (3, 3, 0, 5), 'rect3x4', True, 1.5, 9),
    (2, 3, (-2, -1, 4, 0), 'k5', False, 0.7, 33),
]


@pytest.mark.parametrize('up,down,pad,filt,flip,gain,channels', UPFIRDN_CASES)
def test_upfirdn2d_custom_matches_ref(up, down, pad, filt, flip, gain, channels):
    rnd = np.random.RandomState(zlib.crc32(repr((up, down, pad, filt, flip, channels)).encode()))  # same every run
    taps = FILTERS[filt]
    f = ops.setup_filter(taps, normalize=not isinstance(taps, np.ndarray))
    x = tf.constant(rnd.randn(2, 9, 11, channels).astype(np.float32))
    fn = lambda impl: ops.upfirdn2d(x, f, up=up, down=down, padding=pad, flip_filter=flip, gain=gain, impl=impl)
    got, want = _grads(fn, x, 'custom'), _grads(fn, x, 'ref')
    assert got[0].shape == want[0].shape
    for name, a, b in zip(('y', 'dx', 'ddx'), got, want):
        assert rel_err(a, b) <= TOL, f'{name}: {rel_err(a, b):.2e}'


@pytest.mark.parametrize('act,alpha,gain,clamp,bias,channels', [
    (act, alpha, gain, clamp, bias, ch)
    for act, (alpha, gain, clamp, bias, ch) in itertools.product(
        sorted(ops.ACTIVATIONS),
        [(None, None, None, True, 32), (0.3, 1.7, 0.8, True, 5), (None, 0.5, None, False, 16)])])
def test_bias_act_custom_matches_ref(act, alpha, gain, clamp, bias, channels):
    rnd = np.random.RandomState(len(act) * 100 + channels)
    x = tf.constant(rnd.randn(3, 4, 5, channels).astype(np.float32))
    b = tf.constant(rnd.randn(channels).astype(np.float32)) if bias else None
    fn = lambda impl: ops.bias_act(x, b, act=act, alpha=alpha, gain=gain, clamp=clamp, impl=impl)
    extra = (b,) if bias else ()
    got, want = _grads(fn, x, 'custom', extra), _grads(fn, x, 'ref', extra)
    for i, (a, c) in enumerate(zip(got, want)):
        assert rel_err(a, c) <= TOL, f'output {i}: {rel_err(a, c):.2e}'


def test_bias_act_third_order():
    """Orders above two use the autodiff fallback; it must still agree with the reference."""
    x = tf.constant(np.random.RandomState(5).randn(4, 6).astype(np.float32))
    res = {}
    for impl in ('custom', 'ref'):
        with tf.GradientTape() as t3:
            t3.watch(x)
            with tf.GradientTape() as t2:
                t2.watch(x)
                with tf.GradientTape() as t1:
                    t1.watch(x)
                    y = ops.bias_act(x, None, act='tanh', clamp=0.7, impl=impl)
                g1 = t1.gradient(y, x)
            g2 = t2.gradient(g1, x)
        res[impl] = t3.gradient(g2, x)
    assert rel_err(res['custom'], res['ref']) <= TOL


def test_custom_in_tf_function_and_bias_on_rank2():
    x = tf.constant(np.random.RandomState(6).randn(7, 12).astype(np.float32))
    b = tf.constant(np.random.RandomState(7).randn(12).astype(np.float32))
    f = tf.function(lambda x: ops.bias_act(x, b, act='lrelu', impl='custom'))
    assert rel_err(f(x), ops.bias_act(x, b, act='lrelu', impl='ref')) <= TOL


def test_impl_switch_and_errors():
    assert ops.get_default_impl() in ops.IMPLS
    with ops.default_impl('custom'):
        assert ops.get_default_impl() == 'custom'
        y = ops.upfirdn2d(tf.ones([1, 4, 4, 2]), ops.setup_filter([1, 1]), up=2, padding=(1, 0))
        assert 'Sg2Upfirdn2d' in str(tf.function(lambda: ops.upfirdn2d(
            tf.ones([1, 4, 4, 2]), ops.setup_filter([1, 1]), up=2, padding=(1, 0))).get_concrete_function().graph
            .as_graph_def())
        assert y.shape == (1, 8, 8, 2)
    with pytest.raises(ValueError, match='impl must be one of'):
        ops.set_default_impl('fast')
    with pytest.raises(ValueError, match='float32'):
        ops.bias_act(tf.ones([2, 3], tf.float64), None, impl='custom')


def test_ref_path_is_stock_ops_and_xla_compiles():
    """impl='ref' must stay stock-TF (SavedModel export) and XLA-compilable; 'auto' picks ref under XLA."""
    f = ops.setup_filter([1, 3, 3, 1])
    x = tf.constant(np.random.RandomState(8).randn(1, 8, 8, 4).astype(np.float32))

    def g(x):
        return ops.bias_act(ops.upsample_2d(x, f), tf.ones([4]), act='lrelu')
    with ops.default_impl('auto'):
        xla = tf.function(g, jit_compile=True)(x)
    graph = tf.function(lambda x: g(x)).get_concrete_function(x).graph.as_graph_def()
    with ops.default_impl('ref'):
        ref = g(x)
        ref_graph = tf.function(lambda x: g(x)).get_concrete_function(x).graph.as_graph_def()
    assert rel_err(xla, ref) <= TOL
    assert not any(n.op.startswith('Sg2') for n in ref_graph.node)
    del graph


def test_build_cache_reused(tmp_path, monkeypatch):
    """build() compiles into cache_dir() ($SG2TF_OPS_CACHE, here tmp_path) once; the second call is a cache hit
    (the compiler is never invoked); force=True compiles again. The compiler run is recorded, not executed."""
    monkeypatch.setenv('SG2TF_OPS_CACHE', str(tmp_path))
    runs = []

    def fake_compiler(cmd, verbose):
        runs.append(cmd)
        out = cmd[cmd.index('-o') + 1]
        with open(out, 'wb') as fh:
            fh.write(b'library')
    monkeypatch.setattr(ops_build, '_run', fake_compiler)
    out_dir = ops_build.cache_dir()
    assert out_dir.parent == tmp_path
    res = ops_build.build(cuda='no')
    assert len(runs) == 1 and runs[0][0] == ops_build.find_cxx()
    assert res['cpu'] == out_dir / ops_build.CPU_LIB and res['cpu'].read_bytes() == b'library'
    assert res['cuda'] == 'not requested'
    assert ops_build.build(cuda='no') == res and len(runs) == 1  # cache hit: no compiler run
    assert ops_build.build(cuda='no', force=True)['cpu'] == res['cpu'] and len(runs) == 2
    assert sorted(p.name for p in out_dir.iterdir()) == ['.lock', ops_build.CPU_LIB]  # no temporaries left


def _parity_cases():
    from test_parity import CASES
    return CASES


@pytest.mark.parametrize('fixture,key', _parity_cases(), ids=[f'{a}-{b}' for a, b in _parity_cases()])
def test_parity_with_custom_ops(loaded, fixture, key):
    """NVIDIA parity (tests/test_parity.py, same tolerance) with impl='custom' selected for every op."""
    import test_parity
    with ops.default_impl('custom'):
        test_parity.test_reference_array(loaded, fixture, key)


def test_auto_falls_back_with_one_warning_when_build_fails(tmp_path):
    """A failed build never breaks the package: 'auto' warns once (with the reason) and uses the pure-TF ops."""
    import os
    import subprocess
    import sys
    code = ('import warnings, numpy as np, sg2tf\n'
            'from sg2tf import ops\n'
            'with warnings.catch_warnings(record=True) as w:\n'
            '    warnings.simplefilter("always")\n'
            '    for _ in range(3):\n'
            '        y = ops.bias_act(np.ones([2, 3], np.float32), None, act="lrelu", impl="auto")\n'
            'msgs = [str(m.message) for m in w if "custom ops unavailable" in str(m.message)]\n'
            'assert len(msgs) == 1, msgs\n'
            'assert "no C++ compiler" in msgs[0], msgs[0]\n'
            'print("OK", float(y.numpy()[0, 0]))\n')
    env = {**os.environ, 'SG2TF_OPS_CACHE': str(tmp_path), 'CXX': '', 'PATH': str(tmp_path),
           'SG2TF_OPS_IMPL': 'auto'}
    res = subprocess.run([sys.executable, '-c', code], env=env, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0 and 'OK' in res.stdout, res.stderr[-2000:]
