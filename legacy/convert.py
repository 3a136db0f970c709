"""NVIDIA Network state dicts -> sg2tf Keras networks (static kwargs + every stored variable)."""
from __future__ import annotations

import inspect
import warnings

import numpy as np

from legacy.unpickler import NetworkPickleError, NetworkStub
from sg2tf import nvnames
from sg2tf.networks import Discriminator, Generator, MappingNetwork, SynthesisNetwork

# Static kwargs that change nothing in a fully grown E/F network's forward pass, or that run() takes per call.
_IGNORED_KWARGS = {'randomize_noise', 'dtype', 'is_training', 'is_validation', 'is_template_graph',
                   'return_dlatents', 'truncation_psi_val', 'truncation_cutoff_val', 'components',
                   'mapping_func', 'synthesis_func', 'structure', 'func_name', 'lod', 'use_noise'}

_UNSUPPORTED = {
    'G_style': 'a StyleGAN1 / StyleGAN2 config-A generator (G_style)',
    'G_synthesis_stylegan_revised': 'a StyleGAN2 config B-D generator (G_synthesis_stylegan_revised, '
                                    'progressive growing)',
    'G_synthesis': 'a StyleGAN1 or StyleGAN2-ADA synthesis network (G_synthesis)',
    'D_basic': 'a StyleGAN1 / StyleGAN2 config-A discriminator (D_basic)',
    'D_stylegan': 'a StyleGAN2 config B-D discriminator (D_stylegan)',
    'D_main': 'a StyleGAN2-ADA (TF) discriminator (D_main)',
}


def _kwarg_names(cls) -> set[str]:
    return {p for p in inspect.signature(cls.__init__).parameters if p not in ('self', 'kwargs', 'name')}


def _select(kwargs: dict, cls, exclude=()) -> dict:
    keys = _kwarg_names(cls) - set(exclude)
    return {k: v for k, v in kwargs.items() if k in keys}


def _warn_unknown(where: str, kwargs: dict, *classes):
    known = set().union(*(_kwarg_names(c) for c in classes)) | _IGNORED_KWARGS
    unknown = sorted(set(kwargs) - known)
    if unknown:
        warnings.warn(f'{where}: ignoring static kwargs sg2tf does not use: {", ".join(unknown)}', stacklevel=3)
    dtype = kwargs.get('dtype', 'float32')
    if dtype != 'float32':
        warnings.warn(f'{where}: static dtype {dtype!r}; sg2tf computes in float32', stacklevel=3)


def _describe(state: dict) -> str:
    return f"network {state.get('name')!r} (build function {state.get('build_func_name')!r})"


def _check_supported(state: dict, source: str):
    func = state.get('build_func_name')
    version = state.get('version')
    if version == 5:
        raise NetworkPickleError(f'{source}: not supported yet: a StyleGAN2-ADA (TF) pickle (Network state '
                                 f'version 5, {_describe(state)})')
    if version not in (2, 3, 4):
        raise NetworkPickleError(f'{source}: unknown Network state version {version!r} in {_describe(state)}')
    if func in _UNSUPPORTED:
        raise NetworkPickleError(f'{source}: not supported yet: {_UNSUPPORTED[func]}')
    for key, comp in (state.get('components') or {}).items():
        _check_supported(comp.state, source)


def _stored_variables(state: dict, source: str, prefix: str = '') -> dict[str, np.ndarray]:
    """Own variables, then components' as `<key>/<local name>` (SPEC 1.3). Values as float32 arrays."""
    out = {}
    variables = state.get('variables')
    if not isinstance(variables, (list, tuple)):
        raise NetworkPickleError(f'{source}: {_describe(state)} has no variable list')
    for item in variables:
        if not (isinstance(item, (list, tuple)) and len(item) == 2 and isinstance(item[0], str)):
            raise NetworkPickleError(f'{source}: {_describe(state)}: malformed variable entry {str(item)[:80]}')
        name, value = item
        if not isinstance(value, (np.ndarray, np.floating, float, int)) or \
                not np.issubdtype(np.asarray(value).dtype, np.number):
            raise NetworkPickleError(f'{source}: variable {prefix}{name}: expected a float array, got '
                                     f'{type(value).__name__}')
        out[prefix + name] = np.asarray(value, dtype=np.float32)
    for key, comp in (state.get('components') or {}).items():
        if not isinstance(comp, NetworkStub):
            raise NetworkPickleError(f'{source}: component {key!r} of {_describe(state)} is not a Network')
        out.update(_stored_variables(comp.state, source, prefix=f'{prefix}{key}/'))
    return out


