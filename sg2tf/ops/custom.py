"""The compiled implementation: loading the custom-op library, op wrappers and their gradients.

Gradients are registered in terms of the ops themselves, so every order works:
- upfirdn2d: the gradient is upfirdn2d of dy with up/down swapped, the filter flip toggled and adjusted padding;
- bias_act: dx = Sg2BiasActGrad(dy, x, b, order=1); the gradient of Sg2BiasActGrad(order=k) is itself with the
  same order (w.r.t. dy) and with order k+1 (w.r.t. x and b; k+1 > 2 falls back to autodiff of the TF formula).
"""
from __future__ import annotations

import threading

import numpy as np
import tensorflow as tf

from sg2tf.ops import activations

_lock = threading.Lock()
_state: dict = {}  # 'module': loaded op module; 'error': why loading failed; 'cuda': bool or reason


def load(build: bool = True) -> object:
    """Load (building first if needed and `build`) the op library; raises RuntimeError with the reason."""
    with _lock:
        if 'module' in _state:
            return _state['module']
        if 'error' in _state:
            raise RuntimeError(_state['error'])
        try:
            _state['module'] = _load(build)
        except Exception as e:  # noqa: BLE001 - any failure means "custom ops unavailable", with the reason
            _state['error'] = f'sg2tf custom ops unavailable: {str(e).strip().splitlines()[0] if str(e) else e!r}'
            _state['error_detail'] = str(e)
            raise RuntimeError(_state['error']) from e
        return _state['module']


def _load(build: bool) -> object:
    from sg2tf.ops import build as builder
    out_dir = builder.cache_dir()
    cpu_lib = out_dir / builder.CPU_LIB
    want_cuda = bool(tf.config.list_physical_devices('GPU'))
    if build and (not cpu_lib.exists() or (want_cuda and not (out_dir / builder.CUDA_LIB).exists())):
        builder.build(cuda='auto' if want_cuda else 'no')
    if not cpu_lib.exists():
        raise RuntimeError(f'library not built ({cpu_lib} missing; run python -m sg2tf.ops.build)')
    module = tf.load_op_library(str(cpu_lib))
    _state['cuda'] = False
    cuda_lib = out_dir / builder.CUDA_LIB
    if want_cuda:
        if cuda_lib.exists():
            tf.load_op_library(str(cuda_lib))  # GPU kernel registrations only
            _state['cuda'] = True
        else:
            _state['cuda'] = 'CUDA kernels not built'
    return module


def available(build: bool = True) -> tuple[bool, str]:
    """(True, '') if the library loads (for every visible device type), else (False, reason)."""
    try:
        load(build)
    except RuntimeError as e:
        return False, str(e)
    if tf.config.list_logical_devices('GPU') and _state.get('cuda') is not True:
        return False, f'sg2tf custom ops have no GPU kernels here ({_state.get("cuda")})'
    return True, ''


def upfirdn2d(x: tf.Tensor, f: np.ndarray, up: int, down: int, pad: tuple[int, int, int, int],
              flip_filter: bool, gain: float) -> tf.Tensor:
    """Custom-op upfirdn2d; pad = (x0, x1, y0, y1). x must be float32 with static H and W."""
    return load().sg2_upfirdn2d(x, tf.constant(np.asarray(f, np.float32)), up=int(up), down=int(down),
                                padding=[int(p) for p in pad], flip_filter=bool(flip_filter), gain=float(gain))


def bias_act(x: tf.Tensor, b: tf.Tensor | None, act: str, alpha: float, gain: float, clamp: float | None):
    """Custom-op bias_act along the last axis of float32 `x`."""
    b = tf.zeros([0], tf.float32) if b is None else tf.cast(b, tf.float32)
    return load().sg2_bias_act(x, b, act=activations.get(act).code, alpha=float(alpha), gain=float(gain),
                               clamp=-1.0 if clamp is None or clamp < 0 else float(clamp))


@tf.RegisterGradient('Sg2Upfirdn2d')
def _upfirdn2d_grad(op, dy):
    up, down = op.get_attr('up'), op.get_attr('down')
    px0, px1, py0, py1 = op.get_attr('padding')
    x, f = op.inputs
    fh, fw = int(f.shape[0]), int(f.shape[1])
    h, w = x.shape[1], x.shape[2]
    oh, ow = dy.shape[1], dy.shape[2]
    if None in (h, w, oh, ow):
        raise ValueError('upfirdn2d custom-op gradient needs static spatial shapes')
    pad = [fw - px0 - 1, w * up - ow * down + px0 - up + 1,
           fh - py0 - 1, h * up - oh * down + py0 - up + 1]
    dx = load().sg2_upfirdn2d(dy, f, up=down, down=up, padding=pad, flip_filter=not op.get_attr('flip_filter'),
                              gain=op.get_attr('gain'))
    return dx, None


def _bias_grad(dx: tf.Tensor, b: tf.Tensor):
    if b.shape[0] == 0:
        return tf.zeros_like(b)
    return tf.reduce_sum(dx, axis=list(range(dx.shape.rank - 1)))


def _attrs(op) -> dict:
    return dict(act=op.get_attr('act'), alpha=op.get_attr('alpha'), gain=op.get_attr('gain'),
                clamp=op.get_attr('clamp'))


@tf.RegisterGradient('Sg2BiasAct')
def _bias_act_grad(op, dy):
    x, b = op.inputs
    dx = load().sg2_bias_act_grad(dy, x, b, order=1, **_attrs(op))
    return dx, _bias_grad(dx, b)


def _act_deriv_tf(z: tf.Tensor, act: str, alpha: float, order: int) -> tf.Tensor:
    """order-th derivative of the reference activation at z, by nested autodiff (used for order > 2 only)."""
    func = activations.get(act).func
    if order == 0:
        return func(z, alpha)
    with tf.GradientTape() as tape:
        tape.watch(z)
        y = _act_deriv_tf(z, act, alpha, order - 1)
    g = tape.gradient(y, z)
    return tf.zeros_like(z) if g is None else g


@tf.RegisterGradient('Sg2BiasActGrad')
def _bias_act_grad_grad(op, ddx):
    dy, x, b = op.inputs
    attrs, order = _attrs(op), op.get_attr('order')
    lib = load()
    d_dy = lib.sg2_bias_act_grad(ddx, x, b, order=order, **attrs)
    if order + 1 <= 2:
        d_x = lib.sg2_bias_act_grad(ddx * dy, x, b, order=order + 1, **attrs)
    else:
        act = activations.by_code(attrs['act'])
        z = x if b.shape[0] == 0 else x + b
        d_x = ddx * dy * attrs['gain'] * _act_deriv_tf(z, act, attrs['alpha'], order + 1)
        if attrs['clamp'] >= 0:
            y = _act_deriv_tf(z, act, attrs['alpha'], 0) * attrs['gain']
            d_x = tf.where(tf.abs(y) <= attrs['clamp'], d_x, tf.zeros_like(d_x))
    return d_dy, d_x, _bias_grad(d_x, b)
