"""StyleGAN2 configs B-D (NVIDIA training/networks_stylegan2.py: G_main with synthesis_func=
'G_synthesis_stylegan_revised', G_mapping, D_stylegan): the static-kwargs tables, the readers (Network state ->
Keras network) and the writers (back).

Same module as configs E/F, so the kwargs groups, the mapping table and the default `build_module_src` (sg2tf's
clean-room TF1 module, which also defines G_synthesis_stylegan_revised and D_stylegan) are stylegan2's. Only fully
grown networks are read (`lod` = 0; the loader refuses others); the writers store `lod` = 0 where NVIDIA has one.
"""
from __future__ import annotations

import numpy as np

from sg2tf import arch
from sg2tf.nvidia import names, tfstate
from sg2tf.nvidia.kwargs import KwargsTable
from sg2tf.nvidia.stylegan2 import (_DISCRIMINATOR, _G_MAIN, _GENERATOR_ARGS, _LATENTS, _MAPPING, _SHAPE,
                                    _SYNTHESIS, BUILD_MODULE_SRC, G_MAPPING)
from sg2tf.nvidia.unpickler import NetworkStub
from sg2tf.stylegan2_revised import RevisedDiscriminator, RevisedGenerator, RevisedSynthesisNetwork

NAME = 'StyleGAN2 (config B-D)'
SYNTHESIS_FUNC = 'G_synthesis_stylegan_revised'

# Neither build function has an `architecture`: the synthesis is always `orig` + ToRGB_lod*, D `orig` + FromRGB_lod*.
_REVISED_SYNTHESIS = {k: v for k, v in _SYNTHESIS.items() if k != 'architecture'}
_D_STYLEGAN = {k: v for k, v in _DISCRIMINATOR.items() if k != 'architecture'}
# G_main's own parameters: NVIDIA's G_main does not forward them to its components.
_G_MAIN_OWN = frozenset({*_G_MAIN, 'truncation_psi_val', 'truncation_cutoff_val', 'is_training', 'is_validation',
                         'return_dlatents', 'is_template_graph', 'components', 'mapping_func', 'synthesis_func'})

G_MAIN = KwargsTable('G_main', {**_SHAPE, 'synthesis_func': 'G_synthesis_stylegan2', **_LATENTS,
                                **_REVISED_SYNTHESIS, **_MAPPING, **_G_MAIN},
                     always=tuple(_SHAPE), unused=('dlatent_broadcast',))
G_SYNTHESIS = KwargsTable(SYNTHESIS_FUNC, {**_SHAPE, **_LATENTS, **_REVISED_SYNTHESIS}, always=tuple(_SHAPE),
                          unused=(*_MAPPING, *_G_MAIN))
D_STYLEGAN = KwargsTable('D_stylegan', {**_SHAPE, **_D_STYLEGAN}, always=tuple(_SHAPE))

_SYNTHESIS_NET_ARGS = ('resolution', 'num_channels', 'dlatent_size', *_REVISED_SYNTHESIS)


def _where(state: dict, source: str) -> str:
    return f"{source}: {state.get('name')}"


# -- reading -------------------------------------------------------------------------------------------------------
def read_generator(state: dict, source: str) -> RevisedGenerator:
    """G_main with components `synthesis` (G_synthesis_stylegan_revised) and `mapping` (G_mapping)."""
    own, syn, mapping = tfstate.generator_kwargs(state, source, SYNTHESIS_FUNC)
    known = G_MAIN.read({**syn, **mapping, **own}, _where(state, source))
    return RevisedGenerator(**G_MAIN.select(known, _GENERATOR_ARGS),
                            mapping_kwargs=G_MAIN.select(mapping, _MAPPING),
                            synthesis_kwargs=G_MAIN.select(syn, _REVISED_SYNTHESIS),
                            nvidia_static_kwargs=own, name=str(state.get('name', 'G')))


