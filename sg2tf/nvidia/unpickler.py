"""A restricted unpickler for NVIDIA's TF1 network pickles: nothing from the file is ever executed.

Only the globals that real NVIDIA pickles reference are resolved (dnnlib's `Network` and `EasyDict`, NumPy's
array reconstruction); `dnnlib.tflib.network.Network` becomes an inert stub that keeps its state dict (its
`build_module_src` is never run).
"""
from __future__ import annotations

import collections
import io
import os
import pickle
from typing import BinaryIO

import numpy as np

try:  # NumPy >= 2 keeps the implementation under numpy._core
    from numpy._core import multiarray as _multiarray
except ImportError:  # pragma: no cover - NumPy 1.x
    from numpy.core import multiarray as _multiarray


class NetworkPickleError(ValueError):
    """A file that is not a loadable NVIDIA network pickle; the message is one line naming the problem."""


class NetworkStub:
    """Stands in for `dnnlib.tflib.network.Network`; unpickling stores the state dict and runs nothing."""

    def __init__(self, state: dict | None = None):
        self.state = state if state is not None else {}

    def __getstate__(self):  # what NVIDIA's Network.__getstate__ returns: the plain state dict
        return self.state

    def __setstate__(self, state):
        if not isinstance(state, dict):
            raise pickle.UnpicklingError(f'Network state is a {type(state).__name__}, expected a dict')
        self.state = state

    def __repr__(self):
        state = getattr(self, 'state', {})
        return f"<NVIDIA Network {state.get('name')!r} ({state.get('build_func_name')})>"


class EasyDict(dict):
    """Stand-in for `dnnlib.util.EasyDict` (a plain dict subclass)."""


ALLOWED_GLOBALS = {
    ('dnnlib.tflib.network', 'Network'): NetworkStub,
    ('numpy.core.multiarray', '_reconstruct'): _multiarray._reconstruct,
    ('numpy._core.multiarray', '_reconstruct'): _multiarray._reconstruct,
    ('numpy.core.multiarray', 'scalar'): _multiarray.scalar,
    ('numpy._core.multiarray', 'scalar'): _multiarray.scalar,
    ('numpy', 'ndarray'): np.ndarray,
    ('numpy', 'dtype'): np.dtype,
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
                f"{self.source}: refused: the pickle references the global '{module}.{name}', which {self.what} "
                f"never contain (nothing from the file was executed)") from None

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
    """Unpickle `data` with `unpickler`'s allow-list. Any failure becomes a one-line `NetworkPickleError`."""
    try:
        return unpickler(io.BytesIO(data), source).load()
    except NetworkPickleError:
        raise
    except EOFError:
        raise NetworkPickleError(f'{source}: the pickle is truncated (ended after {len(data)} bytes)') from None
    except Exception as e:  # UnpicklingError, ValueError, KeyError, ... from malformed streams
        kind = 'truncated or corrupt' if data[:1] == b'\x80' else 'not a pickle file'
        raise NetworkPickleError(f'{source}: {kind} ({type(e).__name__}: {str(e)[:120]})') from None


def restricted_load(path_or_file) -> object:
    """Read and unpickle an NVIDIA TF1 pickle with the allow-list above (one-line `NetworkPickleError`s)."""
    return restricted_loads(*read_file(path_or_file))
