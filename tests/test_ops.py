"""upfirdn2d / conv2d_resample / bias_act (pure-TF path) against direct NumPy references; first- and second-order
gradients; the activation codes shared with the C++ kernels."""
import importlib
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
    # one-sample crops (as after the phase up-convolutions): taken as zero filter taps, on every side
    (1, 1, (0, -1, -1, 0), np.arange(12).reshape(3, 4) + 1.0, False, 1.0),
    (1, 1, (-1, 0, 0, -1), np.arange(12).reshape(4, 3) + 1.0, True, 2.0),
    (1, 1, (-1, -1, 2, -1), [1, 2, 5, 3], False, 1.0),
    (1, 1, (-2, 0, 1, -1), np.arange(12).reshape(3, 4) + 1.0, True, 1.0),   # a two-sample crop: a copy
]


def _polyphase_max():
    mod = importlib.import_module('sg2tf.ops.upfirdn2d')  # the module (sg2tf.ops.upfirdn2d is also the function)
    return mod, mod.POLYPHASE_MAX_CHANNELS


@pytest.mark.parametrize('channels', [3, 'above'])
@pytest.mark.parametrize('up,down,pad,taps,flip,gain', CASES)
def test_upfirdn2d_matches_numpy(up, down, pad, taps, flip, gain, channels, monkeypatch):
    """Both upsampling branches: the transposed-conv (polyphase) one for channels <= POLYPHASE_MAX_CHANNELS and
    zero insertion + depthwise conv above it; the branch taken is recorded and checked."""
    mod, limit = _polyphase_max()
    channels = limit + 5 if channels == 'above' else channels
    taken = []
    real = mod._upsample_transposed
    monkeypatch.setattr(mod, '_upsample_transposed', lambda *a, **k: taken.append(1) or real(*a, **k))
    rnd = np.random.RandomState(0)
    x = rnd.randn(2, 7, 9, channels).astype(np.float32)
    f = ops.setup_filter(taps, normalize=not isinstance(taps, np.ndarray))
    y = ops.upfirdn2d(x, f, up=up, down=down, padding=pad, flip_filter=flip, gain=gain, impl='ref').numpy()
    ref = upfirdn2d_numpy(x, f, up, down, pad, flip, gain)
    assert bool(taken) == (up > 1 and down == 1 and channels <= limit)
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


FD_STEP, FD_TOL = 1e-5, 1e-7  # float64 central differences: truncation ~h^2 ~1e-10, round-off ~eps/h ~2e-11


def _second_order_case(act, dtype=np.float64):
    """Generator-like chain (modulated up-conv, down-conv, bias_act, downsample), the loss L(x) and the R1-style
    penalty P = ||dL/dx||^2, with dP/d(params) and the Hessian-vector product d<dL/dx, u>/dx by autodiff."""
    rnd = np.random.RandomState(2)
    x = tf.constant(rnd.randn(2, 8, 8, 3).astype(dtype))
    params = [tf.Variable(rnd.randn(*shape).astype(dtype)) for shape in ([3, 3, 3, 4], [3, 3, 4, 3], [3])]
    s = tf.constant((rnd.rand(2, 3) + 0.5).astype(dtype))
    u = tf.constant(rnd.randn(*x.shape).astype(dtype))
    f = ops.setup_filter([1, 3, 3, 1])

    def first_order(x):
        w, w2, b = params
        with tf.GradientTape() as inner:
            inner.watch(x)
            y = modulated_conv2d(x, w, s, up=2, resample_filter=f)
            y = ops.bias_act(ops.conv_downsample_2d(y, w2, f), b, act=act, impl='ref')
            y = ops.downsample_2d(y, f, impl='ref')
            loss = tf.reduce_sum(tf.square(y))
        return inner.gradient(loss, x)

    with tf.GradientTape(persistent=True) as outer:
        outer.watch(x)
        g = first_order(x)
        penalty = tf.reduce_sum(tf.square(g))
        g_dot_u = tf.reduce_sum(g * u)
    return x, u, params, first_order, outer.gradient(penalty, params), outer.gradient(g_dot_u, x)


