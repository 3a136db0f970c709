"""2-D convolution with optional 2x FIR up/down-sampling: the one place that derives the resampling padding.

Mirrors NVIDIA dnnlib/tflib/ops/upfirdn_2d.py: upsample_conv_2d and conv_downsample_2d (the convolutions of
training/networks_stylegan2.py: conv2d_layer and modulated_conv2d_layer); the idea of a single entry point is
that of stylegan2-ada-pytorch torch_utils/ops/conv2d_resample.py. Channels-last, kernels HWIO.
"""
from __future__ import annotations

import functools

import numpy as np
import tensorflow as tf

from sg2tf.ops.upfirdn2d import upfirdn2d

# One float32 image (batch 1, static shape) with at least MATMUL_CONV_MIN_CHANNELS input channels: config-f's
# 256- and 512-channel blocks. Where TensorFlow runs its oneDNN CPU kernels (see `batch1_routes`), their convs are
# slowest there on some CPUs (benchmarks/conv_as_matmul.py), so
# - a 3x3 stride-1 conv of at most MATMUL_CONV_MAX_PIXELS pixels runs as one matmul per kernel row
#   (`conv2d_stride1`), while the 1- and 2-tap kernels of the up-convolution's phases stay convs (faster there);
# - the 2x up-convolution of an input of at most MATMUL_UP_MAX_PIXELS pixels runs as one matmul with all nine
#   taps side by side, whose products are added into the four phases (`_up2_as_matmul`).
MATMUL_CONV_MIN_CHANNELS = 256
# The two pixel limits (3x3 conv, up-convolution input) per CPU, as measured (records conv_as_matmul_*.txt):
# - 'amx', an Intel Xeon with AMX (family 6 model 167): oneDNN's float32 convs of these shapes reach 200-300
#   GFLOP/s, the matmuls 330-390 (up to 128x128 px), the one-matmul up-convolution 227-245 against 151-218;
# - 'other' (an AMD EPYC family 26, AVX-512): its convs reach 440-470 GFLOP/s at 32-64 px, the matmuls 406-417,
#   and its phase up-convolutions match the one matmul; at 16 px the conv won three runs of four (422 vs 331), at
#   8 px the matmuls (227 vs 209, 269 vs 263, 193 vs 170). Whole config-f 1024 generator at batch 1, interleaved
#   calls: median 0.473 s with these limits, 0.483 with the 'amx' ones, 0.480 with the routes off.
MATMUL_LIMITS = {'amx': (128 * 128, 32 * 32), 'other': (8 * 8, 0)}
MATMUL_CONV_MAX_PIXELS: int | None = None  # None: MATMUL_LIMITS for this CPU (`matmul_limits`)
MATMUL_UP_MAX_PIXELS: int | None = None
# A float32 up-convolution of at most this many input channels (config-f's 1024x1024 block: 64) stays the
# transposed conv where the four phases are asked for, per CPU as measured:
# - 'amx': oneDNN's phase convs are too narrow there (a band 27 -> 20 ms, record conv_as_matmul_xeon_amx.txt;
#   Gs.run at batch 1 0.60 -> 0.57 s, generate_xeon_amx.txt at 6691b21 and after), for 0-40 MiB more peak RSS:
#   the memory TensorFlow's transposed conv keeps for an input shape (benchmarks/op_memory.py);
# - 'other' (the AMD EPYC family 26): the same speed either way, and the transposed conv's two 34.7 MiB oneDNN
#   scratchpads (one per inter-op thread) cost 9-24 MiB of batch-1 peak RSS (record bands_epyc_zen5.txt).
TRANSPOSED_UP_LIMITS = {'amx': 64, 'other': 0}
TRANSPOSED_UP_MAX_CHANNELS: int | None = None  # None: TRANSPOSED_UP_LIMITS for this CPU
# The three routes above, on or off: None (default) on iff TensorFlow runs its oneDNN CPU kernels. Its Eigen
# kernels (oneDNN off: the AMD EPYCs' default, or TF_ENABLE_ONEDNN_OPTS=0) are faster without them: config-f 1024
# at batch 1, oneDNN off, routes on 0.765 s, off 0.737 s (record conv_as_matmul_onednn_off_xeon_amx.txt).
BATCH1_ROUTES: bool | None = None


