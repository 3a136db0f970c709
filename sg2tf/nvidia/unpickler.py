"""A restricted unpickler for NVIDIA's TF1 network pickles: nothing from the file is ever executed.

Only the globals that real NVIDIA pickles reference are resolved (dnnlib's `Network` and `EasyDict`, NumPy's
array reconstruction); `dnnlib.tflib.network.Network` becomes an inert stub that keeps its state dict (its
`build_module_src` is never run).
"""
from __future__ import annotations

import collections
import io
import math
import os
import pickle
from typing import BinaryIO

import numpy as np

from sg2tf.nvidia.errors import NetworkPickleError, check_opcodes, clean, show

try:  # NumPy >= 2 keeps the implementation under numpy._core
    from numpy._core import multiarray as _multiarray
except ImportError:  # pragma: no cover - NumPy 1.x
    from numpy.core import multiarray as _multiarray


__all__ = ['NetworkPickleError', 'NetworkStub', 'EasyDict', 'ALLOWED_GLOBALS', 'RestrictedUnpickler', 'read_file',
           'restricted_loads', 'restricted_load']


class NetworkStub:
    """Stands in for `dnnlib.tflib.network.Network`; unpickling stores the state dict and runs nothing."""
    state = None  # a Network object the pickle creates without a state keeps None (refused by the readers)

    def __init__(self, state: dict | None = None):
        if state is not None and not isinstance(state, dict):
            raise pickle.UnpicklingError(f'Network state is a {type(state).__name__}, expected a dict')
        self.state = state if state is not None else {}

    def __getstate__(self):  # what NVIDIA's Network.__getstate__ returns: the plain state dict
        return self.state

    def __setstate__(self, state):
        if not isinstance(state, dict):
            raise pickle.UnpicklingError(f'Network state is a {type(state).__name__}, expected a dict')
        self.state = state

    def __repr__(self):
        state = self.state if isinstance(self.state, dict) else {}
        return f"<NVIDIA Network {show(state.get('name'))} ({show(state.get('build_func_name'))})>"


class EasyDict(dict):
    """Stand-in for `dnnlib.util.EasyDict` (a plain dict subclass)."""


# The dtypes NVIDIA's files store (weights, `lod`, scalars): plain numbers, little-endian or byte-order free.
PLAIN_DTYPES = frozenset({'f2', 'f4', 'f8', 'i1', 'i2', 'i4', 'i8', 'u1', 'b1'})
MAX_NDIM = 8


class PickledDtype:
    """What `numpy.dtype(...)` in a pickle becomes: a plain numeric dtype, whose BUILD state may only restate
    the byte order (`np.dtype.__reduce__` gives `(3, '<', None, None, None, -1, -1, 0)`). Structured, subarray
    and object dtypes are refused: NumPy trusts a dtype's pickled fields and offsets, and printing an array of a
    forged one reads memory it does not own."""

    def __init__(self, spec, align=False, copy=True):
        if not isinstance(spec, str) or spec not in PLAIN_DTYPES:
            raise NetworkPickleError(f'refused: the pickle creates the NumPy dtype {show(spec)}; NVIDIA network '
                                     f'pickles hold only {", ".join(sorted(PLAIN_DTYPES))}')
        self.dtype = np.dtype(spec)

    def __setstate__(self, state):
        ok = (isinstance(state, tuple) and len(state) in (8, 9) and state[0] in (3, 4)
              and state[1] in ('<', '|', '=') and state[2:5] == (None, None, None)
              and all(type(v) is int for v in state[5:]))
        if not ok:
            raise NetworkPickleError(f'refused: the pickle gives the NumPy dtype {self.dtype.str} the state '
                                     f'{show(state)}; only a plain little-endian dtype is accepted')

    def __repr__(self):
        return f'dtype({self.dtype.str!r})'


def _plain_dtype(dtype) -> np.dtype:
    if isinstance(dtype, PickledDtype):
        return dtype.dtype
    raise NetworkPickleError(f'refused: an array or scalar with dtype {show(dtype)} (expected a plain NumPy dtype)')


class PickledArray(np.ndarray):
    """What `numpy.core.multiarray._reconstruct(ndarray, (0,), b'b')` + BUILD become: a C-contiguous array whose
    state holds exactly its `prod(shape) * itemsize` bytes (no strides, no data-less or object arrays)."""

    def __setstate__(self, state):
        if not (isinstance(state, tuple) and len(state) == 5 and state[0] == 1):
            raise NetworkPickleError(f'refused: a NumPy array with state {show(state)}')
        _, shape, dtype, fortran, raw = state
        dtype = _plain_dtype(dtype)
        if not (isinstance(shape, tuple) and len(shape) <= MAX_NDIM and all(type(d) is int and d >= 0 for d in shape)):
            raise NetworkPickleError(f'refused: a NumPy array of shape {show(shape)}')
        if fortran is not False:
            raise NetworkPickleError(f'refused: a Fortran-ordered NumPy array of shape {list(shape)} (NVIDIA '
                                     f'pickles hold C-contiguous arrays)')
        nbytes = math.prod(shape) * dtype.itemsize
        if not isinstance(raw, bytes) or len(raw) != nbytes:
            got = f'{len(raw)} bytes' if isinstance(raw, (bytes, bytearray)) else f'a {type(raw).__name__}'
            raise NetworkPickleError(f'refused: a NumPy array of shape {list(shape)} {dtype.name} stores {got}, '
                                     f'expected {nbytes} bytes')
        super().__setstate__((1, shape, dtype, False, raw))

    def __reduce__(self):  # written back as the plain ndarray it stands for
        return np.asarray(self).__reduce__()


