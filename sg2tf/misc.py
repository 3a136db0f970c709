"""Small helpers shared by the networks."""
from __future__ import annotations

import ctypes
import ctypes.util
import sys
from typing import Sequence

import numpy as np
import tensorflow as tf


class ShapeError(ValueError):
    """A tensor of the wrong shape: `what: expected shape [?, 512], got [2, 256]`, complete in one line.

    Keras re-raises an exception from a layer's `call` with the call's arguments appended, and AutoGraph
    (tf.function) re-raises it with the traced source lines, unless it carries their pass-through marks;
    this one carries both, so the message reaches the caller as written.
    """
    _keras_call_info_injected = True  # keras/src/utils/traceback_utils.py: inject_argument_info_in_traceback
    ag_pass_through = True  # tensorflow/python/autograph/impl/api.py: _attach_error_metadata


def assert_shape(tensor, expected: Sequence[int | None], what: str) -> None:
    """Raise a one-line `ShapeError` (a ValueError) naming `what` unless `tensor`'s static shape matches.

    None in `expected` matches any size, and so does a dimension unknown at trace time (a dynamic batch in a
    tf.function or a SavedModel signature): only what is known statically is checked, so this adds no ops.
    Same idea as stylegan2-ada-pytorch torch_utils/misc.py: assert_shape.
    """
    shape = tf.TensorShape(tensor.shape if hasattr(tensor, 'shape') else np.shape(tensor))
    if shape.rank is None:
        return
    got = shape.as_list()
    if len(got) != len(expected) or any(e is not None and g is not None and g != e for g, e in zip(got, expected)):
        raise ShapeError(f'{what}: expected shape {_format(expected)}, got {_format(got)}')


def _format(shape: Sequence[int | None]) -> str:
    return '[' + ', '.join('?' if d is None else str(d) for d in shape) + ']'


_MALLOC_TRIM = []  # [glibc's malloc_trim or None], looked up once


def release_free_heap() -> None:
    """Hand the free pages of the C heap back to the OS: glibc's `malloc_trim(0)`, about 1 ms; a no-op without
    glibc. A generator call frees many medium-sized buffers (TensorFlow's kernels, oneDNN), and glibc keeps their
    pages, fragmented, so the process's resident memory creeps up call after call: config-f 1024, 14 batch-1 run()
    calls on the Intel Xeon, peak RSS 1178 MiB kept, 1125 trimmed, for about 1% more time a call (record
    heap_trim_xeon_amx.txt)."""
    if not _MALLOC_TRIM:
        libc = ctypes.util.find_library('c') if sys.platform.startswith('linux') else None
        trim = getattr(ctypes.CDLL(libc), 'malloc_trim', None) if libc else None
        if trim is not None:
            trim.argtypes, trim.restype = [ctypes.c_size_t], ctypes.c_int
        _MALLOC_TRIM.append(trim)
    if _MALLOC_TRIM[0] is not None:
        _MALLOC_TRIM[0](0)


class Scratch:
    """Reusable 64-byte-aligned memory (`take(nbytes)` -> a uint8 view, valid until the next take): the loaders read
    each weight into it and TensorFlow copies it out (`tensor_copy`), so the file's bytes land in fresh memory once,
    in TensorFlow's pool, instead of in a new NumPy array per weight first."""

    def __init__(self):
        self._raw = np.empty(0, np.uint8)

    def take(self, nbytes: int) -> np.ndarray:
        if self._raw.size < nbytes + _ALIGN:
            self._raw = np.empty(nbytes + _ALIGN, np.uint8)
        start = -self._raw.ctypes.data % _ALIGN
        return self._raw[start:start + nbytes]


def tensor_copy(array: np.ndarray) -> tf.Tensor:
    """A TensorFlow-owned copy of `array` (CPU): one copy into TensorFlow's pool, where tf.constant(array) makes two,
    the first into new NumPy memory. A C-contiguous array at a 64-byte-aligned address (a `Scratch`) is read in
    place (DLPack) by the copying op; any other takes tf.constant's way. Eager ops run synchronously by default, so
    the array may be reused once this returns (with asynchronous eager execution it takes tf.constant's way)."""
    array = np.asarray(array)
    if (array.size == 0 or not array.flags.c_contiguous or array.ctypes.data % _ALIGN or array.dtype.kind not in 'fiu'
            or not tf.config.experimental.get_synchronous_execution()):
        return tf.constant(array)
    with tf.device('/CPU:0'):  # the copy made here, in host memory, even where a GPU is the default device
        return tf.raw_ops.Snapshot(input=tf.experimental.dlpack.from_dlpack(array.__dlpack__()))


_ALIGN = 64  # TensorFlow's buffer alignment (EIGEN_MAX_ALIGN_BYTES): an unaligned buffer used in place aborts it