@pytest.mark.parametrize('act', ['lrelu', 'swish'])
def test_second_order_gradients(act):
    """R1 and path-length regularization need gradients of gradients through every op: in float64, autodiff's
    second-order gradients equal central differences of the first-order gradient (step FD_STEP, rel err FD_TOL)."""
    x, u, params, first_order, dp, hvp = _second_order_case(act)
    assert all(d.dtype == tf.float64 for d in [*dp, hvp])
    h = FD_STEP
    fd_hvp = (first_order(x + h * u) - first_order(x - h * u)) / (2 * h)  # H u, elementwise
    assert np.linalg.norm(hvp.numpy()) > 0 and rel_err(hvp, fd_hvp) <= FD_TOL, rel_err(hvp, fd_hvp)
    rnd = np.random.RandomState(3)
    for var, grad in zip(params, dp):
        base = var.numpy()
        for _ in range(3):  # directional derivatives of P along random directions v: <dP/dvar, v>
            v = rnd.randn(*base.shape)
            pen = []
            for sign in (1, -1):
                var.assign(base + sign * h * v)
                pen.append(float(tf.reduce_sum(tf.square(first_order(x)))))
            var.assign(base)
            fd = (pen[0] - pen[1]) / (2 * h)
            auto = float(np.sum(grad.numpy() * v))
            assert abs(fd) > 0 and abs(auto - fd) <= FD_TOL * abs(fd), (var.shape, auto, fd)
    # The float32 graph (what training runs) gives the same second-order gradients, to float32 round-off.
    *_, dp32, hvp32 = _second_order_case(act, np.float32)
    for a, b in zip([*dp32, hvp32], [*dp, hvp]):
        assert a.dtype == tf.float32 and rel_err(a, b) <= 1e-5, rel_err(a, b)


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


@pytest.mark.parametrize('batch', [1, 3])
def test_modconv_paths_agree_for_small_and_large_batches(batch):
    """Static batches <= PER_SAMPLE_MODCONV_MAX_BATCH modulate the kernels per sample, larger ones scale the
    activations; both must equal the fused (grouped-conv) computation."""
    from sg2tf import layers
    assert (batch <= layers.PER_SAMPLE_MODCONV_MAX_BATCH) == (batch == 1)
    rnd = np.random.RandomState(4)
    x = rnd.randn(batch, 5, 5, 4).astype(np.float32)
    w = (rnd.randn(3, 3, 4, 6) / 6).astype(np.float32)
    s = (rnd.randn(batch, 4) + 1).astype(np.float32)
    f = ops.setup_filter([1, 3, 3, 1])
    for up in (1, 2):
        a = modulated_conv2d(x, w, s, up=up, resample_filter=f, fused=False).numpy()
        b = modulated_conv2d(x, w, s, up=up, resample_filter=f, fused=True).numpy()
        assert rel_err(a, b) <= 1e-5


@pytest.mark.parametrize('demodulate', [True, False])
@pytest.mark.parametrize('batch', [1, 3])
def test_modconv_gain_is_an_output_factor(batch, demodulate):
    """`gain=g` (the folded activation gain) equals multiplying the output by g, on each path."""
    rnd = np.random.RandomState(5)
    x = rnd.randn(batch, 6, 6, 4).astype(np.float32)
    w = (rnd.randn(3, 3, 4, 5) / 6).astype(np.float32)
    s = (rnd.randn(batch, 4) + 1).astype(np.float32)
    f = ops.setup_filter([1, 3, 3, 1])
    for fused in (False, True):
        for up in (1, 2):
            a = modulated_conv2d(x, w, s, demodulate=demodulate, up=up, resample_filter=f, fused=fused).numpy()
            b = modulated_conv2d(x, w, s, demodulate=demodulate, up=up, resample_filter=f, fused=fused,
                                 gain=np.sqrt(2)).numpy()
            assert rel_err(b, a * np.sqrt(2)) <= 1e-6


