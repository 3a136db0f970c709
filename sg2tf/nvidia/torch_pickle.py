"""stylegan2-ada-pytorch snapshots (`network-snapshot-*.pkl`) read without torch and without running anything.

The container is a plain pickle of `{'training_set_kwargs', 'G', 'D', 'G_ema', 'augment_pipe'}` whose modules are
`torch_utils.persistence` objects: `_reconstruct_persistent_obj(meta)` with the class name, the source text of
the module that defines it (NVIDIA's loader execs it; here it stays text) and the module's `__dict__`. Tensors
are `torch._utils._rebuild_tensor_v2(storage, offset, size, stride, ...)` over storages serialized by
`torch.storage._load_from_bytes` in torch's legacy format (five pickles, then each storage's int64 element count
and raw little-endian elements; torch/serialization.py: _legacy_load). Everything becomes NumPy arrays and plain
records (`PersistentObject`).
"""
from __future__ import annotations

import collections
import io
import pickle

import numpy as np

from sg2tf.nvidia.errors import check_opcodes, is_name, show
from sg2tf.nvidia.unpickler import ALLOWED_GLOBALS, EasyDict, NetworkPickleError, PickleFile, RestrictedUnpickler

MAX_MODULE_DEPTH = 32  # modules nested in modules (ADA-PT's Generator: 4 levels)

LEGACY_MAGIC = 0x1950a86a20f9469cfc6c  # torch/serialization.py: MAGIC_NUMBER
LEGACY_PROTOCOL = 1001
# torch storage classes -> little-endian NumPy dtypes (bfloat16 has none and is refused)
STORAGE_DTYPES = {'FloatStorage': '<f4', 'HalfStorage': '<f2', 'DoubleStorage': '<f8', 'LongStorage': '<i8',
                  'IntStorage': '<i4', 'ShortStorage': '<i2', 'CharStorage': '<i1', 'ByteStorage': '<u1',
                  'BoolStorage': '?'}


class PersistentObject:
    """Inert record of a `torch_utils.persistence` object: class name, module source (text), state dict."""

    def __init__(self, meta):
        if not isinstance(meta, dict) or not isinstance(meta.get('class_name'), str) or \
                not isinstance(meta.get('state'), dict):
            raise pickle.UnpicklingError('persistent object without class_name/state')
        if not is_name(meta['class_name']):
            raise pickle.UnpicklingError(f"persistent object with class name {show(meta['class_name'])}")
        self.class_name: str = meta['class_name']
        src = meta.get('module_src')
        self.module_src: str = src if isinstance(src, str) else ''
        self.version = meta.get('version')
        self.state: dict = meta['state']

    def __repr__(self):
        return f'<stylegan2-ada-pytorch {self.class_name}>'

    @property
    def init_kwargs(self) -> dict:
        kwargs = self.state.get('_init_kwargs') or {}
        return dict(kwargs) if isinstance(kwargs, dict) else {}

    def _dict(self, key: str) -> dict:
        value = self.state.get(key) or {}
        return dict(value) if isinstance(value, dict) else {}

    @property
    def modules(self) -> dict:
        return {k: v for k, v in self._dict('_modules').items() if isinstance(v, PersistentObject)}

    def _walk(self, prefix: str = '', _path: tuple = ()):
        """(dotted prefix, module) of this module and every nested one; names must be names, no module may
        contain itself, nesting is bounded."""
        if id(self) in _path or len(_path) > MAX_MODULE_DEPTH:
            raise NetworkPickleError(f'module {show(prefix.rstrip(".") or self.class_name)} contains itself or is '
                                     f'nested more than {MAX_MODULE_DEPTH} levels deep')
        yield prefix, self
        for name, module in self.modules.items():
            if not is_name(name):
                raise NetworkPickleError(f'a module named {show(name)}')
            yield from module._walk(f'{prefix}{name}.', _path + (id(self),))

    def tensors(self, prefix: str = '') -> dict[str, np.ndarray]:
        """Every parameter and buffer, recursively, by dotted name (what `module.state_dict()` lists)."""
        out = {}
        for path, module in self._walk(prefix):
            for key in ('_parameters', '_buffers'):
                for name, value in module._dict(key).items():
                    if not is_name(name):
                        raise NetworkPickleError(f'a tensor named {show(name)} in {show(path or module.class_name)}')
                    if value is not None:
                        if not isinstance(value, np.ndarray):
                            raise NetworkPickleError(f'{path}{name} is a {type(value).__name__}, expected a tensor')
                        out[path + name] = value
        return out

    def classes(self) -> set[str]:
        """Class names of this object and every nested module."""
        return {module.class_name for _, module in self._walk()}


