"""NVIDIA's TF1 `Network` state dicts (dnnlib/tflib/network.py: `__getstate__`): reading variables into a built
Keras network and making states to write. Shared by every TF1 family reader and writer."""
from __future__ import annotations

import math
import numbers
import warnings

import numpy as np
import tensorflow as tf

from sg2tf.misc import Scratch, tensor_copy
from sg2tf.nvidia import kwargs as _kwargs
from sg2tf.nvidia import names
from sg2tf.nvidia.errors import is_name, show
from sg2tf.nvidia.unpickler import DeferredArray, NetworkPickleError, NetworkStub

STATE_VERSION = 4  # what NVIDIA's StyleGAN2 dnnlib writes
MAX_COMPONENT_DEPTH = 4  # G_main -> synthesis / mapping: 1
STATE_NAMES = ('name', 'build_func_name')


def describe(state: dict) -> str:
    return f"network {show(state.get('name'))} (build function {show(state.get('build_func_name'))})"


def validate(stub, source: str, where: str = 'the network', _path: tuple = ()) -> dict:
    """The state dict of a Network stub, its structure checked before anything reads it: a dict with a str
    name and build function, an int version, static kwargs passing `kwargs.check`, components a dict of Networks
    (none containing itself, at most MAX_COMPONENT_DEPTH levels) and a variable list. One line naming where."""
    if not isinstance(stub, NetworkStub):
        raise NetworkPickleError(f'{source}: {where} is a {type(stub).__name__}, expected a dnnlib Network')
    state = stub.state
    if not isinstance(state, dict):
        raise NetworkPickleError(f'{source}: {where} is a Network without a state dict')
    for key in STATE_NAMES:
        if key in state and not is_name(state[key]):
            raise NetworkPickleError(f'{source}: {where} has {key} {show(state[key])}, expected a name (a str)')
    if not is_name(state.get('build_func_name')):
        raise NetworkPickleError(f'{source}: {where} has no build_func_name')
    where = f"{where} {state.get('name', state['build_func_name'])!r}"
    version = state.get('version')
    if not (isinstance(version, numbers.Integral) and not isinstance(version, bool)):
        raise NetworkPickleError(f'{source}: {where} has state version {show(version)}, expected an integer')
    _kwargs.check(state.get('static_kwargs') or {}, f'{source}: {where}')
    if not isinstance(state.get('variables'), (list, tuple)):
        raise NetworkPickleError(f'{source}: {where} has no variable list (got {show(state.get("variables"))})')
    comps = state.get('components') or {}
    if not isinstance(comps, dict):
        raise NetworkPickleError(f'{source}: {where} has components of type {type(comps).__name__}, expected a '
                                 f'dict of Networks')
    path = _path + (id(stub),)
    for key, comp in comps.items():
        if not is_name(key, 64):
            raise NetworkPickleError(f'{source}: {where} has a component named {show(key)}')
        if id(comp) in path or len(path) > MAX_COMPONENT_DEPTH:
            raise NetworkPickleError(f'{source}: component {key!r} of {where} contains itself or nests more than '
                                     f'{MAX_COMPONENT_DEPTH} levels deep')
        validate(comp, source, f'component {key!r} of {where}', path)
    return state


def components(state: dict, source: str) -> dict[str, dict]:
    """{key: component state} of a Network state, each checked to be a Network."""
    comps = state.get('components') or {}
    if not isinstance(comps, dict):
        raise NetworkPickleError(f'{source}: {describe(state)} has malformed components')
    out = {}
    for key, comp in comps.items():
        if not isinstance(comp, NetworkStub) or not isinstance(comp.state, dict):
            raise NetworkPickleError(f'{source}: component {show(key)} of {describe(state)} is not a Network')
        out[key] = comp.state
    return out


def static_kwargs(state: dict, source: str) -> dict:
    """A state's static kwargs (a copy), checked by `kwargs.check`."""
    return dict(_kwargs.check(state.get('static_kwargs') or {}, f'{source}: {describe(state)}'))


def generator_kwargs(state: dict, source: str, synthesis_func: str) -> tuple[dict, dict, dict]:
    """(own, synthesis, mapping) static kwargs of a generator state whose components are `synthesis` (built by
    `synthesis_func`) and `mapping` (`G_mapping`); a component without kwargs has the generator's (NVIDIA's
    G_main / G_style pass theirs on)."""
    comps = components(state, source)
    if set(comps) != set(names.COMPONENTS):
        raise NetworkPickleError(f'{source}: {describe(state)} has components {sorted(comps)}, expected '
                                 f"'synthesis' and 'mapping'")
    funcs = {key: comps[key].get('build_func_name') for key in names.COMPONENTS}
    if funcs != {'synthesis': synthesis_func, 'mapping': 'G_mapping'}:
        raise NetworkPickleError(f"{source}: not supported yet: {describe(state)} with synthesis "
                                 f"{funcs['synthesis']!r} and mapping {funcs['mapping']!r}")
    own = static_kwargs(state, source)
    return own, static_kwargs(comps['synthesis'], source) or own, static_kwargs(comps['mapping'], source) or own


