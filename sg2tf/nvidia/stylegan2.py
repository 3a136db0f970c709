"""StyleGAN2 configs E/F (NVIDIA training/networks_stylegan2.py: G_main, G_mapping, G_synthesis_stylegan2,
D_stylegan2): the static-kwargs tables, the readers (Network state -> Keras network) and the writers (back)."""
from __future__ import annotations

import os

import numpy as np

from sg2tf import arch
from sg2tf.networks import Discriminator, Generator, MappingNetwork, SynthesisNetwork
from sg2tf.nvidia import names, tfstate
from sg2tf.nvidia.kwargs import KwargsTable
from sg2tf.nvidia.unpickler import NetworkStub

NAME = 'StyleGAN2 (config E/F)'

# NVIDIA's TF1 `Network.__setstate__` execs `build_module_src` and calls `build_func_name` from it to rebuild the
# graph. NVIDIA's networks_stylegan2.py cannot ship with sg2tf (licence), so by default the pickle carries sg2tf's
# own clean-room TF1 module `tf1_networks.py.txt`: it defines G_main, G_mapping, G_synthesis_stylegan2,
# D_stylegan2 and (configs B-D) G_synthesis_stylegan_revised, D_stylegan with NVIDIA's signatures, variable
# names, shapes and creation order and the same forward math, so the pickle loads in NVIDIA's code unaided
# (checked by tests/test_tf1_module.py and test_tf1_revised.py against outputs of NVIDIA's own graphs). Users
# may still embed NVIDIA's module instead (`save_network_pkl(..., build_module_src=open(
# 'training/networks_stylegan2.py').read())`, or `sg2tf-convert --nvidia-src`). Readers that never exec the
# source (sg2tf, stylegan2-ada-pytorch's legacy.py) are unaffected.
TF1_MODULE_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'tf1_networks.py.txt')
with open(TF1_MODULE_PATH, encoding='utf-8') as _f:
    BUILD_MODULE_SRC = _f.read()

# NVIDIA's defaults, grouped by the sg2tf argument they fill, in the order NVIDIA's scripts pass them.
_SHAPE = {'num_channels': 3, 'resolution': 1024, 'label_size': 0}       # from the dataset, always passed
_LATENTS = {'latent_size': 512, 'dlatent_size': 512}
_SYNTHESIS = {'fmap_base': 16 << 10, 'fmap_decay': 1.0, 'fmap_min': 1, 'fmap_max': 512, 'architecture': 'skip',
              'nonlinearity': 'lrelu', 'resample_kernel': [1, 3, 3, 1], 'fused_modconv': True}
_MAPPING = {'mapping_layers': 8, 'mapping_fmaps': 512, 'mapping_lrmul': 0.01, 'mapping_nonlinearity': 'lrelu',
            'normalize_latents': True}
_G_MAIN = {'truncation_psi': 0.5, 'truncation_cutoff': None, 'dlatent_avg_beta': 0.995, 'style_mixing_prob': 0.9}
_DISCRIMINATOR = {'fmap_base': 16 << 10, 'fmap_decay': 1.0, 'fmap_min': 1, 'fmap_max': 512,
                  'architecture': 'resnet', 'nonlinearity': 'lrelu', 'mbstd_group_size': 4, 'mbstd_num_features': 1,
                  'resample_kernel': [1, 3, 3, 1]}

G_MAIN = KwargsTable('G_main', {**_SHAPE, **_LATENTS, **_SYNTHESIS, **_MAPPING, **_G_MAIN}, always=tuple(_SHAPE),
                     unused=('dlatent_broadcast',))
# G_main forwards all of its kwargs to both components, so each component ignores the others' kwargs.
G_SYNTHESIS = KwargsTable('G_synthesis_stylegan2', {**_SHAPE, **_LATENTS, **_SYNTHESIS}, always=tuple(_SHAPE),
                          unused=(*_MAPPING, *_G_MAIN))
G_MAPPING = KwargsTable('G_mapping', {**_SHAPE, **_LATENTS, 'dlatent_broadcast': None, **_MAPPING},
                        always=tuple(_SHAPE), unused=(*_SYNTHESIS, *_G_MAIN))
D_STYLEGAN2 = KwargsTable('D_stylegan2', {**_SHAPE, **_DISCRIMINATOR}, always=tuple(_SHAPE))

# Which sg2tf constructor argument each NVIDIA kwarg fills.
_GENERATOR_ARGS = (*_SHAPE, *_LATENTS, *_G_MAIN)
_SYNTHESIS_NET_ARGS = ('resolution', 'num_channels', 'dlatent_size', *_SYNTHESIS)
_MAPPING_NET_ARGS = ('label_size', 'latent_size', 'dlatent_size', 'dlatent_broadcast', *_MAPPING)


def _where(state: dict, source: str) -> str:
    return f"{source}: {state.get('name')}"


