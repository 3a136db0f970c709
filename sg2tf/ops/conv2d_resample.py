"""2-D convolution with optional 2x FIR up/down-sampling: the one place that derives the resampling padding.

Mirrors NVIDIA dnnlib/tflib/ops/upfirdn_2d.py: upsample_conv_2d and conv_downsample_2d (the convolutions of
training/networks_stylegan2.py: conv2d_layer and modulated_conv2d_layer); the idea of a single entry point is
that of stylegan2-ada-pytorch torch_utils/ops/conv2d_resample.py. Channels-last, kernels HWIO.
"""
from __future__ import annotations

import numpy as np
import tensorflow as tf

from sg2tf.ops.upfirdn2d import upfirdn2d

# A float32 stride-1 conv of one image of at most MATMUL_CONV_MAX_PIXELS pixels with at least
# MATMUL_CONV_MIN_CHANNELS input channels (config-f's 512-channel blocks up to 64 px at batch 1) runs as matmuls over
# shifted copies of the input (im2col, one kernel row at a time): on the Intel Xeon TensorFlow's conv kernels are
# slowest there (benchmarks/conv_as_matmul.py, record conv_as_matmul_xeon_amx.txt).
MATMUL_CONV_MAX_PIXELS = 64 * 64
MATMUL_CONV_MIN_CHANNELS = 256