def test_bias_act_noise_and_gain_split():
    """`noise=` is added with the bias, before the activation; `split_gain` moves a homogeneous activation's
    gain in front of it (`lrelu(v) * g == lrelu(g v)`) and leaves the others' after it."""
    rnd = np.random.RandomState(6)
    x, n = rnd.randn(2, 5, 5, 3).astype(np.float32), rnd.randn(2, 5, 5, 1).astype(np.float32)
    b = rnd.randn(3).astype(np.float32)
    for act in ('lrelu', 'tanh'):
        assert rel_err(ops.bias_act(x, b, act=act, noise=n).numpy(), ops.bias_act(x + n, b, act=act).numpy()) <= 1e-7
    assert ops.split_gain('lrelu') == (np.sqrt(2), 1.0) and ops.split_gain('linear') == (1.0, 1.0)
    assert ops.split_gain('swish') == (1.0, np.sqrt(2)) and ops.split_gain('lrelu', gain=-1.0) == (1.0, -1.0)
    pre, post = ops.split_gain('lrelu')
    assert rel_err(ops.bias_act(x * pre, b * pre, act='lrelu', gain=post).numpy(),
                   ops.bias_act(x, b, act='lrelu').numpy()) <= 1e-6


def test_synthesis_layer_ends_in_the_fusable_chain():
    """A synthesis layer's conv is followed by BiasAdd -> AddV2 (noise) -> LeakyRelu and nothing after it (the
    gain folded into the kernel): the chain TensorFlow's remapper fuses into the convolution."""
    from sg2tf.layers import SynthesisLayer
    layer = SynthesisLayer(8, 8, fused_modconv=False, name='Conv')
    layer.build()
    fn = tf.function(lambda x, w, n: layer(x, w, noise=n))
    graph = fn.get_concrete_function(tf.TensorSpec([1, 8, 8, 8]), tf.TensorSpec([1, 512]),
                                     tf.TensorSpec([1, 8, 8, 1])).graph
    conv = next(op for op in graph.get_operations() if op.type == 'Conv2D')
    chain = []
    op = conv
    while op.outputs and op.outputs[0].consumers():
        op = op.outputs[0].consumers()[0]
        chain.append(op.type)
    assert chain[:3] == ['BiasAdd', 'AddV2', 'LeakyRelu'] and 'Mul' not in chain, chain


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


@pytest.mark.parametrize('taps', [[1, 1], [1, 2, 1], [1, 3, 3, 1], [1, 4, 6, 4, 1], [1, 5, 10, 10, 5, 1]])
def test_polyphase_up_conv_matches_numpy(taps, monkeypatch):
    """The four-phase up-convolution (the generator's per-sample path on the CPU) is NVIDIA's upsample_conv_2d
    for every FIR length, non-square images included."""
    monkeypatch.setattr(importlib.import_module('sg2tf.ops.conv2d_resample'), 'TRANSPOSED_UP_MAX_CHANNELS', 0)
    rnd = np.random.RandomState(3)
    x = rnd.randn(2, 9, 7, 5).astype(np.float32)
    w = rnd.randn(3, 3, 5, 4).astype(np.float32)
    f = ops.setup_filter(taps)
    y = ops.conv2d_resample(x, w, f, up=2, polyphase=True).numpy()
    ref = conv2d_resample_numpy(x, w, f, 2, 1)
    assert y.shape == ref.shape == (2, 18, 14, 4)
    assert rel_err(y, ref) <= 1e-5


def test_conv2d_resample_rejects_bad_arguments():
    x, f = tf.ones([1, 4, 4, 3]), ops.setup_filter([1, 3, 3, 1])
    with pytest.raises(ValueError, match='not both'):
        ops.conv2d_resample(x, tf.ones([3, 3, 3, 2]), f, up=2, down=2)
    with pytest.raises(ValueError, match='groups'):
        ops.conv2d_resample(x, tf.ones([3, 3, 2, 2]), f, groups=2)
    with pytest.raises(ValueError, match='FIR filter'):
        ops.conv2d_resample(x, tf.ones([3, 3, 3, 2]), None, up=2)


