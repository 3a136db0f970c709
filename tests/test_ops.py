"""upfirdn2d / conv2d_resample / bias_act (pure-TF path) against direct NumPy references; first- and second-order
gradients; the activation codes shared with the C++ kernels."""
import importlib.util
import re
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from sg2tf import ops
from sg2tf.layers import modulated_conv2d
from conftest import rel_err

OPS_DIR = Path(ops.__file__).parent


def upfirdn2d_numpy(x, f, up, down, pad, flip=False, gain=1.0):
    """Literal definition, NHWC: zero-insert, pad/crop, true convolution with f, keep every down-th sample."""
    n, h, w, c = x.shape
    px0, px1, py0, py1 = pad
    u = np.zeros([n, h * up, w * up, c], np.float64)
    u[:, ::up, ::up] = x
    u = np.pad(u, [[0, 0], [max(py0, 0), max(py1, 0)], [max(px0, 0), max(px1, 0)], [0, 0]])
    u = u[:, max(-py0, 0):u.shape[1] - max(-py1, 0), max(-px0, 0):u.shape[2] - max(-px1, 0)]
    k = (f if flip else f[::-1, ::-1]) * gain
    fh, fw = k.shape
    oh, ow = u.shape[1] - fh + 1, u.shape[2] - fw + 1
    out = np.zeros([n, oh, ow, c])
    for i in range(fh):
        for j in range(fw):
            out += u[:, i:i + oh, j:j + ow] * k[i, j]
    return out[:, ::down, ::down]


CASES = [  # (up, down, pad (x0, x1, y0, y1), filter taps, flip, gain)
    (1, 1, (0, 0, 0, 0), [1, 3, 3, 1], False, 1.0),
    (2, 1, (2, 1, 2, 1), [1, 3, 3, 1], False, 4.0),
    (1, 2, (1, 1, 1, 1), [1, 3, 3, 1], False, 1.0),
    (2, 2, (1, 2, 0, 3), [1, 2, 3], True, 2.0),
    (3, 1, (-1, 2, 1, -2), [1, 2, 5, 2, 1], False, 1.0),
    (1, 3, (1, 1, 2, 2), np.arange(12).reshape(3, 4) + 1.0, False, 0.5),
    (2, 1, (1, 1, 1, 1), None, True, 1.0),
]


@pytest.mark.parametrize('up,down,pad,taps,flip,gain', CASES)
def test_upfirdn2d_matches_numpy(up, down, pad, taps, flip, gain):
    rnd = np.random.RandomState(0)
    x = rnd.randn(2, 7, 9, 3).astype(np.float32)
    f = ops.setup_filter(taps, normalize=not isinstance(taps, np.ndarray))
    y = ops.upfirdn2d(x, f, up=up, down=down, padding=pad, flip_filter=flip, gain=gain).numpy()
    ref = upfirdn2d_numpy(x, f, up, down, pad, flip, gain)
    assert y.shape == ref.shape
    assert rel_err(y, ref) <= 1e-6


@pytest.mark.parametrize('act', sorted(ops.ACTIVATIONS))
def test_bias_act(act):
    rnd = np.random.RandomState(1)
    x = rnd.randn(2, 5, 5, 4).astype(np.float32)
    b = rnd.randn(4).astype(np.float32)
    y = ops.bias_act(x, b, act=act, clamp=1.5).numpy()
    v = x + b
    spec = ops.ACTIVATIONS[act]
    ref = {'linear': v, 'relu': np.maximum(v, 0), 'lrelu': np.where(v > 0, v, 0.2 * v), 'tanh': np.tanh(v),
           'sigmoid': 1 / (1 + np.exp(-v)), 'elu': np.where(v > 0, v, np.exp(v) - 1),
           'selu': 1.0507009873554805 * np.where(v > 0, v, 1.6732632423543772 * (np.exp(v) - 1)),
           'softplus': np.log1p(np.exp(v)), 'swish': v / (1 + np.exp(-v))}[act]
    ref = np.clip(ref * spec.default_gain, -1.5, 1.5)
    assert rel_err(y, ref) <= 1e-6


