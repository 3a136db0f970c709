"""StyleGAN (v1) and StyleGAN2 config A (NVIDIA training/networks_stylegan.py: G_style, G_mapping, G_synthesis,
D_basic): the static-kwargs tables, the readers (Network state -> Keras network) and the writers (back)."""
from __future__ import annotations

import warnings

import numpy as np

from sg2tf import arch
from sg2tf.nvidia import names, tfstate
from sg2tf.nvidia.kwargs import KwargsTable
from sg2tf.nvidia.unpickler import NetworkPickleError, NetworkStub
from sg2tf.stylegan1 import Discriminator, Generator, MappingNetwork, SynthesisNetwork

NAME = 'StyleGAN1 / StyleGAN2 config A'

# NVIDIA's TF1 `Network.__setstate__` execs `build_module_src` and calls `build_func_name` from it. sg2tf has no
# TF1 module of its own for this family and NVIDIA's networks_stylegan.py cannot ship with it (licence), so by
# default the pickle carries this stub: exec'ing it stops with an explanation. Readers that never exec the source
# (sg2tf) are unaffected.
BUILD_MODULE_SRC = '''\
"""Written by sg2tf: StyleGAN1 / StyleGAN2 config-A networks (G_style, G_mapping, G_synthesis, D_basic of NVIDIA's
training/networks_stylegan.py) without their build module."""
raise ImportError(
    "This pickle was written by sg2tf without NVIDIA's training/networks_stylegan.py, which sg2tf cannot ship: "
    "NVIDIA's TF1 code cannot rebuild these networks from it. sg2tf reads the file as it is; for NVIDIA's TF1 "
    "code, re-save it with your copy of the module embedded: "
    "sg2tf.save_network_pkl(path, G, D, Gs, build_module_src=open('training/networks_stylegan.py').read()).")
'''
_DEFAULT_SRC_WARNING = ("sg2tf: writing StyleGAN1 networks without NVIDIA's training/networks_stylegan.py: NVIDIA's "
                        "TF1 code cannot load the file (sg2tf can); pass "
                        "build_module_src=open('training/networks_stylegan.py').read() to embed it")

# NVIDIA's defaults, grouped by the sg2tf argument they fill, in the order NVIDIA's scripts pass them.
_SHAPE = {'num_channels': 3, 'resolution': 1024, 'label_size': 0}       # from the dataset, always passed
_LATENTS = {'latent_size': 512, 'dlatent_size': 512}
_SYNTHESIS = {'fmap_base': 8192, 'fmap_decay': 1.0, 'fmap_max': 512, 'nonlinearity': 'lrelu', 'use_wscale': True,
              'use_pixel_norm': False, 'use_instance_norm': True, 'fused_scale': 'auto', 'blur_filter': [1, 2, 1]}
# G_synthesis switches sg2tf builds only at NVIDIA's default (other values change the variables).
_FIXED = {'use_styles': True, 'const_input_layer': True, 'use_noise': True}
_MAPPING = {'mapping_layers': 8, 'mapping_fmaps': 512, 'mapping_lrmul': 0.01, 'mapping_nonlinearity': 'lrelu',
            'use_wscale': True, 'normalize_latents': True}
_G_STYLE = {'truncation_psi': 0.7, 'truncation_cutoff': 8, 'dlatent_avg_beta': 0.995, 'style_mixing_prob': 0.9}
_DISCRIMINATOR = {'num_channels': 1, 'resolution': 32, 'label_size': 0, 'fmap_base': 8192, 'fmap_decay': 1.0,
                  'fmap_max': 512, 'nonlinearity': 'lrelu', 'use_wscale': True, 'mbstd_group_size': 4,
                  'mbstd_num_features': 1, 'fused_scale': 'auto', 'blur_filter': [1, 2, 1]}

G_STYLE = KwargsTable('G_style', {**_SHAPE, **_LATENTS, **_SYNTHESIS, **_FIXED, **_MAPPING, **_G_STYLE},
                      always=tuple(_SHAPE), unused=('dlatent_broadcast',))
# G_style forwards its other kwargs to both components, so each component ignores the others' kwargs.
G_SYNTHESIS = KwargsTable('G_synthesis', {**_SHAPE, **_LATENTS, **_SYNTHESIS, **_FIXED}, always=tuple(_SHAPE),
                          unused=(*_MAPPING, *_G_STYLE))
G_MAPPING = KwargsTable('G_mapping', {**_SHAPE, **_LATENTS, 'dlatent_broadcast': None, **_MAPPING},
                        always=tuple(_SHAPE), unused=(*_SYNTHESIS, *_FIXED, *_G_STYLE))
D_BASIC = KwargsTable('D_basic', _DISCRIMINATOR, always=('num_channels', 'resolution', 'label_size'))

# Which sg2tf constructor argument each NVIDIA kwarg fills.
_GENERATOR_ARGS = (*_SHAPE, *_LATENTS, *_G_STYLE)
_SYNTHESIS_NET_ARGS = ('dlatent_size', 'num_channels', 'resolution', *_SYNTHESIS)
_MAPPING_NET_ARGS = ('latent_size', 'label_size', 'dlatent_size', 'dlatent_broadcast', *_MAPPING)


def _where(state: dict, source: str) -> str:
    return f"{source}: {state.get('name')}"


def _check_fixed(known: dict, where: str) -> None:
    for k, default in _FIXED.items():
        if k in known and known[k] != default:
            raise NetworkPickleError(f'{where}: not supported yet: StyleGAN1 synthesis with {k}={known[k]!r} '
                                     f'(only {default!r})')