def batch1_routes() -> bool:
    """Whether the batch-1 matmul and transposed routes are on (BATCH1_ROUTES, else whether oneDNN is)."""
    if BATCH1_ROUTES is not None:
        return bool(BATCH1_ROUTES)
    return _onednn_enabled()


def matmul_limits() -> tuple[int, int]:
    """(MATMUL_CONV_MAX_PIXELS, MATMUL_UP_MAX_PIXELS), each where None from MATMUL_LIMITS for this CPU."""
    conv, up = MATMUL_LIMITS[_cpu_kind()]
    return (conv if MATMUL_CONV_MAX_PIXELS is None else int(MATMUL_CONV_MAX_PIXELS),
            up if MATMUL_UP_MAX_PIXELS is None else int(MATMUL_UP_MAX_PIXELS))


def transposed_up_max_channels() -> int:
    """TRANSPOSED_UP_MAX_CHANNELS, where None from TRANSPOSED_UP_LIMITS for this CPU."""
    if TRANSPOSED_UP_MAX_CHANNELS is not None:
        return int(TRANSPOSED_UP_MAX_CHANNELS)
    return TRANSPOSED_UP_LIMITS[_cpu_kind()]


def _cpu_kind() -> str:
    """The key of this CPU in the per-CPU route tables: 'amx' or 'other'."""
    return 'amx' if _cpu_has_amx() else 'other'


@functools.lru_cache(maxsize=1)
def _cpu_has_amx() -> bool:
    """Whether the CPU has Intel AMX tiles (Linux: the amx_tile flag of /proc/cpuinfo; elsewhere False)."""
    try:
        with open('/proc/cpuinfo') as f:
            return any(line.startswith('flags') and 'amx_tile' in line.split() for line in f)
    except OSError:
        return False


@functools.lru_cache(maxsize=1)
def _onednn_enabled() -> bool:
    try:  # TensorFlow's own test (the TF_ENABLE_ONEDNN_OPTS setting and the CPU), a private module
        from tensorflow.python.util import _pywrap_util_port
        return bool(_pywrap_util_port.IsMklEnabled())
    except (ImportError, AttributeError):
        return False


def _as_matmul(x: tf.Tensor, max_pixels: int) -> bool:
    n, h, wd, cin = x.shape
    return (n == 1 and h is not None and wd is not None and cin is not None and h * wd <= max_pixels
            and x.dtype == tf.float32 and cin >= MATMUL_CONV_MIN_CHANNELS and batch1_routes())