@pytest.mark.parametrize('shape, kernel, padding', [
    ((1, 8, 8, 256), (3, 3), 'SAME'),                 # config-f's 512-channel blocks at batch 1: matmuls
    ((1, 6, 10, 256), (3, 3), [[1, 2], [0, 1]]),      # uneven explicit padding, non-square: matmuls
    ((1, 96, 96, 256), (3, 3), 'SAME'),               # the 128x128 block's size range: matmuls
    ((1, 6, 10, 256), (2, 1), [[1, 2], [1, 1]]),      # a polyphase phase's kernel (< 3 taps a row): the conv kernel
    ((1, 4, 4, 256), (1, 1), 'SAME'),                 # 1x1: the conv kernel
    ((2, 8, 8, 256), (3, 3), 'SAME'),                 # batch 2: the conv kernel
    ((1, 8, 8, 64), (3, 3), 'SAME'),                  # few channels: the conv kernel
    ((1, 129, 128, 256), (3, 3), 'SAME'),             # more pixels than MATMUL_CONV_MAX_PIXELS: the conv kernel
])
def test_conv2d_stride1_as_matmuls_matches_conv(shape, kernel, padding, monkeypatch):
    """conv2d_stride1 (matmuls over shifted copies for one small many-channel image, else tf.nn.conv2d) computes
    tf.nn.conv2d's output; the matmul route (forced on, as with oneDNN, with the 'amx' CPUs' pixel limit) is taken
    exactly where the thresholds say."""
    resample = importlib.import_module('sg2tf.ops.conv2d_resample')
    monkeypatch.setattr(resample, 'BATCH1_ROUTES', True)
    monkeypatch.setattr(resample, 'MATMUL_CONV_MAX_PIXELS', resample.MATMUL_LIMITS['amx'][0])
    rng = np.random.RandomState(0)
    x = tf.constant(rng.randn(*shape).astype(np.float32))
    w = tf.constant(rng.randn(*kernel, shape[-1], 32).astype(np.float32))
    pads = padding if padding == 'SAME' else [[0, 0], *padding, [0, 0]]
    want = tf.nn.conv2d(x, w, 1, pads).numpy()
    fn = tf.function(lambda x, w: resample.conv2d_stride1(x, w, padding))
    got = fn(x, w).numpy()
    assert got.shape == want.shape
    assert np.linalg.norm(got - want) / np.linalg.norm(want) < 1e-5
    ops_used = {op.type for op in fn.get_concrete_function(x, w).graph.get_operations()}
    n, h, wd, c = shape
    as_matmul = n == 1 and h * wd <= resample.matmul_limits()[0] and c >= resample.MATMUL_CONV_MIN_CHANNELS \
        and min(kernel) >= 3
    assert ('Conv2D' not in ops_used and 'MatMul' in ops_used) if as_matmul else 'Conv2D' in ops_used, ops_used


@pytest.mark.parametrize('shape', [(1, 4, 4, 256), (1, 5, 7, 256), (1, 32, 32, 256), (1, 33, 32, 256),
                                   (2, 4, 4, 256), (1, 4, 4, 128), (1, 4, 4, 64)])
def test_up_conv_as_one_matmul_matches_numpy(shape, monkeypatch):
    """The batch-1 many-channel up-convolution of at most MATMUL_UP_MAX_PIXELS input pixels (all nine taps in one
    matmul, added into the four phases) is NVIDIA's upsample_conv_2d; larger inputs, batches and fewer channels
    take the four phase convs, at most TRANSPOSED_UP_MAX_CHANNELS the transposed conv (routes forced on, with the
    'amx' CPUs' pixel limit)."""
    resample = importlib.import_module('sg2tf.ops.conv2d_resample')
    monkeypatch.setattr(resample, 'BATCH1_ROUTES', True)
    monkeypatch.setattr(resample, 'MATMUL_UP_MAX_PIXELS', resample.MATMUL_LIMITS['amx'][1])
    rnd = np.random.RandomState(4)
    x = rnd.randn(*shape).astype(np.float32)
    w = rnd.randn(3, 3, shape[-1], 16).astype(np.float32)
    f = ops.setup_filter([1, 3, 3, 1])
    fn = tf.function(lambda x, w: resample.conv2d_resample(x, w, f, up=2, polyphase=True))
    y = fn(x, w).numpy()
    ref = conv2d_resample_numpy(x, w, f, 2, 1)
    assert y.shape == ref.shape == (shape[0], 2 * shape[1], 2 * shape[2], 16)
    assert rel_err(y, ref) <= 1e-5
    n, h, wd, c = shape
    one_matmul = n == 1 and h * wd <= resample.matmul_limits()[1] and c >= resample.MATMUL_CONV_MIN_CHANNELS
    transposed = c <= resample.transposed_up_max_channels()
    ops_used = [op.type for op in fn.get_concrete_function(x, w).graph.get_operations()]
    route = (ops_used.count('MatMul'), 'Conv2D' in ops_used, 'Conv2DBackpropInput' in ops_used)
    assert route == ((1, False, False) if one_matmul else (0, False, True) if transposed else (0, True, False)), \
        ops_used