def test_second_order_gradients():
    """R1 and path-length regularization need gradients of gradients through every op."""
    rnd = np.random.RandomState(2)
    x = tf.constant(rnd.randn(2, 8, 8, 3).astype(np.float32))
    w = tf.Variable(rnd.randn(3, 3, 3, 4).astype(np.float32))
    w2 = tf.Variable(rnd.randn(3, 3, 4, 3).astype(np.float32))
    s = tf.constant(rnd.rand(2, 3).astype(np.float32) + 0.5)
    f = ops.setup_filter([1, 3, 3, 1])
    with tf.GradientTape() as outer:
        with tf.GradientTape() as inner:
            inner.watch(x)
            y = modulated_conv2d(x, w, s, up=2, resample_filter=f)
            y = ops.bias_act(ops.conv_downsample_2d(y, w2, f), act='lrelu')
            y = ops.downsample_2d(y, f)
            loss = tf.reduce_sum(tf.square(y))
        g = inner.gradient(loss, x)
        penalty = tf.reduce_sum(tf.square(g))
    for gw in outer.gradient(penalty, [w, w2]):
        assert gw is not None and np.all(np.isfinite(gw.numpy())) and np.linalg.norm(gw.numpy()) > 0


@pytest.mark.parametrize('up', [1, 2])
@pytest.mark.parametrize('demodulate', [True, False])
def test_fused_modconv_equals_nonfused(up, demodulate):
    """NVIDIA's grouped-conv path and the per-channel scaling path are the same math (forward; CPU TF has
    no grouped-conv gradient, which is why the non-fused path is used for training on CPU)."""
    rnd = np.random.RandomState(3)
    x = rnd.randn(3, 6, 6, 5).astype(np.float32)
    k = 3 if demodulate else 1
    w = rnd.randn(k, k, 5, 7).astype(np.float32) / np.sqrt(k * k * 5)
    s = rnd.randn(3, 5).astype(np.float32) + 1
    f = ops.setup_filter([1, 3, 3, 1])
    a = modulated_conv2d(x, w, s, demodulate=demodulate, up=up, resample_filter=f, fused=False).numpy()
    b = modulated_conv2d(x, w, s, demodulate=demodulate, up=up, resample_filter=f, fused=True).numpy()
    assert a.shape == b.shape == (3, 6 * up, 6 * up, 7)
    assert rel_err(b, a) <= 1e-5


@pytest.mark.parametrize('batch', [2, 10])
def test_modconv_paths_agree_for_small_and_large_batches(batch):
    """Static batches <= PER_SAMPLE_MODCONV_MAX_BATCH modulate the kernels per sample, larger ones scale the
    activations; both must equal the fused (grouped-conv) computation."""
    from sg2tf import layers
    assert (batch <= layers.PER_SAMPLE_MODCONV_MAX_BATCH) == (batch == 2)
    rnd = np.random.RandomState(4)
    x = rnd.randn(batch, 5, 5, 4).astype(np.float32)
    w = (rnd.randn(3, 3, 4, 6) / 6).astype(np.float32)
    s = (rnd.randn(batch, 4) + 1).astype(np.float32)
    f = ops.setup_filter([1, 3, 3, 1])
    for up in (1, 2):
        a = modulated_conv2d(x, w, s, up=up, resample_filter=f, fused=False).numpy()
        b = modulated_conv2d(x, w, s, up=up, resample_filter=f, fused=True).numpy()
        assert rel_err(a, b) <= 1e-5


def _cpp_act_enum() -> dict:
    """{enumerator: value} of `enum Act` in sg2tf/ops/cc/sg2_common.h (implicit values count up by one)."""
    src = (OPS_DIR / 'cc' / 'sg2_common.h').read_text()
    body = re.search(r'enum\s+Act\s*:\s*int\s*\{([^}]*)\}', src).group(1)
    codes, value = {}, 0
    for item in body.split(','):
        name, _, explicit = item.partition('=')
        value = int(explicit) if explicit.strip() else value
        codes[name.strip()] = value
        value += 1
    return codes