def conv2d_stride1(x: tf.Tensor, w: tf.Tensor, padding) -> tf.Tensor:
    """`tf.nn.conv2d(x, w, 1, padding)`, padding 'SAME' or [[top, bottom], [left, right]]. For one small float32
    image with many channels (static shapes; see MATMUL_CONV_MAX_PIXELS) the same sums as one matmul per kernel
    row over the row's shifted copies of the input: a third of a whole im2col buffer for 3x3 kernels."""
    n, h, wd, cin = x.shape
    kh, kw = int(w.shape[0]), int(w.shape[1])
    pads = [[(kh - 1) // 2, kh // 2], [(kw - 1) // 2, kw // 2]] if padding == 'SAME' else padding
    small = n == 1 and h is not None and wd is not None and h * wd <= MATMUL_CONV_MAX_PIXELS
    if not (small and x.dtype == tf.float32 and cin is not None and cin >= MATMUL_CONV_MIN_CHANNELS
            and kh * kw > 1):
        return tf.nn.conv2d(x, w, 1, padding if padding == 'SAME' else [[0, 0], *pads, [0, 0]])
    oh, ow = h + sum(pads[0]) - kh + 1, wd + sum(pads[1]) - kw + 1
    xp = tf.pad(x, [[0, 0], *pads, [0, 0]])
    y = None
    for dy in range(kh):
        cols = tf.concat([xp[:, dy:dy + oh, dx:dx + ow, :] for dx in range(kw)], axis=-1)   # [1, oh, ow, kw * cin]
        part = tf.matmul(tf.reshape(cols, [oh * ow, kw * cin]), tf.reshape(w[dy], [kw * cin, -1]))
        y = part if y is None else y + part
    return tf.reshape(y, [1, oh, ow, -1])


def conv2d_resample(x: tf.Tensor, w: tf.Tensor, f: np.ndarray | None = None, up: int = 1, down: int = 1,
                    groups: int | None = 1, impl: str = 'auto', polyphase: bool = False) -> tf.Tensor:
    """Convolve `x` [N, H, W, groups * Cin] with `w` [k, k, Cin, Cout]; output [N, H*up/down, W*up/down, Cout].

    - up = down = 1: stride-1 'SAME' convolution.
    - up > 1: NVIDIA `upsample_conv_2d`: a stride-`up` transposed convolution with the spatially flipped kernel
      (size (H-1)*up + k), then the FIR filter `f * up**2`.
    - down > 1: NVIDIA `conv_downsample_2d`: the FIR filter `f` first, then a stride-`down` VALID convolution.

    `groups` != 1 is a grouped convolution, e.g. the fused modulated conv with the batch folded into channels
    (groups = N). tf.nn.conv2d infers the grouping from the channel counts, so None (grouped, count not given)
    works too; an int is checked against the static channel counts. TF has no grouped transposed convolution,
    so grouped up-sampling runs the same math as zero insertion and a full correlation with the unflipped kernel.
    `polyphase` (3x3 kernels, up=2): the transposed conv as four stride-1 convs (`_polyphase_up2`), the
    generator's per-sample path on the CPU: TensorFlow's oneDNN transposed conv keeps tens of MiB per input
    shape for the life of the process, the stride-1 convs next to nothing (benchmarks/op_memory.py).
    Not for training: their gradients are slower than the transposed conv's (benchmarks/train.py).
    """
    up, down = int(up), int(down)
    if up < 1 or down < 1 or (up > 1 and down > 1):
        raise ValueError(f'conv2d_resample: need up >= 1, down >= 1 and not both > 1; got up={up}, down={down}')
    cin, channels = w.shape[2], x.shape[-1]
    if isinstance(groups, int) and cin is not None and channels is not None and channels != groups * cin:
        raise ValueError(f'conv2d_resample: x has {channels} channels, expected groups * Cin = {groups} * {cin}')
    if up == down == 1:
        return conv2d_stride1(x, w, 'SAME') if groups == 1 else tf.nn.conv2d(x, w, 1, 'SAME')
    kh, kw = int(w.shape[0]), int(w.shape[1])
    if kh != kw:
        raise ValueError(f'conv2d_resample: resampling needs a square kernel, got {kh}x{kw}')
    if f is None:
        raise ValueError('conv2d_resample: resampling needs the FIR filter f (see setup_filter)')
    f = np.asarray(f, np.float32)
    taps = f.shape[0]

    if down > 1:
        p = (taps - down) + (kw - 1)
        x = upfirdn2d(x, f, padding=((p + 1) // 2, p // 2), impl=impl)
        return tf.nn.conv2d(x, w, strides=down, padding='VALID')

    if polyphase and groups == 1 and up == 2 and kw == 3:
        # The four phases start one sample before the transposed conv's output and end two after it.
        x = _polyphase_up2(x, w)
        p = (taps - up) - (kw - 1)
        return upfirdn2d(x, f, padding=((p + 1) // 2 + up - 2, p // 2 - 1), gain=up ** 2, impl=impl)
    if groups == 1:
        x = _transposed_conv(x, w, up)
    else:
        # Zero insertion, then pad k-1 before and k-up after: a VALID correlation then has the transposed
        # conv's (H-1)*up + k outputs.
        x = upfirdn2d(x, np.ones([1, 1], np.float32), up=up, padding=(kw - 1, kw - up), impl=impl)
        x = tf.nn.conv2d(x, w, 1, 'VALID')
    p = (taps - up) - (kw - 1)
    return upfirdn2d(x, f, padding=((p + 1) // 2 + up - 1, p // 2 + 1), gain=up ** 2, impl=impl)


def _transposed_conv(x: tf.Tensor, w: tf.Tensor, stride: int) -> tf.Tensor:
    """NVIDIA's `conv2d_transpose` step of upsample_conv_2d: VALID, stride `stride`, kernel flipped in kh, kw."""
    k = int(w.shape[0])
    n = tf.shape(x)[0]
    h, wd = x.shape[1], x.shape[2]
    if h is None or wd is None:
        h, wd = tf.shape(x)[1], tf.shape(x)[2]
    out_shape = tf.stack([n, (h - 1) * stride + k, (wd - 1) * stride + k, tf.shape(w)[3]])
    # Flipped in kh, kw with ReverseV2, not a negative-stride slice: on a 3x3x512x512 kernel that StridedSlice
    # took 19 ms against 2.7 ms (AMD EPYC, TF 2.21), once per up-conv and call.
    wt = tf.transpose(tf.reverse(w, [0, 1]), [0, 1, 3, 2])  # HWIO -> [k, k, Cout, Cin] (conv2d_transpose's layout)
    return tf.nn.conv2d_transpose(x, wt, out_shape, strides=stride, padding='VALID')


# Phase p of the stride-2 transposed conv of a 3x3 kernel, on x padded by one sample before: its taps as
# (offset, kernel index) along one axis. Output sample 2m + p is the transposed conv's sample 2m + p - 1.
_PHASE_TAPS = {0: ((0, 1),), 1: ((0, 0), (1, 2))}


def _polyphase_up2(x: tf.Tensor, w: tf.Tensor) -> tf.Tensor:
    """NVIDIA's stride-2 transposed conv of `x` [N, H, W, Cin] with the flipped 3x3 kernel `w`, as its four phases:
    phase (py, px) is a stride-1 conv with 1 or 2 taps per axis (9 taps in all, no zero multiplies), padded so
    each has H + 2 x W + 2 outputs; interleaved -> [N, 2H + 4, 2W + 4, Cout] = transposed samples -1 .. 2H + 2
    (those beyond its 2H + 1 are zero)."""
    n, h, wd, cout = tf.shape(x)[0], tf.shape(x)[1], tf.shape(x)[2], w.shape[3]
    rows = []
    for py in range(2):
        phases = []
        for px in range(2):
            k = tf.stack([tf.stack([w[iy, ix] for _, ix in _PHASE_TAPS[px]]) for _, iy in _PHASE_TAPS[py]])
            pad_y, pad_x = [[1, len(_PHASE_TAPS[p])] for p in (py, px)]  # output H + 2: 1 tap (1, 1), 2 taps (1, 2)
            phases.append(conv2d_stride1(x, k, [pad_y, pad_x]))
        rows.append(tf.reshape(tf.stack(phases, axis=3), [n, h + 2, 2 * (wd + 2), cout]))
    return tf.reshape(tf.stack(rows, axis=2), [n, 2 * (h + 2), 2 * (wd + 2), cout])


def upsample_conv_2d(x: tf.Tensor, w: tf.Tensor, f: np.ndarray, factor: int = 2, gain: float = 1.0,
                     impl: str = 'auto') -> tf.Tensor:
    """NVIDIA `upsample_conv_2d` (same arguments, factor >= 2): `conv2d_resample(x, w, f * gain, up=factor)`."""
    _check_factor(factor)
    return conv2d_resample(x, w, _scaled(f, gain), up=factor, impl=impl)


def conv_downsample_2d(x: tf.Tensor, w: tf.Tensor, f: np.ndarray, factor: int = 2, gain: float = 1.0,
                       impl: str = 'auto') -> tf.Tensor:
    """NVIDIA `conv_downsample_2d` (same arguments, factor >= 2): `conv2d_resample(x, w, f * gain, down=factor)`."""
    _check_factor(factor)
    return conv2d_resample(x, w, _scaled(f, gain), down=factor, impl=impl)


def _scaled(f: np.ndarray, gain: float) -> np.ndarray:
    f = np.asarray(f, np.float32)
    return f if gain == 1 else (f * np.float32(gain)).astype(np.float32)


def _check_factor(factor: int) -> None:
    if int(factor) < 2:
        raise ValueError(f'resampling factor must be >= 2, got {factor}')