def stored_variables(state: dict, source: str, prefix: str = '') -> dict[str, np.ndarray | DeferredArray]:
    """Own variables, then the components' as `<key>/<local name>`, as stored (NVIDIA layout): NumPy arrays of
    plain numbers (the unpickler only makes C-contiguous ones backed by their bytes), Python/NumPy scalars, or
    `DeferredArray`s still in the file. Nothing is converted or read yet: `fill` checks names and shapes first."""
    out = {}
    variables = state.get('variables')
    if not isinstance(variables, (list, tuple)):
        raise NetworkPickleError(f'{source}: {describe(state)} has no variable list')
    for item in variables:
        if not (isinstance(item, (list, tuple)) and len(item) == 2 and is_name(item[0])):
            raise NetworkPickleError(f'{source}: {describe(state)}: malformed variable entry {show(item)}')
        name, value = item
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            value = np.float32(value)
        if not isinstance(value, (np.ndarray, np.generic, DeferredArray)) or not np.issubdtype(value.dtype, np.number):
            raise NetworkPickleError(f'{source}: variable {show(prefix + name)}: expected a float array, got '
                                     f'{type(value).__name__}')
        if prefix + name in out:
            raise NetworkPickleError(f'{source}: variable {show(prefix + name)} is stored twice')
        out[prefix + name] = value
    for key, comp in components(state, source).items():
        out.update(stored_variables(comp, source, prefix=f'{prefix}{key}/'))
    return out


def pop_lod(stored: dict, source: str, net_name: str) -> None:
    """Remove the progressive-growing `lod` variables; only fully grown networks (lod 0) are accepted."""
    for name in [n for n in stored if n == 'lod' or n.endswith('/lod')]:
        value = stored.pop(name)
        if np.shape(value) != ():
            raise NetworkPickleError(f'{source}: {net_name}: {name} has shape {list(np.shape(value))}, expected a '
                                     f'scalar')
        lod = float(value)
        if lod != 0.0:
            raise NetworkPickleError(f'{source}: {net_name}: {name} = {lod}: networks in the middle of progressive '
                                     f'growing are not supported (only lod = 0)')


# -- the size a state's kwargs imply, before anything is built --------------------------------------------------------
_G_FUNCS = ('G_main', 'G_style')
_SYNTHESIS_FUNCS = ('G_synthesis_stylegan2', 'G_synthesis_stylegan_revised', 'G_synthesis')
_D_FUNCS = ('D_stylegan2', 'D_stylegan', 'D_basic', 'D_main')


def merged_kwargs(state: dict) -> dict:
    """The components' static kwargs overridden by the network's own (what the family readers combine)."""
    out = {}
    for comp in (state.get('components') or {}).values():
        out.update(comp.state.get('static_kwargs') or {})
    out.update(state.get('static_kwargs') or {})
    return out


def min_parameters(state: dict) -> int:
    """A lower bound on the number of values the network a (validated) state describes stores, from its
    kwargs alone: every family has 3x3 convolutions between the channel counts of consecutive resolutions
    (`nf(stage) = clip(fmap_base / 2**(stage * fmap_decay), fmap_min, fmap_max)`, NVIDIA's `nf()`), a generator has
    per-layer style weights [dlatent, channels], noise buffers [1, 1, res, res] and a mapping network of
    `mapping_layers` dense layers, a discriminator an `4x4/Dense0` [16 nf(1), nf(0)]. Missing kwargs take the
    smallest default of any family, so a real file never stores fewer values than this."""
    func = state.get('build_func_name')
    k = merged_kwargs(state)
    get = lambda key, default: default if k.get(key) is None else k[key]  # noqa: E731
    base, decay = get('fmap_base', 8192), get('fmap_decay', 1.0)
    fmin, fmax = get('fmap_min', 1), get('fmap_max', 512)

    def nf(stage: int) -> int:
        return max(1, min(max(int(base / 2.0 ** (stage * decay)), fmin), fmax))
    log2 = int(math.log2(get('resolution', 1024)))
    latent, dlatent, labels = get('latent_size', 512), get('dlatent_size', 512), get('label_size', 0)
    total = 0
    if func in _G_FUNCS + _SYNTHESIS_FUNCS + _D_FUNCS:
        total += 9 * nf(1) * nf(1) + sum(9 * nf(r - 2) * nf(r - 1) for r in range(3, log2 + 1))
        total += get('num_channels', 1) * nf(log2 - 1)
    if func in _G_FUNCS + _SYNTHESIS_FUNCS:
        total += dlatent * sum(nf(r - 1) for r in range(2, log2 + 1))
        if get('use_noise', True):
            total += 16 + sum(2 * 4 ** r for r in range(3, log2 + 1))
    if func in _G_FUNCS + ('G_mapping',):
        fmaps, layers = get('mapping_fmaps', min(dlatent, 512)), get('mapping_layers', 1)
        total += latent * dlatent if layers == 1 else \
            fmaps * (latent + dlatent) + max(layers - 2, 0) * fmaps * fmaps
        total += labels * min(latent, dlatent, fmaps, get('label_fmaps', fmaps))
    if func in _D_FUNCS:
        group = k.get('mbstd_group_size', 4)
        total += 16 * nf(1) * nf(0) + (9 * nf(1) * get('mbstd_num_features', 0) if group is None or group > 1 else 0)
        total += labels * min(nf(0), get('mapping_fmaps', nf(0)))
    return total


