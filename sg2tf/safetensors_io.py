"""Networks as `.safetensors` files: pickle-free sharing (the `safetensors` package's format).

Every weight is stored under its NVIDIA name (`mapping/Dense0/weight`, `synthesis/noise0`, ...: the names of
`Gs.vars`) in NVIDIA's layout; the file's metadata holds the network's Keras config as JSON and its class's
registered name, so loading rebuilds the right class for any family. Loading checks the whole header (names,
dtypes, shapes, offsets against the file length, and against the network the config describes) before
reading any tensor data.

    save_safetensors(Gs, 'G.safetensors'); Gs2 = load_safetensors('G.safetensors')
"""
from __future__ import annotations

import json
import math
import os

import numpy as np

FORMAT = 'sg2tf'
MAX_HEADER_BYTES = 100 * 2**20  # the safetensors package's own limit on the JSON header
# safetensors dtype codes this reader accepts -> NumPy dtype (sg2tf networks hold float32 weights only)
DTYPES = {'F32': np.dtype('<f4')}


class SafetensorsError(ValueError):
    """A file that is not a loadable sg2tf safetensors network; the message is one line naming the problem."""


def _variables(model) -> dict:
    from sg2tf.nvidia import names
    return names.nvidia_variables(model)


def save_safetensors(model, path: str) -> None:
    """Write a built sg2tf network to `path` (not atomic by itself: callers pass a temporary path)."""
    import keras
    from safetensors.numpy import save_file

    import sg2tf
    from sg2tf.nvidia import names
    tensors = {}
    for name, v in _variables(model).items():
        if np.dtype(v.dtype) != np.float32:
            raise SafetensorsError(f'{model.name}/{name}: dtype {v.dtype} is not float32')
        tensors[name] = names.to_nvidia_layout(name, v.numpy()).copy(order='C')  # (ascontiguousarray makes 0-d 1-d)
    registered = keras.saving.get_registered_name(type(model))
    if keras.saving.get_registered_object(registered) is not type(model):
        raise SafetensorsError(f'{type(model).__name__} is not a registered Keras class; cannot rebuild it')
    metadata = {'format': FORMAT, 'sg2tf_version': sg2tf.__version__, 'registered_name': registered,
                'config': json.dumps(model.get_config(), sort_keys=True)}
    save_file(tensors, path, metadata=metadata)


def read_header(path: str) -> tuple[dict[str, str], dict[str, tuple[np.dtype, tuple[int, ...], int, int]]]:
    """(metadata, {name: (dtype, shape, begin, end)}) of a safetensors file, every entry checked against the
    format (8-byte little-endian header length, JSON header, tensor data packed in order without gaps to the
    end of the file); reads only the header."""
    size = os.path.getsize(path)
    with open(path, 'rb') as f:
        head = f.read(8)
        if len(head) < 8:
            raise SafetensorsError(f'{path}: {size} bytes, too short for a safetensors file')
        n = int.from_bytes(head, 'little')
        if n > min(MAX_HEADER_BYTES, size - 8):
            raise SafetensorsError(f'{path}: header length {n} exceeds the file ({size} bytes) or '
                                   f'{MAX_HEADER_BYTES} bytes; not a safetensors file')
        try:
            header = json.loads(f.read(n).decode('utf-8'))
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise SafetensorsError(f'{path}: header is not JSON; not a safetensors file') from None
    if not isinstance(header, dict):
        raise SafetensorsError(f'{path}: header is a JSON {type(header).__name__}, expected an object')
    metadata = header.pop('__metadata__', {})
    if not (isinstance(metadata, dict) and all(isinstance(k, str) and isinstance(v, str)
                                               for k, v in metadata.items())):
        raise SafetensorsError(f'{path}: __metadata__ must map strings to strings')
    data_len = size - 8 - n
    entries = {}
    for name, e in header.items():
        if not (isinstance(e, dict) and set(e) == {'dtype', 'shape', 'data_offsets'}):
            raise SafetensorsError(f'{path}: tensor {name!r}: malformed header entry')
        shape, offsets = e['shape'], e['data_offsets']
        if e['dtype'] not in DTYPES:
            raise SafetensorsError(f'{path}: tensor {name!r}: dtype {e["dtype"]!r}, expected one of {list(DTYPES)}')
        if not (isinstance(shape, list) and all(type(d) is int and d >= 0 for d in shape)):
            raise SafetensorsError(f'{path}: tensor {name!r}: malformed shape {str(shape)[:60]}')
        if not (isinstance(offsets, list) and len(offsets) == 2 and all(type(o) is int for o in offsets)
                and 0 <= offsets[0] <= offsets[1] <= data_len):
            raise SafetensorsError(f'{path}: tensor {name!r}: data offsets {str(offsets)[:60]} outside the '
                                   f'{data_len} data bytes (truncated file?)')
        dtype = DTYPES[e['dtype']]
        nbytes = math.prod(shape) * dtype.itemsize
        if offsets[1] - offsets[0] != nbytes:
            raise SafetensorsError(f'{path}: tensor {name!r}: {offsets[1] - offsets[0]} data bytes for shape '
                                   f'{shape} {e["dtype"]} ({nbytes} bytes)')
        entries[name] = (dtype, tuple(shape), offsets[0], offsets[1])
    end = 0
    for name, (_, _, begin, stop) in sorted(entries.items(), key=lambda kv: (kv[1][2], kv[1][3])):
        if begin != end:
            raise SafetensorsError(f'{path}: tensor {name!r} starts at data byte {begin}, expected {end} '
                                   f'(overlapping or gapped data)')
        end = stop
    if end != data_len:
        raise SafetensorsError(f'{path}: tensors end at data byte {end} but the file has {data_len} data bytes')
    return metadata, entries


