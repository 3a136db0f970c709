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