# -- reading -------------------------------------------------------------------------------------------------------
def read_generator(state: dict, source: str) -> Generator:
    """G_main with components `synthesis` (G_synthesis_stylegan2) and `mapping` (G_mapping)."""
    own, syn, mapping = tfstate.generator_kwargs(state, source, G_SYNTHESIS.build_func)
    known = G_MAIN.read({**syn, **mapping, **own}, _where(state, source))
    return Generator(**G_MAIN.select(known, _GENERATOR_ARGS),
                     mapping_kwargs=G_MAIN.select(mapping, _MAPPING),
                     synthesis_kwargs=G_MAIN.select(syn, _SYNTHESIS),
                     nvidia_static_kwargs=own, name=str(state.get('name', 'G')))


def read_discriminator(state: dict, source: str) -> Discriminator:
    kwargs = tfstate.static_kwargs(state, source)
    return Discriminator(**D_STYLEGAN2.read(kwargs, _where(state, source)), nvidia_static_kwargs=kwargs,
                         name=str(state.get('name', 'D')))


def read_synthesis(state: dict, source: str) -> SynthesisNetwork:
    known = G_SYNTHESIS.read(tfstate.static_kwargs(state, source), _where(state, source))
    return SynthesisNetwork(**G_SYNTHESIS.select(known, _SYNTHESIS_NET_ARGS),
                            name=str(state.get('name', 'G_synthesis')))


def read_mapping(state: dict, source: str) -> MappingNetwork:
    known = G_MAPPING.read(tfstate.static_kwargs(state, source), _where(state, source))
    return MappingNetwork(**G_MAPPING.select(known, _MAPPING_NET_ARGS), name=str(state.get('name', 'G_mapping')))


# -- writing -------------------------------------------------------------------------------------------------------
def _own_variables(model) -> list:
    return [(n, tfstate.variable_value(n, v)) for n, v in names.nvidia_variables(model).items()]


def write_generator(G: Generator, name: str, src: str | None = None) -> NetworkStub:
    src = BUILD_MODULE_SRC if src is None else src
    cfg = G.get_config()
    values = {**{k: cfg[k] for k in _GENERATOR_ARGS}, **cfg['mapping_kwargs'], **cfg['synthesis_kwargs']}
    kwargs = G_MAIN.write(values, G.nvidia_static_kwargs)
    table = names.nvidia_variables(G)
    parts = {key: [(n[len(key) + 1:], tfstate.variable_value(n, v)) for n, v in table.items()
                   if n.startswith(key + '/')] for key in names.COMPONENTS}
    # `lod` 0: a fully grown network (G_main keeps the variable of progressive growing).
    own = [('lod', np.float32(0.0))] + [(n, tfstate.variable_value(n, v)) for n, v in table.items() if '/' not in n]
    # G_main passes its **kwargs (not its own parameters such as truncation_psi) on to both components.
    forwarded = {k: v for k, v in kwargs.items() if k not in _G_MAIN}
    components = {
        'synthesis': tfstate.make_state(names.COMPONENT_SCOPES['synthesis'], G_SYNTHESIS.build_func, forwarded,
                                        parts['synthesis'], src),
        'mapping': tfstate.make_state(names.COMPONENT_SCOPES['mapping'], G_MAPPING.build_func,
                                      {'dlatent_broadcast': arch.num_layers(G.resolution), **forwarded},
                                      parts['mapping'], src),
    }
    return tfstate.make_state(name, G_MAIN.build_func, kwargs, own, src, components)


def write_discriminator(D: Discriminator, name: str, src: str | None = None) -> NetworkStub:
    src = BUILD_MODULE_SRC if src is None else src
    cfg = D.get_config()
    kwargs = D_STYLEGAN2.write({k: cfg[k] for k in D_STYLEGAN2.defaults}, D.nvidia_static_kwargs)
    return tfstate.make_state(name, D_STYLEGAN2.build_func, kwargs, _own_variables(D), src)


def write_synthesis(S: SynthesisNetwork, name: str, src: str | None = None) -> NetworkStub:
    src = BUILD_MODULE_SRC if src is None else src
    cfg = S.get_config()
    kwargs = G_SYNTHESIS.write({k: cfg[k] for k in _SYNTHESIS_NET_ARGS})
    return tfstate.make_state(name, G_SYNTHESIS.build_func, kwargs, _own_variables(S), src)


def write_mapping(M: MappingNetwork, name: str, src: str | None = None) -> NetworkStub:
    src = BUILD_MODULE_SRC if src is None else src
    cfg = M.get_config()
    kwargs = G_MAPPING.write({k: cfg[k] for k in _MAPPING_NET_ARGS})
    return tfstate.make_state(name, G_MAPPING.build_func, kwargs, _own_variables(M), src)


# -- registration (sg2tf/nvidia/registry.py) -----------------------------------------------------------------------
TF1_READERS = [
    ('G_main', (2, 3, 4), 'G_synthesis_stylegan2', read_generator),
    ('D_stylegan2', (2, 3, 4), None, read_discriminator),
    ('G_synthesis_stylegan2', (2, 3, 4), None, read_synthesis),
    ('G_mapping', (2, 3, 4), None, read_mapping),
]
WRITERS = {Generator: write_generator, Discriminator: write_discriminator, SynthesisNetwork: write_synthesis,
           MappingNetwork: write_mapping}