def _rebuild(path: str, metadata: dict[str, str]):
    """The (unbuilt) network the metadata describes."""
    import keras
    import sg2tf.nvidia  # noqa: F401  (registers every family's Keras classes)
    if metadata.get('format') != FORMAT:
        raise SafetensorsError(f'{path}: metadata format {metadata.get("format")!r}, expected {FORMAT!r} '
                               f'(written by sg2tf-convert)')
    registered = metadata.get('registered_name', '')
    cls = keras.saving.get_registered_object(registered)
    from sg2tf.compat import DnnlibDiscriminatorMixin, DnnlibGeneratorMixin
    if not (isinstance(cls, type) and issubclass(cls, (DnnlibGeneratorMixin, DnnlibDiscriminatorMixin))):
        raise SafetensorsError(f'{path}: class {registered!r} is not an sg2tf generator or discriminator')
    try:
        config = json.loads(metadata.get('config', ''))
        if not isinstance(config, dict):
            raise TypeError('not a JSON object')
        return cls.from_config(config)
    except Exception as e:  # a config the class rejects: any exception type
        raise SafetensorsError(f'{path}: config does not describe a {registered} ({type(e).__name__}: '
                               f'{" ".join(str(e).split())[:160]})') from None


def load_safetensors(path: str):
    """The network stored at `path`, rebuilt from its config, every weight checked before any is read."""
    from safetensors import safe_open

    from sg2tf.nvidia import names
    metadata, entries = read_header(path)
    model = _rebuild(path, metadata)
    table = _variables(model)
    unknown = [n for n in entries if n not in table]
    missing = [n for n in table if n not in entries]
    if unknown or missing:
        raise SafetensorsError(f'{path}: tensors do not match the {type(model).__name__} its config describes ('
                               + '; '.join(f'{what}: {", ".join(ns[:4])}{" ..." if len(ns) > 4 else ""}'
                                           for what, ns in (('unknown', unknown), ('missing', missing)) if ns) + ')')
    for name, var in table.items():
        want = names.nvidia_shape(name, var.shape)
        if entries[name][1] != want:
            raise SafetensorsError(f'{path}: tensor {name!r} has shape {list(entries[name][1])}, expected '
                                   f'{list(want)} from the config')
    with safe_open(path, framework='numpy') as f:
        for name, var in table.items():
            var.assign(names.to_keras_layout(name, f.get_tensor(name)))
    return model
