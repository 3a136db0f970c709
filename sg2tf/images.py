"""Image conversions with NVIDIA's exact rounding rules (dnnlib/tflib/tfutil.py: convert_images_to_uint8)."""
from __future__ import annotations

import numpy as np
import tensorflow as tf


def convert_images_to_uint8(images, drange=(-1, 1), nchw_to_nhwc: bool = False, shrink: int = 1):
    """dnnlib's `convert_images_to_uint8`: `saturate_cast(x * 127.5 + 128)` (clip, then truncate).

    Accepts NumPy arrays (returns NumPy) or tensors (returns a tensor). Without `shrink` or `nchw_to_nhwc`
    only the values change, so channels-last images convert the same way.
    """
    is_numpy = not tf.is_tensor(images)
    x = tf.cast(images, tf.float32)
    if shrink > 1:
        x = tf.transpose(x, [0, 2, 3, 1])
        x = tf.nn.avg_pool2d(x, shrink, shrink, 'VALID')
        x = x if nchw_to_nhwc else tf.transpose(x, [0, 3, 1, 2])
    elif nchw_to_nhwc:
        x = tf.transpose(x, [0, 2, 3, 1])
    scale = 255.0 / (drange[1] - drange[0])
    x = x * np.float32(scale) + np.float32(0.5 - drange[0] * scale)
    x = tf.saturate_cast(x, tf.uint8)
    return x.numpy() if is_numpy else x