def _fill(model, stored: dict[str, np.ndarray], source: str, net_name: str):
    """Assign every stored variable; unknown, missing or wrongly shaped ones are errors naming the variable."""
    table = nvnames.nvidia_variables(model)
    for name, value in stored.items():
        if name not in table:
            raise NetworkPickleError(f'{source}: {net_name}: variable {name!r} {list(value.shape)} is not part of '
                                     f'the network its static kwargs describe')
        expected = nvnames.to_nvidia_layout(name, np.zeros(table[name].shape, np.float32)).shape
        if tuple(value.shape) != tuple(expected):
            raise NetworkPickleError(f'{source}: {net_name}: variable {name!r} has shape {list(value.shape)}, '
                                     f'expected {list(expected)} from the static kwargs')
    missing = [name for name in table if name not in stored]
    if missing:
        raise NetworkPickleError(f'{source}: {net_name}: the pickle lacks variable(s) {", ".join(missing)}')
    for name, value in stored.items():
        table[name].assign(nvnames.to_keras_layout(name, value))


def _pop_lod(stored: dict, source: str, net_name: str):
    for name in [n for n in stored if n == 'lod' or n.endswith('/lod')]:
        lod = float(stored.pop(name))
        if lod != 0.0:
            raise NetworkPickleError(f'{source}: {net_name}: {name} = {lod}: networks in the middle of progressive '
                                     f'growing are not supported (only lod = 0)')


def _generator(state: dict, source: str) -> Generator:
    comps = state.get('components') or {}
    if set(comps) != {'synthesis', 'mapping'}:
        raise NetworkPickleError(f'{source}: {_describe(state)} has components {sorted(comps)}, expected '
                                 f"'synthesis' and 'mapping'")
    syn, mapping = comps['synthesis'].state, comps['mapping'].state
    if syn.get('build_func_name') != 'G_synthesis_stylegan2' or mapping.get('build_func_name') != 'G_mapping':
        raise NetworkPickleError(f"{source}: not supported yet: generator with synthesis "
                                 f"{syn.get('build_func_name')!r} and mapping {mapping.get('build_func_name')!r}")
    g_kwargs = dict(state.get('static_kwargs') or {})
    syn_kwargs = dict(syn.get('static_kwargs') or g_kwargs)
    map_kwargs = dict(mapping.get('static_kwargs') or g_kwargs)
    _warn_unknown(f"{source}: {state.get('name')}", {**g_kwargs, **syn_kwargs, **map_kwargs},
                  Generator, SynthesisNetwork, MappingNetwork)
    shared = ('resolution', 'num_channels', 'label_size', 'latent_size', 'dlatent_size', 'dlatent_broadcast')
    kwargs = _select({**syn_kwargs, **map_kwargs, **g_kwargs}, Generator, exclude=('mapping_kwargs',
                                                                                     'synthesis_kwargs'))
    kwargs.pop('nvidia_static_kwargs', None)
    G = Generator(**kwargs, mapping_kwargs=_select(map_kwargs, MappingNetwork, exclude=shared),
                  synthesis_kwargs=_select(syn_kwargs, SynthesisNetwork, exclude=shared),
                  nvidia_static_kwargs=g_kwargs, name=str(state.get('name', 'G')))
    return G


def network_from_state(stub: NetworkStub, source: str):
    """Build the sg2tf network a Network stub describes and fill every weight from its stored variables."""
    state = stub.state
    _check_supported(state, source)
    func = state.get('build_func_name')
    name = str(state.get('name', func))
    kwargs = dict(state.get('static_kwargs') or {})
    try:
        if func == 'G_main':
            model = _generator(state, source)
        elif func == 'D_stylegan2':
            _warn_unknown(f'{source}: {name}', kwargs, Discriminator)
            model = Discriminator(**_select(kwargs, Discriminator), nvidia_static_kwargs=kwargs, name=name)
        elif func == 'G_synthesis_stylegan2':
            _warn_unknown(f'{source}: {name}', kwargs, SynthesisNetwork)
            model = SynthesisNetwork(**_select(kwargs, SynthesisNetwork), name=name)
        elif func == 'G_mapping':
            _warn_unknown(f'{source}: {name}', kwargs, MappingNetwork)
            model = MappingNetwork(**_select(kwargs, MappingNetwork), name=name)
        else:
            raise NetworkPickleError(f'{source}: not supported: unknown build function {func!r} of network {name!r}')
        model.build()
    except NetworkPickleError:
        raise
    except (ValueError, TypeError) as e:
        raise NetworkPickleError(f'{source}: {name}: invalid static kwargs ({e})') from None
    stored = _stored_variables(state, source)
    _pop_lod(stored, source, name)
    _fill(model, stored, source, name)
    return model