def check_size(state: dict, stored: dict, source: str, net_name: str) -> None:
    """Refuse kwargs that describe a network far larger than the values the file stores (built, it would take
    memory and time no file of this size justifies): checked before building."""
    count = sum(int(np.size(v)) for v in stored.values())
    needed = min_parameters(state)
    if needed > 2 * count + (1 << 20):
        raise NetworkPickleError(f'{source}: {net_name}: the static kwargs describe a network of at least '
                                 f'{needed:,} values but the file stores {count:,}: refused before building it')


def _as_float32(value) -> np.ndarray:
    """A stored variable as a float32 NumPy array, a `DeferredArray` read from the file now."""
    return np.asarray(value.read() if isinstance(value, DeferredArray) else value, dtype=np.float32)


class InitialValues:
    """The stored variables as initial values of the Keras weights (`layers.weights_to_be_filled(source)`): each
    weight is created holding its value, read from the file just then, instead of zeros assigned over later.
    A float32 value still in the file is read into one reused buffer (`misc.Scratch`) and copied from there into
    TensorFlow (`misc.tensor_copy`), not into a new NumPy array per weight first. Only a stored value of the
    weight's own name and shape is given; whatever is not (or fails to read) is left to `fill`, which then names
    the problem exactly as without this."""

    def __init__(self, stored: dict, root_name: str):
        self.stored, self.root_name = stored, root_name
        self.given: set[str] = set()
        self.nonfinite: set[str] = set()
        self.scratch = Scratch()

    def __call__(self, path: str, shape: tuple) -> tf.Tensor | np.ndarray | None:
        name = names.relative_name(path, self.root_name)
        value = self.stored.get(name)
        if value is None or name in self.given or tuple(np.shape(value)) != names.nvidia_shape(name, shape):
            return None
        try:
            in_place = (isinstance(value, DeferredArray) and value.dtype == np.float32 and not names.is_nchw(name))
            value = value.read_into(self.scratch.take(value.piece.size)) if in_place else _as_float32(value)
        except Exception:  # noqa: BLE001 - fill() reads it again and reports it
            return None
        if not np.isfinite(value).all():
            self.nonfinite.add(name)
        self.given.add(name)
        return tensor_copy(value) if in_place else names.to_keras_layout(name, value)


def fill(model, stored: dict, source: str, net_name: str, strict: bool = False,
         initial: InitialValues | None = None) -> None:
    """Assign every stored variable; unknown, missing or wrongly shaped ones are errors naming the variable
    (checked before any value is converted). A `DeferredArray` is read just before its assignment and let go
    after, so one variable at a time is held as NumPy. Those `initial` gave the weights at creation are not
    assigned again. NaN or Inf values: a warning naming the first such variable, an error with `strict`."""
    table = names.nvidia_variables(model)
    for name, value in stored.items():
        if name not in table:
            raise NetworkPickleError(f'{source}: {net_name}: variable {name!r} {list(np.shape(value))} is not part '
                                     f'of the network its static kwargs describe')
        expected = names.nvidia_shape(name, table[name].shape)
        if tuple(np.shape(value)) != expected:
            raise NetworkPickleError(f'{source}: {net_name}: variable {name!r} has shape {list(np.shape(value))}, '
                                     f'expected {list(expected)} from the static kwargs')
    missing = [name for name in table if name not in stored]
    if missing:
        raise NetworkPickleError(f'{source}: {net_name}: the pickle lacks variable(s) {", ".join(missing)}')
    given = initial.given if initial is not None else set()
    bad = []
    for name, value in stored.items():
        if name in given:
            if name in initial.nonfinite:
                bad.append(name)
            continue
        value = _as_float32(value)
        if not np.isfinite(value).all():
            bad.append(name)
        table[name].assign(names.to_keras_layout(name, value))
    if bad:
        msg = (f'{source}: {net_name}: variable {bad[0]!r}{f" and {len(bad) - 1} more" if len(bad) > 1 else ""} '
               f'hold NaN or Inf values (the network computes NaN images)')
        if strict:
            raise NetworkPickleError(msg)
        warnings.warn(msg, stacklevel=4)


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