def test_activation_codes_match_cpp_enum_and_harness():
    """ACTIVATIONS[name].code is the `act` attribute the C++ kernels switch on; the enum, its range check and
    the CUDA harness's table must all agree with it."""
    table = {'k' + name.capitalize(): act.code for name, act in ops.ACTIVATIONS.items()}
    enum = _cpp_act_enum()
    assert enum == table
    util = (OPS_DIR / 'cc' / 'sg2_tf_util.h').read_text()
    lo, hi = re.search(r'p\.act < (\w+) \|\| p\.act > (\w+)', util).groups()
    assert (enum[lo], enum[hi]) == (min(enum.values()), max(enum.values()))
    spec = importlib.util.spec_from_file_location('harness_run', OPS_DIR / 'cuda_harness' / 'run.py')
    harness = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(harness)
    assert harness.ACTS == {name: act.code for name, act in ops.ACTIVATIONS.items()}


def _conv_numpy(x, w, stride=1):
    """VALID correlation of NHWC x with HWIO w, float64."""
    k = w.shape[0]
    oh, ow = (x.shape[1] - k) // stride + 1, (x.shape[2] - k) // stride + 1
    out = np.zeros([x.shape[0], oh, ow, w.shape[3]])
    for i in range(k):
        for j in range(k):
            out += x[:, i:i + stride * oh:stride, j:j + stride * ow:stride] @ w[i, j]
    return out


def conv2d_resample_numpy(x, w, f, up, down):
    """NVIDIA's layer convolutions by definition: SAME conv; zero-insert + full correlation with w + FIR x up^2
    (upsample_conv_2d); FIR + stride-2 VALID conv (conv_downsample_2d)."""
    k, taps = w.shape[0], f.shape[0]
    if up > 1:
        p = (taps - up) - (k - 1)
        v = upfirdn2d_numpy(x, np.ones([1, 1]), up, 1, (k - 1, k - up) * 2)
        return upfirdn2d_numpy(_conv_numpy(v, w), f, 1, 1, ((p + 1) // 2 + up - 1, p // 2 + 1) * 2, gain=up * up)
    if down > 1:
        p = (taps - down) + (k - 1)
        return _conv_numpy(upfirdn2d_numpy(x, f, 1, 1, ((p + 1) // 2, p // 2) * 2), w, down)
    return _conv_numpy(np.pad(x, [[0, 0], [k // 2, k // 2], [k // 2, k // 2], [0, 0]]), w)


@pytest.mark.parametrize('k', [1, 3])
@pytest.mark.parametrize('up,down', [(1, 1), (2, 1), (1, 2)])
@pytest.mark.parametrize('groups', [1, 2])
def test_conv2d_resample_matches_numpy(k, up, down, groups):
    rnd = np.random.RandomState(9)
    x = rnd.randn(2, 8, 8, 3 * groups).astype(np.float32)
    w = rnd.randn(k, k, 3, 4 * groups).astype(np.float32)
    f = ops.setup_filter([1, 3, 3, 1])
    y = ops.conv2d_resample(x, w, f, up=up, down=down, groups=groups).numpy()
    ref = np.concatenate([conv2d_resample_numpy(x[..., 3 * g:3 * g + 3], w[..., 4 * g:4 * g + 4], f, up, down)
                          for g in range(groups)], axis=-1)
    assert y.shape == ref.shape == (2, 8 * up // down, 8 * up // down, 4 * groups)
    assert rel_err(y, ref) <= 1e-5


def test_conv2d_resample_rejects_bad_arguments():
    x, f = tf.ones([1, 4, 4, 3]), ops.setup_filter([1, 3, 3, 1])
    with pytest.raises(ValueError, match='not both'):
        ops.conv2d_resample(x, tf.ones([3, 3, 3, 2]), f, up=2, down=2)
    with pytest.raises(ValueError, match='groups'):
        ops.conv2d_resample(x, tf.ones([3, 3, 2, 2]), f, groups=2)
    with pytest.raises(ValueError, match='FIR filter'):
        ops.conv2d_resample(x, tf.ones([3, 3, 3, 2]), None, up=2)