def conv2d_stride1(x: tf.Tensor, w: tf.Tensor, padding) -> tf.Tensor:
    """`tf.nn.conv2d(x, w, 1, padding)`, padding 'SAME' or [[top, bottom], [left, right]]. A 3x3 (or larger)
    kernel on one small many-channel image (see MATMUL_CONV_MAX_PIXELS) gives the same sums as one matmul per
    kernel row: on the padded image flattened to [pixels, Cin], the input of output pixel p under tap (dy, dx) is
    row p + dy * padded_width + dx, so one concat of the kw column-shifted copies (a third of a whole im2col
    buffer) serves every kernel row as a contiguous slice, which TensorFlow takes without a copy. The outputs of
    the padding columns are computed too and cropped at the end."""
    n, h, wd, cin = x.shape
    kh, kw = int(w.shape[0]), int(w.shape[1])
    pads = [[(kh - 1) // 2, kh // 2], [(kw - 1) // 2, kw // 2]] if padding == 'SAME' else padding
    if not (kh >= 3 and kw >= 3 and _as_matmul(x, matmul_limits()[0])):
        return tf.nn.conv2d(x, w, 1, padding if padding == 'SAME' else [[0, 0], *pads, [0, 0]])
    oh, ow, pw = h + sum(pads[0]) - kh + 1, wd + sum(pads[1]) - kw + 1, wd + sum(pads[1])
    # One more zero row at the bottom: the last copies (shifted by up to kw - 1) then have all their rows.
    flat = tf.reshape(tf.pad(x, [[0, 0], [pads[0][0], pads[0][1] + 1], pads[1], [0, 0]]), [-1, cin])
    rows = (oh + kh - 1) * pw
    cols = tf.concat([flat[dx:dx + rows] for dx in range(kw)], axis=-1)            # [rows, kw * cin]
    y = tf.add_n([tf.matmul(cols[dy * pw:(dy + oh) * pw], tf.reshape(w[dy], [kw * cin, -1])) for dy in range(kh)])
    return tf.reshape(y, [1, oh, pw, -1])[:, :, :ow]


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
    `polyphase` (3x3 kernels, up=2; not a float32 input of at most `transposed_up_max_channels()` channels where
    `batch1_routes()`): the transposed conv as four stride-1 convs (`_polyphase_up2`), the generator's per-sample
    path on the CPU:
    TensorFlow's oneDNN transposed conv keeps tens of MiB per input shape for the life of the process, the
    stride-1 convs next to nothing (benchmarks/op_memory.py).
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

    few_channels = (cin is not None and cin <= transposed_up_max_channels() and x.dtype == tf.float32
                    and batch1_routes())
    if polyphase and groups == 1 and up == 2 and kw == 3 and not few_channels:
        # The four phases start one sample before the transposed conv's output and end two after it.
        x = _up2_as_matmul(x, w) if _as_matmul(x, matmul_limits()[1]) else _polyphase_up2(x, w)
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
    n, h, wd = _dims(x)[:3]
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
    n, h, wd = _dims(x)[:3]
    cout = w.shape[3]
    rows = []
    for py in range(2):
        phases = []
        for px in range(2):
            k = tf.stack([tf.stack([w[iy, ix] for _, ix in _PHASE_TAPS[px]]) for _, iy in _PHASE_TAPS[py]])
            pad_y, pad_x = [[1, len(_PHASE_TAPS[p])] for p in (py, px)]  # output H + 2: 1 tap (1, 1), 2 taps (1, 2)
            phases.append(conv2d_stride1(x, k, [pad_y, pad_x]))
        rows.append(phases)
    return _interleave(rows, n, h + 2, wd + 2, cout)


def _dims(x: tf.Tensor) -> list:
    """x's dimensions: the static ones as ints (no shape ops in the graph), the others from tf.shape."""
    return [tf.shape(x)[i] if d is None else d for i, d in enumerate(x.shape)]


def _interleave(phases: list, n, h, wd, cout: int) -> tf.Tensor:
    """phases[py][px] [N, H, W, C] -> [N, 2H, 2W, C], phase (py, px) at rows 2i + py and columns 2j + px."""
    rows = [tf.reshape(tf.stack(row, axis=3), [n, h, 2 * wd, cout]) for row in phases]
    return tf.reshape(tf.stack(rows, axis=2), [n, 2 * h, 2 * wd, cout])


def _up2_as_matmul(x: tf.Tensor, w: tf.Tensor) -> tf.Tensor:
    """`_polyphase_up2` of one small many-channel image (see MATMUL_UP_MAX_PIXELS) as one matmul: the products of
    every input pixel with all nine taps, [H, W, 9 * Cout] (the exact multiply count of the transposed conv, in
    one large GEMM), padded like the phases' input; phase (py, px) is the sum of its taps' products, shifted."""
    _, h, wd, cin = x.shape
    cout = int(w.shape[3])
    taps = tf.reshape(tf.transpose(w, [2, 0, 1, 3]), [cin, 9 * cout])                 # columns (ky, kx, cout)
    y = tf.reshape(tf.matmul(tf.reshape(x, [h * wd, cin]), taps), [1, h, wd, 9 * cout])
    y = tf.pad(y, [[0, 0], [1, 2], [1, 2], [0, 0]])

    def phase(py, px):
        parts = [y[:, oy:oy + h + 2, ox:ox + wd + 2, (3 * ky + kx) * cout:(3 * ky + kx + 1) * cout]
                 for oy, ky in _PHASE_TAPS[py] for ox, kx in _PHASE_TAPS[px]]
        return tf.add_n(parts) if len(parts) > 1 else parts[0]
    return _interleave([[phase(py, px) for px in range(2)] for py in range(2)], 1, h + 2, wd + 2, cout)


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
