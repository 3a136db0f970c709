"""NVIDIA's TF1 `Network` state dicts (dnnlib/tflib/network.py: `__getstate__`): reading variables into a built
Keras network and making states to write. Shared by every TF1 family reader and writer."""
from __future__ import annotations

import numpy as np

from sg2tf.nvidia import names
from sg2tf.nvidia.unpickler import NetworkPickleError, NetworkStub

STATE_VERSION = 4  # what NVIDIA's StyleGAN2 dnnlib writes


def describe(state: dict) -> str:
    return f"network {state.get('name')!r} (build function {state.get('build_func_name')!r})"


def components(state: dict, source: str) -> dict[str, dict]:
    """{key: component state} of a Network state, each checked to be a Network."""
    comps = state.get('components') or {}
    if not isinstance(comps, dict):
        raise NetworkPickleError(f'{source}: {describe(state)} has malformed components')
    out = {}
    for key, comp in comps.items():
        if not isinstance(comp, NetworkStub):
            raise NetworkPickleError(f'{source}: component {key!r} of {describe(state)} is not a Network')
        out[key] = comp.state
    return out


def static_kwargs(state: dict, source: str) -> dict:
    kwargs = state.get('static_kwargs') or {}
    if not isinstance(kwargs, dict):
        raise NetworkPickleError(f'{source}: {describe(state)} has static kwargs of type {type(kwargs).__name__}')
    return dict(kwargs)


def stored_variables(state: dict, source: str, prefix: str = '') -> dict[str, np.ndarray]:
    """Own variables, then the components' as `<key>/<local name>`, as float32 arrays (NVIDIA layout)."""
    out = {}
    variables = state.get('variables')
    if not isinstance(variables, (list, tuple)):
        raise NetworkPickleError(f'{source}: {describe(state)} has no variable list')
    for item in variables:
        if not (isinstance(item, (list, tuple)) and len(item) == 2 and isinstance(item[0], str)):
            raise NetworkPickleError(f'{source}: {describe(state)}: malformed variable entry {str(item)[:80]}')
        name, value = item
        if not isinstance(value, (np.ndarray, np.floating, float, int)) or \
                not np.issubdtype(np.asarray(value).dtype, np.number):
            raise NetworkPickleError(f'{source}: variable {prefix}{name}: expected a float array, got '
                                     f'{type(value).__name__}')
        out[prefix + name] = np.asarray(value, dtype=np.float32)
    for key, comp in components(state, source).items():
        out.update(stored_variables(comp, source, prefix=f'{prefix}{key}/'))
    return out


def pop_lod(stored: dict, source: str, net_name: str) -> None:
    """Remove the progressive-growing `lod` variables; only fully grown networks (lod 0) are accepted."""
    for name in [n for n in stored if n == 'lod' or n.endswith('/lod')]:
        lod = float(stored.pop(name))
        if lod != 0.0:
            raise NetworkPickleError(f'{source}: {net_name}: {name} = {lod}: networks in the middle of progressive '
                                     f'growing are not supported (only lod = 0)')


def fill(model, stored: dict[str, np.ndarray], source: str, net_name: str) -> None:
    """Assign every stored variable; unknown, missing or wrongly shaped ones are errors naming the variable."""
    table = names.nvidia_variables(model)
    for name, value in stored.items():
        if name not in table:
            raise NetworkPickleError(f'{source}: {net_name}: variable {name!r} {list(value.shape)} is not part of '
                                     f'the network its static kwargs describe')
        expected = names.nvidia_shape(name, table[name].shape)
        if tuple(value.shape) != expected:
            raise NetworkPickleError(f'{source}: {net_name}: variable {name!r} has shape {list(value.shape)}, '
                                     f'expected {list(expected)} from the static kwargs')
    missing = [name for name in table if name not in stored]
    if missing:
        raise NetworkPickleError(f'{source}: {net_name}: the pickle lacks variable(s) {", ".join(missing)}')
    for name, value in stored.items():
        table[name].assign(names.to_keras_layout(name, value))


def variable_value(name: str, variable) -> np.ndarray | np.float32:
    """A Keras variable as NVIDIA stores it: NVIDIA layout, C-contiguous float32; rank 0 as a NumPy scalar."""
    value = names.to_nvidia_layout(name, variable.numpy())
    return np.float32(value) if value.ndim == 0 else np.ascontiguousarray(value)


def plain(value):
    """Plain Python containers (Keras wraps list/dict attributes of layers in tracking types)."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


def make_state(name: str, build_func: str, kwargs: dict, variables: list, build_module_src: str,
               components: dict | None = None) -> NetworkStub:
    """A Network state with NVIDIA's keys in NVIDIA's order (version 4)."""
    return NetworkStub({'version': STATE_VERSION, 'name': name, 'static_kwargs': plain(kwargs),
                        'components': dict(components or {}), 'build_module_src': build_module_src,
                        'build_func_name': build_func, 'variables': variables})
