"""A restricted unpickler for NVIDIA's TF1 network pickles: nothing from the file is ever executed.

Only the globals that real NVIDIA pickles reference are resolved (dnnlib's `Network` and `EasyDict`, NumPy's
array reconstruction); `dnnlib.tflib.network.Network` becomes an inert stub that keeps its state dict (its
`build_module_src` is never run).

Files are read as a stream (`open_pickle`): the opcode pass, then a pure-Python unpickler that leaves every large
byte string (array data) in the file; an array's bytes are read only when a caller asks for the part of the
result holding it (`PickleFile.plain`), so the arrays of networks nobody asked for never enter memory.
"""
from __future__ import annotations

import collections
import contextlib
import io
import math
import os
import pickle
import weakref
from typing import BinaryIO, Iterator

import numpy as np

from sg2tf.nvidia.errors import SKIP_MIN, NetworkPickleError, check_opcodes, clean, show

try:  # NumPy >= 2 keeps the implementation under numpy._core
    from numpy._core import multiarray as _multiarray
except ImportError:  # pragma: no cover - NumPy 1.x
    from numpy.core import multiarray as _multiarray


__all__ = ['NetworkPickleError', 'NetworkStub', 'EasyDict', 'ALLOWED_GLOBALS', 'RestrictedUnpickler',
           'StreamUnpickler', 'PickleFile', 'DeferredArray', 'open_pickle', 'read_file', 'restricted_loads', 'restricted_load']


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


class FileSlice:
    """`size` bytes at `offset` of a pickle file that `StreamUnpickler` left there (a large byte string: array
    data) until `PickleFile.fetch` reads them."""
    __slots__ = ('offset', 'size')

    def __init__(self, offset: int, size: int):
        self.offset, self.size = offset, size

    def __len__(self) -> int:
        return self.size

    def __repr__(self):
        return f'<{self.size} bytes at {self.offset} of the file>'


class PickledArray(np.ndarray):
    """What `numpy.core.multiarray._reconstruct(ndarray, (0,), b'b')` + BUILD become: a C-contiguous array whose
    state holds exactly its `prod(shape) * itemsize` bytes (no strides, no data-less or object arrays). Bytes
    still in the file (a `FileSlice`) are kept as `pending` (slice, shape, dtype): `plain_arrays` reads them."""
    pending = None

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
        if not isinstance(raw, (bytes, FileSlice)) or len(raw) != nbytes:
            got = f'{len(raw)} bytes' if isinstance(raw, (bytes, bytearray, FileSlice)) else f'a {type(raw).__name__}'
            raise NetworkPickleError(f'refused: a NumPy array of shape {list(shape)} {dtype.name} stores {got}, '
                                     f'expected {nbytes} bytes')
        if isinstance(raw, FileSlice):
            self.pending = (raw, shape, dtype)
        else:
            self.pending = None
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


class _Restricted:
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


class RestrictedUnpickler(_Restricted, pickle.Unpickler):
    """The restricted unpickler on Python's C unpickler (bytes in memory: every byte string is read)."""


class StreamUnpickler(_Restricted, pickle._Unpickler):
    """The restricted unpickler on Python's pure-Python unpickler, reading a `PickleFile`: a byte string of
    SKIP_MIN bytes or more outside a frame (picklers write large ones unframed) is not read but becomes a
    `FileSlice`. Python's speed costs nothing here: a config-f snapshot is ~10,000 opcodes, its bytes are arrays."""
    dispatch = dict(pickle._Unpickler.dispatch)

    def __init__(self, file: 'PickleFile', source: str):
        super().__init__(file, source)
        self.stream = file

    def _load_sized_bytes(self, width: int):
        head = self.read(width)
        if len(head) != width:
            raise EOFError
        n = int.from_bytes(head, 'little')
        frame = self._unframer.current_frame
        if n >= SKIP_MIN and (frame is None or frame.tell() == frame.getbuffer().nbytes):
            self.append(self.stream.skip(n))
            return
        data = self.read(n)
        if len(data) != n:
            raise EOFError
        self.append(data)

    dispatch[pickle.BINBYTES[0]] = lambda self: self._load_sized_bytes(4)
    dispatch[pickle.BINBYTES8[0]] = lambda self: self._load_sized_bytes(8)