# -- reading -------------------------------------------------------------------------------------------------------
def read_generator(state: dict, source: str) -> Generator:
    """G_style with components `synthesis` (G_synthesis) and `mapping` (G_mapping)."""
    own, syn, mapping = tfstate.generator_kwargs(state, source, 'G_synthesis')
    where = _where(state, source)
    known = G_STYLE.read({**syn, **mapping, **own}, where)
    _check_fixed(known, where)
    return Generator(**G_STYLE.select(known, _GENERATOR_ARGS),
                     mapping_kwargs=G_STYLE.select(mapping, _MAPPING),
                     synthesis_kwargs=G_STYLE.select(syn, _SYNTHESIS),
                     nvidia_static_kwargs=own, name=str(state.get('name', 'G')))


def read_discriminator(state: dict, source: str) -> Discriminator:
    kwargs = tfstate.static_kwargs(state, source)
    return Discriminator(**D_BASIC.read(kwargs, _where(state, source)), nvidia_static_kwargs=kwargs,
                         name=str(state.get('name', 'D')))


def read_synthesis(state: dict, source: str) -> SynthesisNetwork:
    where = _where(state, source)
    known = G_SYNTHESIS.read(tfstate.static_kwargs(state, source), where)
    _check_fixed(known, where)
    return SynthesisNetwork(**G_SYNTHESIS.select(known, _SYNTHESIS_NET_ARGS),
                            name=str(state.get('name', 'G_synthesis')))


# -- writing -------------------------------------------------------------------------------------------------------
def _source(src: str | None) -> str:
    """The user's build module, else the stub (with a one-line warning, shown once per place by Python)."""
    if src is None:
        warnings.warn(_DEFAULT_SRC_WARNING, stacklevel=1)
        return BUILD_MODULE_SRC
    return src


def _lod_and(variables: list) -> list:
    """`lod` 0 first (a fully grown network; NVIDIA keeps the variable of progressive growing)."""
    return [('lod', np.float32(0.0))] + variables


def _own_variables(model) -> list:
    return [(n, tfstate.variable_value(n, v)) for n, v in names.nvidia_variables(model).items()]


def write_generator(G: Generator, name: str, src: str | None = None) -> NetworkStub:
    src = _source(src)
    cfg = G.get_config()
    values = {**{k: cfg[k] for k in _GENERATOR_ARGS}, **cfg['mapping_kwargs'], **cfg['synthesis_kwargs']}
    kwargs = G_STYLE.write(values, G.nvidia_static_kwargs)
    # G_style passes its kwargs except its own parameters (truncation, ...) on to the components.
    forwarded = {k: v for k, v in kwargs.items() if k not in _G_STYLE}
    table = names.nvidia_variables(G)
    parts = {key: [(n[len(key) + 1:], tfstate.variable_value(n, v)) for n, v in table.items()
                   if n.startswith(key + '/')] for key in names.COMPONENTS}
    own = [(n, tfstate.variable_value(n, v)) for n, v in table.items() if '/' not in n]
    components = {
        'synthesis': tfstate.make_state(names.COMPONENT_SCOPES['synthesis'], G_SYNTHESIS.build_func, forwarded,
                                        _lod_and(parts['synthesis']), src),
        'mapping': tfstate.make_state(names.COMPONENT_SCOPES['mapping'], G_MAPPING.build_func,
                                      {'dlatent_broadcast': arch.num_layers(G.resolution), **forwarded},
                                      parts['mapping'], src),
    }
    return tfstate.make_state(name, G_STYLE.build_func, kwargs, _lod_and(own), src, components)


def write_discriminator(D: Discriminator, name: str, src: str | None = None) -> NetworkStub:
    src = _source(src)
    cfg = D.get_config()
    kwargs = D_BASIC.write({k: cfg[k] for k in D_BASIC.defaults}, D.nvidia_static_kwargs)
    return tfstate.make_state(name, D_BASIC.build_func, kwargs, _lod_and(_own_variables(D)), src)


def write_synthesis(S: SynthesisNetwork, name: str, src: str | None = None) -> NetworkStub:
    src = _source(src)
    cfg = S.get_config()
    kwargs = G_SYNTHESIS.write({k: cfg[k] for k in _SYNTHESIS_NET_ARGS})
    return tfstate.make_state(name, G_SYNTHESIS.build_func, kwargs, _lod_and(_own_variables(S)), src)


def write_mapping(M: MappingNetwork, name: str, src: str | None = None) -> NetworkStub:
    src = _source(src)
    cfg = M.get_config()
    kwargs = G_MAPPING.write({k: cfg[k] for k in _MAPPING_NET_ARGS})
    return tfstate.make_state(name, G_MAPPING.build_func, kwargs, _own_variables(M), src)


# -- registration (sg2tf/nvidia/registry.py) -----------------------------------------------------------------------
# A standalone G_mapping network is read by the StyleGAN2 family (the build function names are the same).
# G_synthesis at state version 5 is StyleGAN2-ADA's.
TF1_READERS = [
    ('G_style', (2, 3, 4), None, read_generator),
    ('D_basic', (2, 3, 4), None, read_discriminator),
    ('G_synthesis', (2, 3, 4), None, read_synthesis),
]
WRITERS = {Generator: write_generator, Discriminator: write_discriminator, SynthesisNetwork: write_synthesis,
           MappingNetwork: write_mapping}