def read_discriminator(state: dict, source: str) -> RevisedDiscriminator:
    kwargs = tfstate.static_kwargs(state, source)
    return RevisedDiscriminator(**D_STYLEGAN.read(kwargs, _where(state, source)), nvidia_static_kwargs=kwargs,
                                name=str(state.get('name', 'D')))


def read_synthesis(state: dict, source: str) -> RevisedSynthesisNetwork:
    known = G_SYNTHESIS.read(tfstate.static_kwargs(state, source), _where(state, source))
    return RevisedSynthesisNetwork(**G_SYNTHESIS.select(known, _SYNTHESIS_NET_ARGS),
                                   name=str(state.get('name', 'G_synthesis')))


# -- writing -------------------------------------------------------------------------------------------------------
def _lod0() -> tuple[str, np.float32]:
    """NVIDIA's `lod` variable of a fully grown network, a NumPy float32 scalar as TF1 stores rank-0 values."""
    return 'lod', np.float32(0.0)


def _variables(model, prefix: str = '') -> list:
    """(local name, value) of the model's variables whose sg2tf name starts with `prefix`, the prefix removed."""
    return [(n[len(prefix):], tfstate.variable_value(n, v)) for n, v in names.nvidia_variables(model).items()
            if n.startswith(prefix)]


def write_generator(G: RevisedGenerator, name: str, src: str | None = None) -> NetworkStub:
    src = BUILD_MODULE_SRC if src is None else src
    cfg = G.get_config()
    values = {**{k: cfg[k] for k in _GENERATOR_ARGS}, **cfg['mapping_kwargs'], **cfg['synthesis_kwargs'],
              'synthesis_func': SYNTHESIS_FUNC}
    kwargs = G_MAIN.write(values, G.nvidia_static_kwargs)
    forwarded = {k: v for k, v in kwargs.items() if k not in _G_MAIN_OWN}
    table = names.nvidia_variables(G)
    own = [_lod0()] + [(n, tfstate.variable_value(n, v)) for n, v in table.items() if '/' not in n]
    components = {
        'synthesis': tfstate.make_state(names.COMPONENT_SCOPES['synthesis'], SYNTHESIS_FUNC, forwarded,
                                        [_lod0()] + _variables(G, 'synthesis/'), src),
        'mapping': tfstate.make_state(names.COMPONENT_SCOPES['mapping'], G_MAPPING.build_func,
                                      {'dlatent_broadcast': arch.num_layers(G.resolution), **forwarded},
                                      _variables(G, 'mapping/'), src),
    }
    return tfstate.make_state(name, G_MAIN.build_func, kwargs, own, src, components)


def write_discriminator(D: RevisedDiscriminator, name: str, src: str | None = None) -> NetworkStub:
    src = BUILD_MODULE_SRC if src is None else src
    cfg = D.get_config()
    kwargs = D_STYLEGAN.write({k: cfg[k] for k in D_STYLEGAN.defaults}, D.nvidia_static_kwargs)
    return tfstate.make_state(name, D_STYLEGAN.build_func, kwargs, [_lod0()] + _variables(D), src)


def write_synthesis(S: RevisedSynthesisNetwork, name: str, src: str | None = None) -> NetworkStub:
    src = BUILD_MODULE_SRC if src is None else src
    cfg = S.get_config()
    kwargs = G_SYNTHESIS.write({k: cfg[k] for k in _SYNTHESIS_NET_ARGS})
    return tfstate.make_state(name, G_SYNTHESIS.build_func, kwargs, [_lod0()] + _variables(S), src)


# -- registration (sg2tf/nvidia/registry.py) -----------------------------------------------------------------------
TF1_READERS = [
    ('G_main', (2, 3, 4), SYNTHESIS_FUNC, read_generator),
    ('D_stylegan', (2, 3, 4), None, read_discriminator),
    (SYNTHESIS_FUNC, (2, 3, 4), None, read_synthesis),
]
WRITERS = {RevisedGenerator: write_generator, RevisedDiscriminator: write_discriminator,
           RevisedSynthesisNetwork: write_synthesis}