def _unpickle(make, source: str, size: int, first: bytes):
    """`make().load()`, any failure as one line naming `source` (`first`: the file's first byte)."""
    try:
        return make().load()
    except NetworkPickleError as e:
        msg = str(e)
        raise (e if msg.startswith(source) else NetworkPickleError(f'{source}: {msg}')) from None
    except EOFError:
        raise NetworkPickleError(f'{source}: the pickle is truncated (ended after {size} bytes)') from None
    except Exception as e:  # UnpicklingError, ValueError, KeyError, ... from malformed streams
        kind = 'truncated or corrupt' if first == b'\x80' else 'not a pickle file'
        raise NetworkPickleError(f'{source}: {kind} ({type(e).__name__}: {clean(str(e), 120)})') from None


class PickleFile:
    """A seekable binary file read as one pickle from its current position. Reads never ask for more than the
    bytes left (a size the file declares allocates nothing the file cannot fill); large byte strings are
    skipped (`skip`) and read when an array needs them (`fetch`)."""

    def __init__(self, file: BinaryIO, source: str):
        self.file, self.source = file, source
        self.start = file.tell()
        self.end = file.seek(0, io.SEEK_END)
        file.seek(self.start)
        self.size = self.end - self.start
        self.checked: set | None = None  # what `check` found, once it ran
        self._fetched = weakref.WeakValueDictionary()  # (offset, size) -> bytes read, while an array uses them

    # the file interface the opcode pass and the unpickler use
    def read(self, n: int | None = -1) -> bytes:
        left = self.end - self.file.tell()
        return self.file.read(left if n is None or n < 0 else min(n, left))

    def readline(self) -> bytes:
        return self.file.readline()

    def tell(self) -> int:
        return self.file.tell()

    def seek(self, pos: int, whence: int = io.SEEK_SET) -> int:
        return self.file.seek(pos, whence)

    def head(self, n: int) -> bytes:
        """The first `n` bytes (sniffing a format)."""
        self.file.seek(self.start)
        data = self.read(n)
        self.file.seek(self.start)
        return data

    def read_all(self) -> bytes:
        self.file.seek(self.start)
        return self.read()

    def skip(self, n: int) -> FileSlice:
        pos = self.file.tell()
        if n > self.end - pos:
            raise EOFError
        self.file.seek(n, io.SEEK_CUR)
        return FileSlice(pos, n)

    def fetch(self, piece: FileSlice) -> np.ndarray:
        """The bytes of `piece` as a uint8 array, read once while arrays use them (memo references may give one
        byte string to many arrays: memory stays bounded by the file's size)."""
        key = (piece.offset, piece.size)
        buf = self._fetched.get(key)
        if buf is None:
            buf = self.read_into(piece, np.empty(piece.size, np.uint8))
            self._fetched[key] = buf
        return buf

    def read_into(self, piece: FileSlice, buf: np.ndarray) -> np.ndarray:
        """The bytes of `piece` read into `buf` (uint8, piece.size of them) -> buf."""
        self.file.seek(piece.offset)
        done = 0
        while done < piece.size:
            n = self.file.readinto(buf[done:])
            if not n:
                raise NetworkPickleError(f'{self.source}: the file ends before byte {piece.offset + piece.size}'
                                         f' (did it change while loading?)')
            done += n
        return buf

    # the passes
    def check(self, find: tuple[str, ...] = ()) -> set[str]:
        """The opcode pass (`errors.check_opcodes`); the strings of `find` the pickle contains."""
        self.file.seek(self.start)
        self.checked = check_opcodes(self, self.source, find=find)
        return self.checked

    def load(self, unpickler: type[_Restricted] = StreamUnpickler):
        """Unpickle with `unpickler` (after `check`, run here if it has not been). With `StreamUnpickler`
        arrays keep their data in the file until `plain` reads them."""
        if self.checked is None:
            self.check()
        self.file.seek(self.start)
        return _unpickle(lambda: unpickler(self, self.source), self.source, self.size, self.head(1))

    def plain(self, obj, defer: bool = False):
        """`obj` with its arrays as plain NumPy arrays, reading the data still in the file (`plain_arrays`;
        `defer`: a Network's variables stay in the file as `DeferredArray`s)."""
        return plain_arrays(obj, self, defer=defer)