@pytest.mark.parametrize('amx', [True, False])
def test_matmul_limits_follow_the_cpu_unless_set(amx, monkeypatch):
    """The matmul routes' pixel limits are MATMUL_LIMITS' entry for the CPU (AMX or not), the transposed route's
    channel limit TRANSPOSED_UP_LIMITS' one, each overridden where its module constant is set; the 8 px conv takes the matmuls and the 32 px one (the 'amx' limits only) as they say."""
    resample = importlib.import_module('sg2tf.ops.conv2d_resample')
    monkeypatch.setattr(resample, '_cpu_has_amx', lambda: amx)
    monkeypatch.setattr(resample, 'BATCH1_ROUTES', True)
    expected = resample.MATMUL_LIMITS['amx' if amx else 'other']
    assert resample.matmul_limits() == expected
    assert resample.transposed_up_max_channels() == resample.TRANSPOSED_UP_LIMITS['amx' if amx else 'other']
    w = tf.constant(np.random.RandomState(6).randn(3, 3, 256, 8).astype(np.float32))
    for res in (8, 32):
        x = tf.constant(np.random.RandomState(res).randn(1, res, res, 256).astype(np.float32))
        fn = tf.function(lambda x, w: resample.conv2d_stride1(x, w, 'SAME'))
        used = {op.type for op in fn.get_concrete_function(x, w).graph.get_operations()}
        assert ('MatMul' in used) == (res * res <= expected[0]), (res, used)
    monkeypatch.setattr(resample, 'MATMUL_UP_MAX_PIXELS', 7)
    assert resample.matmul_limits() == (expected[0], 7)
    monkeypatch.setattr(resample, 'TRANSPOSED_UP_MAX_CHANNELS', 5)
    assert resample.transposed_up_max_channels() == 5
    assert resample.MATMUL_LIMITS['amx'][0] >= 32 * 32 > resample.MATMUL_LIMITS['other'][0] >= 8 * 8


def test_batch1_routes_off_take_the_conv_kernels(monkeypatch):
    """With the batch-1 routes off (the default where TensorFlow's oneDNN kernels are off) the shapes that would
    take matmuls or the transposed conv (with the 'amx' CPUs' limits) take tf.nn.conv2d and the four phase convs,
    with the same outputs."""
    resample = importlib.import_module('sg2tf.ops.conv2d_resample')
    monkeypatch.setattr(resample, 'MATMUL_CONV_MAX_PIXELS', resample.MATMUL_LIMITS['amx'][0])
    monkeypatch.setattr(resample, 'MATMUL_UP_MAX_PIXELS', resample.MATMUL_LIMITS['amx'][1])
    monkeypatch.setattr(resample, 'TRANSPOSED_UP_MAX_CHANNELS', resample.TRANSPOSED_UP_LIMITS['amx'])
    rnd = np.random.RandomState(5)
    f = ops.setup_filter([1, 3, 3, 1])
    cases = [(lambda x, w: resample.conv2d_stride1(x, w, 'SAME'), (1, 8, 8, 256), None),
             (lambda x, w: resample.conv2d_resample(x, w, f, up=2, polyphase=True), (1, 4, 4, 256), f),
             (lambda x, w: resample.conv2d_resample(x, w, f, up=2, polyphase=True), (1, 6, 5, 8), f)]
    for op, shape, fir in cases:
        x, w = rnd.randn(*shape).astype(np.float32), rnd.randn(3, 3, shape[-1], 8).astype(np.float32)
        outs, used = [], []
        for on in (True, False):
            monkeypatch.setattr(resample, 'BATCH1_ROUTES', on)
            fn = tf.function(op)
            outs.append(fn(x, w).numpy())
            used.append([o.type for o in fn.get_concrete_function(x, w).graph.get_operations()])
        assert 'MatMul' in used[0] or 'Conv2DBackpropInput' in used[0], used[0]
        assert 'MatMul' not in used[1] and 'Conv2DBackpropInput' not in used[1] and 'Conv2D' in used[1], used[1]
        assert rel_err(outs[1], outs[0]) <= 1e-5
    monkeypatch.setattr(resample, 'BATCH1_ROUTES', None)
    assert resample.batch1_routes() == resample._onednn_enabled()