class _Storage:
    """A typed storage's elements, read from its legacy blob."""

    def __init__(self, array: np.ndarray):
        self.array = array


def _ints(value, what: str) -> tuple[int, ...]:
    if not (isinstance(value, (tuple, list)) and len(value) <= 8 and all(type(v) is int for v in value)):
        raise pickle.UnpicklingError(f'tensor {what} {show(value)}')
    return tuple(value)


def _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad=False, backward_hooks=None,
                       metadata=None) -> np.ndarray:
    """`storage[offset + sum(i_k * stride_k)]` for every index, copied into a C-contiguous array. A tensor holds
    at most its storage's elements and no index is repeated (stride 0 is refused), so no tensor is larger than
    the bytes the file stores for it."""
    if not isinstance(storage, _Storage):
        raise pickle.UnpicklingError('tensor without a storage')
    size, stride = _ints(size, 'size'), _ints(stride, 'stride')
    offset = storage_offset if type(storage_offset) is int else -1
    if len(size) != len(stride) or offset < 0 or any(s < 0 for s in size) or any(s < 0 for s in stride):
        raise pickle.UnpicklingError(f'bad tensor geometry: size {list(size)}, stride {list(stride)}, '
                                     f'offset {show(storage_offset)}')
    data = storage.array
    numel = int(np.prod(size, dtype=object))
    if any(st == 0 for n, st in zip(size, stride) if n > 1) or numel > data.size:
        raise pickle.UnpicklingError(f'tensor of size {list(size)} (stride {list(stride)}) repeats elements of its '
                                     f'storage of {data.size} elements')
    if 0 in size:
        return np.zeros(size, data.dtype)
    last = offset + sum((n - 1) * st for n, st in zip(size, stride))
    if last >= data.size:
        raise pickle.UnpicklingError(f'tensor of size {list(size)} (stride {list(stride)}, offset {offset}) '
                                     f'reads past its storage of {data.size} elements')
    view = np.lib.stride_tricks.as_strided(data[offset:], shape=size,
                                           strides=tuple(st * data.itemsize for st in stride), writeable=False)
    return np.ascontiguousarray(view)


def _rebuild_parameter(tensor, requires_grad=False, backward_hooks=None, *state) -> np.ndarray:
    if not isinstance(tensor, np.ndarray):
        raise pickle.UnpicklingError('parameter without a tensor')
    return tensor


class _StorageType:
    def __init__(self, name: str):
        self.name = name


class _BlobUnpickler(RestrictedUnpickler):
    """The object pickle inside a storage blob: one persistent id naming a typed storage."""
    allowed_globals = {('torch', name): _StorageType(name) for name in STORAGE_DTYPES}
    what = 'stylegan2-ada-pytorch storages'

    def __init__(self, file, source):
        super().__init__(file, source)
        self.storages: dict[str, tuple[str, int]] = {}

    def persistent_load(self, pid):
        if not (isinstance(pid, tuple) and len(pid) >= 5 and pid[0] == 'storage'):
            raise pickle.UnpicklingError(f'unexpected persistent id {str(pid)[:60]}')
        storage_type, key, location, numel = pid[1:5]
        if not isinstance(storage_type, _StorageType):
            raise pickle.UnpicklingError(f'storage of unsupported type {str(storage_type)[:40]}')
        if location != 'cpu':
            raise NetworkPickleError(f'{self.source}: a storage on device {str(location)[:20]!r}: this snapshot was '
                                     f'saved with tensors on a GPU; save it from CPU tensors (.cpu()) to read it '
                                     f'without torch')
        if not isinstance(key, str) or type(numel) is not int or numel < 0:
            raise pickle.UnpicklingError('malformed storage id')
        self.storages[key] = (storage_type.name, numel)
        return key