@contextlib.contextmanager
def open_pickle(path_or_file) -> Iterator[PickleFile]:
    """A path or a binary file object as a `PickleFile` (a path is closed afterwards; a file object that cannot
    seek is read into memory first); a one-line error if unreadable or empty."""
    if isinstance(path_or_file, (str, os.PathLike)):
        source = os.fspath(path_or_file)
        try:
            f = open(source, 'rb')
        except OSError as e:
            raise NetworkPickleError(f'{source}: cannot read: {e.strerror or e}') from None
        with f:
            yield _non_empty(PickleFile(f, source))
        return
    source = str(getattr(path_or_file, 'name', '<file object>'))
    seekable = getattr(path_or_file, 'seekable', None)
    f = path_or_file if seekable is not None and seekable() else io.BytesIO(path_or_file.read())
    yield _non_empty(PickleFile(f, source))


def _non_empty(f: PickleFile) -> PickleFile:
    if f.size <= 0:
        raise NetworkPickleError(f'{f.source}: the file is empty, expected an NVIDIA network pickle')
    return f


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
    return plain_arrays(_unpickle(lambda: unpickler(io.BytesIO(data), source), source, len(data), data[:1]))


class DeferredArray:
    """A Network variable whose bytes are still in the file: shape and dtype are known, `read()` reads it.
    The loaders read each just as its Keras weight is created from it (`tfstate.InitialValues`, else `tfstate.fill`
    before assigning it), so one variable at a time is in memory as NumPy."""
    __slots__ = ('stream', 'piece', 'shape', 'dtype')

    def __init__(self, stream: PickleFile, piece: FileSlice, shape: tuple, dtype: np.dtype):
        self.stream, self.piece, self.shape, self.dtype = stream, piece, shape, dtype

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def size(self) -> int:
        return math.prod(self.shape)

    def read(self) -> np.ndarray:
        return self.stream.fetch(self.piece).view(self.dtype).reshape(self.shape)

    def read_into(self, buf: np.ndarray) -> np.ndarray:
        """The array read into `buf` (uint8, at least `piece.size` bytes: reused memory, see `misc.Scratch`)."""
        return self.stream.read_into(self.piece, buf[:self.piece.size]).view(self.dtype).reshape(self.shape)

    def __repr__(self):
        return f'<{self.dtype.name} array of shape {list(self.shape)} in the file>'


def plain_arrays(obj, stream: PickleFile | None = None, seen: dict | None = None, defer: bool = False):
    """`obj` with every `PickledArray` replaced by a plain `np.ndarray` (in place for lists and dicts, Network
    states included; tuples rebuilt): a view of its bytes, or of the bytes `stream` reads for it if they were
    left in the file. `defer`: those of a Network's `(name, array)` variables become `DeferredArray`s instead
    (read later). The opcode pass bounded the depth; each object is visited once."""
    seen = {} if seen is None else seen  # id -> (original, replacement): the original kept alive (no id reuse)
    if isinstance(obj, PickledArray):
        if obj.pending is None:
            return obj.view(np.ndarray)
        piece, shape, dtype = obj.pending
        return stream.fetch(piece).view(dtype).reshape(shape)
    if id(obj) in seen:
        return seen[id(obj)][1]
    seen[id(obj)] = (obj, obj)
    if isinstance(obj, NetworkStub) and isinstance(obj.state, dict):
        if defer and isinstance(obj.state.get('variables'), list):
            obj.state['variables'] = [_deferred(item, stream) for item in obj.state['variables']]
        plain_arrays(obj.state, stream, seen, defer)
    elif isinstance(obj, dict):
        for key, value in obj.items():
            obj[key] = plain_arrays(value, stream, seen, defer)
    elif isinstance(obj, list):
        obj[:] = [plain_arrays(v, stream, seen, defer) for v in obj]
    elif isinstance(obj, tuple):
        items = [plain_arrays(v, stream, seen, defer) for v in obj]
        if any(a is not b for a, b in zip(items, obj)):
            new = tuple(items) if type(obj) is tuple else type(obj)(*items)
            seen[id(obj)] = (obj, new)
            return new
    return obj


def _deferred(item, stream: PickleFile):
    """A `(name, array)` variable entry with its array deferred if its bytes are still in the file."""
    if type(item) is tuple and len(item) == 2 and isinstance(item[1], PickledArray) and item[1].pending:
        piece, shape, dtype = item[1].pending
        return item[0], DeferredArray(stream, piece, shape, dtype)
    return item


def restricted_load(path_or_file) -> object:
    """Unpickle an NVIDIA TF1 pickle (a path or a binary file) with the allow-list above, streamed from the
    file (one-line `NetworkPickleError`s)."""
    with open_pickle(path_or_file) as f:
        return f.plain(f.load())