def _reconstruct(subtype, shape, dtype):
    """numpy.core.multiarray._reconstruct as NumPy's ndarray pickles call it: `(ndarray, (0,), b'b')`, data to
    follow in BUILD (`PickledArray.__setstate__`)."""
    if subtype is not np.ndarray or shape != (0,) or dtype not in (b'b', 'b'):
        raise NetworkPickleError(f'refused: numpy _reconstruct{show((subtype, shape, dtype))} (NumPy pickles '
                                 f'an array as _reconstruct(ndarray, (0,), b"b") and its data)')
    return np.ndarray.__new__(PickledArray, (0,), np.uint8)


def _scalar(dtype, data=None):
    """numpy.core.multiarray.scalar(dtype, bytes): one number of a plain dtype from exactly its bytes."""
    dtype = _plain_dtype(dtype)
    if not isinstance(data, bytes) or len(data) != dtype.itemsize:
        raise NetworkPickleError(f'refused: a NumPy {dtype.name} scalar from {show(data)}')
    return np.frombuffer(data, dtype)[0].copy()


ALLOWED_GLOBALS = {
    ('dnnlib.tflib.network', 'Network'): NetworkStub,
    ('numpy.core.multiarray', '_reconstruct'): _reconstruct,
    ('numpy._core.multiarray', '_reconstruct'): _reconstruct,
    ('numpy.core.multiarray', 'scalar'): _scalar,
    ('numpy._core.multiarray', 'scalar'): _scalar,
    ('numpy', 'ndarray'): np.ndarray,
    ('numpy', 'dtype'): PickledDtype,
    ('dnnlib.util', 'EasyDict'): EasyDict,
    ('dnnlib', 'EasyDict'): EasyDict,
    ('collections', 'OrderedDict'): collections.OrderedDict,
}


class RestrictedUnpickler(pickle.Unpickler):
    """Resolves only `allowed_globals`; persistent ids are refused. Subclasses set another allow-list."""
    allowed_globals = ALLOWED_GLOBALS
    what = 'NVIDIA network pickles'

    def __init__(self, file: BinaryIO, source: str):
        super().__init__(file, encoding='latin1')
        self.source = source

    def find_class(self, module: str, name: str):
        try:
            return self.allowed_globals[(module, name)]
        except (KeyError, TypeError):
            raise NetworkPickleError(
                f"{self.source}: refused: the pickle references the global {clean(f'{module}.{name}')!r}, which "
                f"{self.what} never contain (nothing from the file was executed)") from None

    def persistent_load(self, pid):
        raise NetworkPickleError(f'{self.source}: refused: the pickle uses persistent ids, which {self.what} '
                                 f'never contain (nothing from the file was executed)')


def read_file(path_or_file) -> tuple[bytes, str]:
    """(contents, name for messages) of a path or a binary file object; a one-line error if unreadable/empty."""
    if isinstance(path_or_file, (str, os.PathLike)):
        source = os.fspath(path_or_file)
        try:
            with open(source, 'rb') as f:
                data = f.read()
        except OSError as e:
            raise NetworkPickleError(f'{source}: cannot read: {e.strerror or e}') from None
    else:
        source = str(getattr(path_or_file, 'name', '<file object>'))
        data = path_or_file.read()
    if not data:
        raise NetworkPickleError(f'{source}: the file is empty, expected an NVIDIA network pickle')
    return data, source


def restricted_loads(data: bytes, source: str, unpickler: type[RestrictedUnpickler] = RestrictedUnpickler) -> object:
    """Unpickle `data` with `unpickler`'s allow-list, after `errors.check_opcodes` bounded what it builds. Any
    failure becomes a one-line `NetworkPickleError`."""
    check_opcodes(data, source)
    try:
        return _plain_arrays(unpickler(io.BytesIO(data), source).load())
    except NetworkPickleError as e:
        msg = str(e)
        raise (e if msg.startswith(source) else NetworkPickleError(f'{source}: {msg}')) from None
    except EOFError:
        raise NetworkPickleError(f'{source}: the pickle is truncated (ended after {len(data)} bytes)') from None
    except Exception as e:  # UnpicklingError, ValueError, KeyError, ... from malformed streams
        kind = 'truncated or corrupt' if data[:1] == b'\x80' else 'not a pickle file'
        raise NetworkPickleError(f'{source}: {kind} ({type(e).__name__}: {clean(str(e), 120)})') from None


def _plain_arrays(obj, seen: dict | None = None):
    """`obj` with every `PickledArray` replaced by a plain `np.ndarray` view of it (in place for lists and dicts,
    Network states included; tuples rebuilt). The opcode pass bounded the depth; each object is visited once."""
    seen = {} if seen is None else seen
    if isinstance(obj, PickledArray):
        return obj.view(np.ndarray)
    if id(obj) in seen:
        return seen[id(obj)]
    seen[id(obj)] = obj
    if isinstance(obj, NetworkStub) and isinstance(obj.state, dict):
        _plain_arrays(obj.state, seen)
    elif isinstance(obj, dict):
        for key, value in obj.items():
            obj[key] = _plain_arrays(value, seen)
    elif isinstance(obj, list):
        obj[:] = [_plain_arrays(v, seen) for v in obj]
    elif isinstance(obj, tuple):
        items = [_plain_arrays(v, seen) for v in obj]
        if any(a is not b for a, b in zip(items, obj)):
            seen[id(obj)] = obj = tuple(items) if type(obj) is tuple else type(obj)(*items)
    return obj


def restricted_load(path_or_file) -> object:
    """Read and unpickle an NVIDIA TF1 pickle with the allow-list above (one-line `NetworkPickleError`s)."""
    return restricted_loads(*read_file(path_or_file))
