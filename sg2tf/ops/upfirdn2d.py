"""Upsample, FIR-filter, downsample on channels-last tensors, pure TensorFlow (or the compiled op).

Mirrors NVIDIA dnnlib/tflib/ops/upfirdn_2d.py: upfirdn_2d, upsample_2d, downsample_2d (the convolving
variants upsample_conv_2d / conv_downsample_2d are in conv2d_resample.py).
`upfirdn2d(x, f, up, down, padding)`: insert `up - 1` zeros after every sample, pad (negative values crop),
convolve with the 2-D filter `f` (a true convolution unless `flip_filter`), keep every `down`-th sample.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import tensorflow as tf

from sg2tf.ops import custom
from sg2tf.ops.impl import resolve

Padding = int | Sequence[int]
# Pure-TF upsampling uses a transposed conv (no zero MACs) up to this many channels.
POLYPHASE_MAX_CHANNELS = 4
# Pure TF, up = down = 1: a crop of one sample at an edge (the phase up-convolutions' output, conv2d_resample)
# would be a copy; the filter extended by a zero tap on that side skips the sample instead, with the same sums.
# The depthwise conv is memory-bound, so that is faster (benchmarks/fir_crop.py, record fir_crop_xeon_amx.txt).
CROP_AS_ZERO_TAP = True


def setup_filter(k: Sequence[float] | np.ndarray | None, normalize: bool = True) -> np.ndarray:
    """Turn NVIDIA's `resample_kernel` (1-D taps, a 2-D array or None) into a float32 2-D filter.

    1-D taps `k` give `outer(k, k)`; `None` gives the 2-tap box `[1, 1]` as in the original code.
    """
    k = np.asarray([1, 1] if k is None else k, dtype=np.float32)
    if k.ndim == 1:
        k = np.outer(k, k)
    if k.ndim != 2 or k.size == 0:
        raise ValueError(f'FIR filter must be 1-D or 2-D and non-empty, got shape {k.shape}')
    if normalize:
        k = k / np.sum(k)
    return k.astype(np.float32)


def _parse_padding(padding: Padding) -> tuple[int, int, int, int]:
    """-> (x0, x1, y0, y1). An int pads all sides; (p0, p1) applies to both axes."""
    if isinstance(padding, (int, np.integer)):
        return (int(padding),) * 4
    padding = [int(p) for p in padding]
    if len(padding) == 2:
        return padding[0], padding[1], padding[0], padding[1]
    if len(padding) == 4:
        return tuple(padding)  # type: ignore[return-value]
    raise ValueError(f'padding must be an int, (pad0, pad1) or (x0, x1, y0, y1), got {padding}')


def upfirdn2d(x: tf.Tensor, f: np.ndarray, up: int = 1, down: int = 1, padding: Padding = 0,
              flip_filter: bool = False, gain: float = 1.0, impl: str = 'auto') -> tf.Tensor:
    """Resample `x` [N, H, W, C] with the 2-D FIR filter `f` [fh, fw] (see module docstring)."""
    x = tf.convert_to_tensor(x)
    f = np.asarray(f, dtype=np.float32)
    if f.ndim != 2:
        raise ValueError(f'upfirdn2d: filter must be 2-D, got shape {f.shape}')
    px0, px1, py0, py1 = _parse_padding(padding)
    if resolve(impl) == 'custom':
        if x.dtype == tf.float32 and x.shape.rank == 4 and None not in x.shape[1:]:
            return custom.upfirdn2d(x, f, up, down, (px0, px1, py0, py1), flip_filter, gain)
        if impl == 'custom':
            raise ValueError(f'upfirdn2d impl="custom" needs float32 NHWC with static H, W, C; got {x.dtype} {x.shape}')
    channels = x.shape[-1]
    if channels is None:
        raise ValueError('upfirdn2d: the channel dimension must be static')
    n = tf.shape(x)[0]
    h, w = x.shape[1], x.shape[2]
    if h is None or w is None:
        h, w = tf.shape(x)[1], tf.shape(x)[2]

    if up > 1 and down == 1 and channels <= POLYPHASE_MAX_CHANNELS and isinstance(h, int) and isinstance(w, int):
        return _upsample_transposed(x, f, up, (px0, px1, py0, py1), flip_filter, gain)

    # 1. Upsample by inserting zeros after every sample.
    if up > 1:
        x = tf.reshape(x, [n, h, 1, w, 1, channels])
        x = tf.pad(x, [[0, 0], [0, 0], [0, up - 1], [0, 0], [0, up - 1], [0, 0]])
        x = tf.reshape(x, [n, h * up, w * up, channels])

    crops = [max(-p, 0) for p in (px0, px1, py0, py1)]
    if CROP_AS_ZERO_TAP and up == down == 1 and 0 < max(crops) <= 1:
        (cx0, cx1, cy0, cy1), (px0, px1, py0, py1) = crops, (max(p, 0) for p in (px0, px1, py0, py1))
        # Correlation taps (flipped f, unless flip_filter) gain a zero before for a crop at the start, after for one
        # at the end.
        f = np.pad(f, [[cy0, cy1], [cx0, cx1]] if flip_filter else [[cy1, cy0], [cx1, cx0]])

    # 2. Pad (positive) and crop (negative). Not the depthwise conv's explicit padding, which would save the
    # padded copy: TF 2.21 aborts (CHECK failure in shape inference) once the remapper fuses such a depthwise
    # conv with the BiasAdd + LeakyRelu that follows it.
    if max(px0, px1, py0, py1) > 0:
        x = tf.pad(x, [[0, 0], [max(py0, 0), max(py1, 0)], [max(px0, 0), max(px1, 0)], [0, 0]])
    if min(px0, px1, py0, py1) < 0:
        hh, ww = tf.shape(x)[1], tf.shape(x)[2]
        x = x[:, max(-py0, 0): hh - max(-py1, 0), max(-px0, 0): ww - max(-px1, 0), :]

    # 3.+4. FIR filter (true convolution = correlation with the flipped filter), then keep every down-th sample.
    if not flip_filter:
        f = f[::-1, ::-1]
    kernel = np.tile((f * gain)[:, :, None, None], [1, 1, channels, 1]).astype(np.float32)
    return tf.nn.depthwise_conv2d(x, tf.constant(kernel, dtype=x.dtype), [1, down, down, 1], 'VALID')


def _upsample_transposed(x: tf.Tensor, f: np.ndarray, up: int, pad: tuple[int, int, int, int], flip_filter: bool,
                         gain: float) -> tf.Tensor:
    """Upsampling without multiplying zeros: a stride-`up` transposed conv with the per-channel filter, cropped.

    conv2d_transpose gives out[j] = sum_i x[i] K[j - i*up] (length (H-1)*up + fh) with K the true-convolution
    kernel, and upfirdn2d's y[o] = out[o + fh - 1 - pad0]. The kernel is dense over channels (diagonal), so this
    is used only for few channels (the RGB skip path), where it beats zero insertion + depthwise conv by ~5x.
    """
    n, h, w, c = tf.shape(x)[0], x.shape[1], x.shape[2], x.shape[-1]
    fh, fw = f.shape
    px0, px1, py0, py1 = pad
    k = (f[::-1, ::-1] if flip_filter else f) * gain
    kernel = (k[:, :, None, None] * np.eye(c, dtype=np.float32)[None, None]).astype(np.float32)
    full_h, full_w = (h - 1) * up + fh, (w - 1) * up + fw
    y = tf.nn.conv2d_transpose(x, tf.constant(kernel, x.dtype), tf.stack([n, full_h, full_w, c]), up, 'VALID')
    out_h, out_w = (h * up + py0 + py1 - fh) + 1, (w * up + px0 + px1 - fw) + 1
    y0, x0 = fh - 1 - py0, fw - 1 - px0
    # Zero-extend where the crop window leaves the transposed conv's support, then crop.
    ext = [max(-y0, 0), max(y0 + out_h - full_h, 0), max(-x0, 0), max(x0 + out_w - full_w, 0)]
    if any(ext):
        y = tf.pad(y, [[0, 0], ext[:2], ext[2:], [0, 0]])
    y0, x0 = y0 + ext[0], x0 + ext[2]
    return y[:, y0:y0 + out_h, x0:x0 + out_w, :]


def upsample_2d(x: tf.Tensor, f: np.ndarray, factor: int = 2, gain: float = 1.0, impl: str = 'auto'):
    """NVIDIA `upsample_2d`: zero-insert by `factor`, FIR with `f * gain * factor**2`. [N,H,W,C] -> [N,fH,fW,C]."""
    p = f.shape[0] - factor
    return upfirdn2d(x, f, up=factor, padding=((p + 1) // 2 + factor - 1, p // 2), gain=gain * factor ** 2,
                     impl=impl)


def downsample_2d(x: tf.Tensor, f: np.ndarray, factor: int = 2, gain: float = 1.0, impl: str = 'auto'):
    """NVIDIA `downsample_2d`: FIR with `f * gain`, keep every `factor`-th sample."""
    p = f.shape[0] - factor
    return upfirdn2d(x, f, down=factor, padding=((p + 1) // 2, p // 2), gain=gain, impl=impl)