def _load_from_bytes(blob) -> _Storage:
    """torch.storage._load_from_bytes: one storage in torch's legacy serialization format. The storage's
    elements are a view of the blob (no copy)."""
    if not isinstance(blob, (bytes, bytearray)):
        raise pickle.UnpicklingError('storage blob is not bytes')
    f = io.BytesIO(blob)
    header = _SafeHeader(f)

    def load(unpickler):
        check_opcodes(f, 'storage', 'storage blob')
        return unpickler.load()
    if load(header) != LEGACY_MAGIC or load(header) != LEGACY_PROTOCOL:
        raise pickle.UnpicklingError('storage blob is not in torch\'s legacy format (bad magic or protocol)')
    sys_info = load(header)
    if not isinstance(sys_info, dict) or sys_info.get('little_endian', False) is not True:
        raise pickle.UnpicklingError('storage blob is not little-endian')
    objects = _BlobUnpickler(f, 'storage')
    key = load(objects)
    keys = load(header)
    if not isinstance(keys, list) or keys != [key] or key not in objects.storages:
        raise pickle.UnpicklingError('storage blob does not hold exactly one storage')
    type_name, numel = objects.storages[key]
    dtype = np.dtype(STORAGE_DTYPES[type_name])
    count = f.read(8)
    if len(count) != 8 or int.from_bytes(count, 'little', signed=True) != numel:
        raise pickle.UnpicklingError(f'storage declares {numel} elements but its data header disagrees')
    start, nbytes = f.tell(), numel * dtype.itemsize
    if len(blob) - start < nbytes:
        raise pickle.UnpicklingError(f'storage data truncated: {len(blob) - start} of {nbytes} bytes')
    return _Storage(np.frombuffer(blob, dtype=dtype, count=numel, offset=start))


class _SafeHeader(RestrictedUnpickler):
    """The plain pickles of a storage blob's header (numbers, a dict, a list): no globals at all."""
    allowed_globals: dict = {}
    what = 'stylegan2-ada-pytorch storage headers'

    def __init__(self, file):
        super().__init__(file, 'storage')


def _reconstruct_persistent_obj(meta) -> PersistentObject:
    return PersistentObject(meta)


class SnapshotUnpickler(RestrictedUnpickler):
    """The snapshot's top-level pickle: exactly the globals stylegan2-ada-pytorch snapshots reference."""
    allowed_globals = {
        ('torch_utils.persistence', '_reconstruct_persistent_obj'): _reconstruct_persistent_obj,
        ('torch._utils', '_rebuild_tensor_v2'): _rebuild_tensor_v2,
        ('torch._utils', '_rebuild_parameter'): _rebuild_parameter,
        ('torch._utils', '_rebuild_parameter_with_state'): _rebuild_parameter,
        ('torch.storage', '_load_from_bytes'): _load_from_bytes,
        ('collections', 'OrderedDict'): collections.OrderedDict,
        ('dnnlib.util', 'EasyDict'): EasyDict,
        **{key: value for key, value in ALLOWED_GLOBALS.items() if key[0].startswith('numpy')},
    }
    what = 'stylegan2-ada-pytorch snapshots'

    def __init__(self, file: PickleFile | io.BytesIO, source: str):
        super().__init__(file, source)
        # Tensors are copies of storage slices: together at most twice the file (storages may be shared).
        size = file.size if isinstance(file, PickleFile) else len(file.getbuffer())
        self.budget = 2 * size + (1 << 20)
        self.allowed_globals = {**type(self).allowed_globals,
                                ('torch._utils', '_rebuild_tensor_v2'): self._rebuild_tensor}

    def _rebuild_tensor(self, *args, **kwargs) -> np.ndarray:
        tensor = _rebuild_tensor_v2(*args, **kwargs)
        self.budget -= tensor.nbytes
        if self.budget < 0:
            raise NetworkPickleError(f'{self.source}: refused: the snapshot\'s tensors repeat its stored data '
                                     f'(more than twice the file\'s size)')
        return tensor


MARKERS = ('torch_utils.persistence', '_reconstruct_persistent_obj')  # names only snapshots reference


def is_torch_snapshot(data: bytes) -> bool:
    """Whether a pickle's bytes reference stylegan2-ada-pytorch's persistence module (cheap sniff; the
    allow-list, not this test, is what keeps loading safe). A streamed file: `PickleFile.check(MARKERS)`."""
    return any(marker.encode() in data for marker in MARKERS)


def is_torch_zip(data: bytes) -> bool:
    return data[:4] == b'PK\x03\x04'


def load_snapshot(f: PickleFile) -> dict:
    """The snapshot dict with PersistentObject networks and NumPy tensors, unpickled from the file (C unpickler:
    storages are read as they come; the opcode pass has checked every size they declare)."""
    source = f.source
    obj = f.plain(f.load(SnapshotUnpickler))
    if not isinstance(obj, dict):
        raise NetworkPickleError(f'{source}: not a stylegan2-ada-pytorch snapshot: it holds a {type(obj).__name__}, '
                                 f'expected a dict with G, D, G_ema')
    return obj