# Batch-1 routes of the convolutions (sg2tf/ops/conv2d_resample.py), each forced onto every conv it can take:
# the fixtures' few channels would otherwise send their up-convolutions to the transposed conv and none to the
# matmuls. (module attribute, value) pairs.
_ROUTES = {
    'matmuls': (('MATMUL_CONV_MIN_CHANNELS', 1), ('MATMUL_CONV_MAX_PIXELS', 64 * 64), ('MATMUL_UP_MAX_PIXELS', 64 * 64),
                ('TRANSPOSED_UP_MAX_CHANNELS', 0), ('BATCH1_ROUTES', True)),
    'phases': (('BATCH1_ROUTES', False),),
    'transposed': (('TRANSPOSED_UP_MAX_CHANNELS', 1 << 20), ('BATCH1_ROUTES', True)),
}
# How the graph shows each route against another: (route compared with, op type, more or fewer of it).
_ROUTE_SIGN = {'matmuls': ('phases', 'MatMul', 1), 'phases': ('transposed', 'Conv2DBackpropInput', -1),
               'transposed': ('phases', 'Conv2DBackpropInput', 1)}


@pytest.mark.parametrize('route', sorted(_ROUTES))
@pytest.mark.parametrize('name', ['f32', 'origskip32', 'ada64', 'adapt32cond'])
def test_batch1_conv_routes_match_reference_images(name, route, monkeypatch):
    """Batch-1 images (the per-sample kernel path) with each conv route forced: the matmuls (3x3 convs, one-matmul
    up-convolutions), the four-phase and the transposed up-convolutions; each reference image within 1e-4 of
    NVIDIA's, and the graph shows the route (its count of MatMul or Conv2DBackpropInput against another route's)."""
    import os
    import legacy
    from conftest import DATA
    resample = importlib.import_module('sg2tf.ops.conv2d_resample')
    Gs = legacy.load_network_pkl(os.path.join(DATA, f'{name}.pkl'), networks=('Gs',))['Gs']
    ref = dict(np.load(os.path.join(DATA, f'{name}.npz')))
    labels = ref['labels'] if ref['labels'].shape[1] else None
    other, marker, sign = _ROUTE_SIGN[route]

    def traced(z, c, which):
        for attr, value in _ROUTES[which]:
            monkeypatch.setattr(resample, attr, value)
        fn = tf.function(lambda z, c: Gs(z, c, truncation_psi=1.0), autograph=False)
        graph = fn.get_concrete_function(z, c).graph
        monkeypatch.undo()
        return fn, sum(op.type == marker for op in graph.get_operations())
    z0 = tf.constant(ref['latents'][:1])
    c0 = None if labels is None else tf.constant(labels[:1])
    _, count_other = traced(z0, c0, other)
    fn, count = traced(z0, c0, route)
    assert sign * (count - count_other) > 0, (count, count_other)
    images = np.concatenate([fn(tf.constant(ref['latents'][i:i + 1]),
                                None if labels is None else tf.constant(labels[i:i + 1])).numpy()
                             for i in range(len(ref['latents']))])
    assert rel_err(np.transpose(images, [0, 3, 1, 2]), ref['images_psi1']) <= 1e-4
