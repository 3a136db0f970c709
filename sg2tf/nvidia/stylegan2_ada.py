"""StyleGAN2-ADA, TensorFlow version (NVIDIA stylegan2-ada training/networks.py: G_main, G_mapping, G_synthesis,
D_main): the static-kwargs tables, the readers (Network state -> Keras network) and the writers (back).

ADA's dnnlib writes Network states of version 5: the version-4 keys plus `input_shapes`, `output_shapes`,
`input_names`, `output_names` (dnnlib/tflib/network.py), and G/Gs own only `dlatent_avg` (no `lod`).
"""
from __future__ import annotations

import warnings

from sg2tf import arch
from sg2tf.nvidia import names, tfstate
from sg2tf.nvidia.kwargs import KwargsTable
from sg2tf.nvidia.unpickler import NetworkPickleError, NetworkStub
from sg2tf.stylegan2_ada import AdaDiscriminator, AdaGenerator, AdaMappingNetwork, AdaSynthesisNetwork

NAME = 'StyleGAN2-ADA (TF)'
STATE_VERSION = 5
V5_KEYS = ('input_shapes', 'output_shapes', 'input_names', 'output_names')

# NVIDIA's TF1 `Network.__setstate__` execs `build_module_src` and calls `build_func_name` from it. sg2tf has no
# TF1 module of its own for this family and NVIDIA's training/networks.py cannot ship with it (licence), so by
# default the pickle carries this stub: exec'ing it stops with an explanation. Readers that never exec the source
# (sg2tf, stylegan2-ada-pytorch's legacy.py) are unaffected.
BUILD_MODULE_SRC = '''\
"""Written by sg2tf: StyleGAN2-ADA (TF) networks (G_main, G_mapping, G_synthesis, D_main of NVIDIA's
stylegan2-ada training/networks.py) without their build module."""
raise ImportError(
    "This pickle was written by sg2tf without NVIDIA's stylegan2-ada training/networks.py, which sg2tf cannot "
    "ship: NVIDIA's TF1 code cannot rebuild these networks from it. sg2tf and stylegan2-ada-pytorch's legacy.py "
    "read the file as it is; for NVIDIA's TF1 code, re-save it with your copy of the module embedded: "
    "sg2tf.save_network_pkl(path, G, D, Gs, build_module_src=open('training/networks.py').read()).")
'''
_DEFAULT_SRC_WARNING = ("sg2tf: writing StyleGAN2-ADA (TF) networks without NVIDIA's training/networks.py: "
                        "NVIDIA's TF1 code cannot load the file (sg2tf and stylegan2-ada-pytorch can); pass "
                        "build_module_src=open('training/networks.py').read() to embed it")

# NVIDIA's defaults, grouped by the sg2tf argument they fill.
_SHAPE = {'num_channels': 3, 'resolution': 1024, 'label_size': 0}       # from the dataset, always passed
_LATENTS = {'latent_size': 512, 'dlatent_size': 512}
_SYNTHESIS = {'fmap_base': 16 << 10, 'fmap_decay': 1.0, 'fmap_min': 1, 'fmap_max': 512, 'fmap_const': None,
              'use_noise': True, 'architecture': 'skip', 'nonlinearity': 'lrelu', 'resample_kernel': [1, 3, 3, 1],
              'fused_modconv': False, 'conv_clamp': None, 'num_fp16_res': 0}
_MAPPING = {'mapping_layers': 8, 'mapping_fmaps': None, 'mapping_lrmul': 0.01, 'mapping_nonlinearity': 'lrelu',
            'normalize_latents': True, 'label_fmaps': None}
_G_MAIN = {'truncation_psi': 0.5, 'truncation_cutoff': None, 'dlatent_avg_beta': 0.995, 'style_mixing_prob': 0.9}
_DISCRIMINATOR = {'mbstd_group_size': None, 'fmap_base': 16 << 10, 'fmap_decay': 1.0, 'fmap_min': 1,
                  'fmap_max': 512, 'mapping_layers': 0, 'mapping_fmaps': None, 'mapping_lrmul': 0.1,
                  'architecture': 'resnet', 'nonlinearity': 'lrelu', 'mbstd_num_features': 1,
                  'resample_kernel': [1, 3, 3, 1], 'conv_clamp': None, 'num_fp16_res': 0, 'freeze_layers': 0}
# D_main's comparison methods of the paper, at their defaults; other values change the network (unsupported).
_D_COMPARISON = {'use_spectral_norm': False, 'use_pagan': False, 'pagan_num': 16, 'pagan_fade': 0.5,
                 'score_max': 1, 'score_size': 1, 'adaptive_dropout': 0, 'augment_strength': 0}
_D_CHANGES_NETWORK = ('use_spectral_norm', 'use_pagan', 'score_max')

# The order ADA's train.py sets them (dataset shape, then G_args / D_args), then the rest in signature order, and
# the ones it sets in every configuration (written even at NVIDIA's default): a network written from scratch
# lists its kwargs as NVIDIA's training would.
_G_TRAIN_ORDER = ('fmap_base', 'fmap_max', 'mapping_layers', 'num_fp16_res', 'conv_clamp', 'style_mixing_prob',
                  'latent_size', 'dlatent_size')
_G_TRAIN_ALWAYS = ('fmap_base', 'fmap_max', 'mapping_layers', 'num_fp16_res', 'conv_clamp')
_D_TRAIN_ORDER = ('mbstd_group_size', 'fmap_base', 'fmap_max', 'num_fp16_res', 'conv_clamp', 'architecture',
                  'freeze_layers')
_D_TRAIN_ALWAYS = ('fmap_base', 'fmap_max', 'num_fp16_res', 'conv_clamp')


def _ordered(first: tuple, *groups: dict) -> dict:
    merged = {}
    for group in groups:
        merged.update(group)
    return {**{k: merged[k] for k in first if k in merged}, **merged}


_ALL_G = {**_LATENTS, **_SYNTHESIS, **_MAPPING, **_G_MAIN}
G_MAIN = KwargsTable('G_main', {**_SHAPE, **_ordered(_G_TRAIN_ORDER, _ALL_G)}, always=(*_SHAPE, *_G_TRAIN_ALWAYS),
                     unused=('dlatent_broadcast',))
# G_main forwards all of its kwargs to both components, so each component ignores the others' kwargs.
G_SYNTHESIS = KwargsTable('G_synthesis', {**_SHAPE, **_ordered(_G_TRAIN_ORDER, _LATENTS, _SYNTHESIS)},
                          always=(*_SHAPE, *_G_TRAIN_ALWAYS), unused=(*_MAPPING, *_G_MAIN))
G_MAPPING = KwargsTable('G_mapping', {**_SHAPE, 'dlatent_broadcast': None,
                                      **_ordered(_G_TRAIN_ORDER, _LATENTS, _MAPPING)},
                        always=(*_SHAPE, *_G_TRAIN_ALWAYS), unused=(*_SYNTHESIS, *_G_MAIN))
D_MAIN = KwargsTable('D_main', {**_SHAPE, **_ordered(_D_TRAIN_ORDER, _DISCRIMINATOR)},
                     always=(*_SHAPE, *_D_TRAIN_ALWAYS),
                     unused=tuple(_D_COMPARISON))

# Which sg2tf constructor argument each NVIDIA kwarg fills.
_GENERATOR_ARGS = (*_SHAPE, *_LATENTS, *_G_MAIN)
_SYNTHESIS_NET_ARGS = ('resolution', 'num_channels', 'dlatent_size', *_SYNTHESIS)
_MAPPING_NET_ARGS = ('label_size', 'latent_size', 'dlatent_size', 'dlatent_broadcast', *_MAPPING)


def _where(state: dict, source: str) -> str:
    return f"{source}: {state.get('name')}"


# -- reading -------------------------------------------------------------------------------------------------------
def read_generator(state: dict, source: str) -> AdaGenerator:
    """G_main with components `synthesis` (G_synthesis) and `mapping` (G_mapping)."""
    own, syn, mapping = tfstate.generator_kwargs(state, source, G_SYNTHESIS.build_func)
    known = G_MAIN.read({**syn, **mapping, **own}, _where(state, source))
    return AdaGenerator(**G_MAIN.select(known, _GENERATOR_ARGS),
                        mapping_kwargs=G_MAIN.select(mapping, _MAPPING),
                        synthesis_kwargs=G_MAIN.select(syn, _SYNTHESIS),
                        nvidia_static_kwargs=own, name=str(state.get('name', 'G')))


def read_discriminator(state: dict, source: str) -> AdaDiscriminator:
    kwargs = tfstate.static_kwargs(state, source)
    changed = [f'{k}={kwargs[k]!r}' for k in _D_CHANGES_NETWORK if k in kwargs and kwargs[k] != _D_COMPARISON[k]]
    if changed:
        raise NetworkPickleError(f"{source}: not supported yet: {NAME} discriminator {state.get('name')!r} with "
                                 f"{', '.join(changed)} (a comparison method of the ADA paper)")
    return AdaDiscriminator(**D_MAIN.read(kwargs, _where(state, source)), nvidia_static_kwargs=kwargs,
                            name=str(state.get('name', 'D')))


def read_synthesis(state: dict, source: str) -> AdaSynthesisNetwork:
    known = G_SYNTHESIS.read(tfstate.static_kwargs(state, source), _where(state, source))
    return AdaSynthesisNetwork(**G_SYNTHESIS.select(known, _SYNTHESIS_NET_ARGS),
                               name=str(state.get('name', 'G_synthesis')))


def read_mapping(state: dict, source: str) -> AdaMappingNetwork:
    known = G_MAPPING.read(tfstate.static_kwargs(state, source), _where(state, source))
    return AdaMappingNetwork(**G_MAPPING.select(known, _MAPPING_NET_ARGS), name=str(state.get('name', 'G_mapping')))


# -- writing -------------------------------------------------------------------------------------------------------
def make_state(name: str, build_func: str, kwargs: dict, variables: list, build_module_src: str,
               inputs: list[tuple[str, list]], outputs: list[tuple[str, list]],
               components: dict | None = None) -> NetworkStub:
    """A version-5 Network state (ADA's dnnlib/tflib/network.py): the version-4 keys in NVIDIA's order, then
    `input_shapes`, `output_shapes`, `input_names`, `output_names`. `inputs`/`outputs`: [(name, shape)]."""
    stub = tfstate.make_state(name, build_func, kwargs, variables, build_module_src, components)
    stub.state['version'] = STATE_VERSION
    stub.state.update({'input_shapes': [list(shape) for _, shape in inputs],
                       'output_shapes': [list(shape) for _, shape in outputs],
                       'input_names': [n for n, _ in inputs], 'output_names': [n for n, _ in outputs]})
    return stub


def _source(src: str | None) -> str:
    """The user's build module, else the stub (with a one-line warning, shown once per place by Python)."""
    if src is None:
        warnings.warn(_DEFAULT_SRC_WARNING, stacklevel=1)
        return BUILD_MODULE_SRC
    return src


def _own_variables(model) -> list:
    return [(n, tfstate.variable_value(n, v)) for n, v in names.nvidia_variables(model).items()]


def _images(num_channels: int, resolution: int) -> list:
    return [None, int(num_channels), int(resolution), int(resolution)]


def _mapping_io(latent_size: int, label_size: int, dlatent_size: int, broadcast: int | None):
    w = [None, dlatent_size] if broadcast is None else [None, broadcast, dlatent_size]
    return ([('latents_in', [None, latent_size]), ('labels_in', [None, label_size])], [('dlatents_out', w)])


def write_generator(G: AdaGenerator, name: str, src: str | None = None) -> NetworkStub:
    src = _source(src)
    cfg = G.get_config()
    values = {**{k: cfg[k] for k in _GENERATOR_ARGS}, **cfg['mapping_kwargs'], **cfg['synthesis_kwargs']}
    kwargs = G_MAIN.write(values, G.nvidia_static_kwargs)
    table = names.nvidia_variables(G)
    parts = {key: [(n[len(key) + 1:], tfstate.variable_value(n, v)) for n, v in table.items()
                   if n.startswith(key + '/')] for key in names.COMPONENTS}
    own = [(n, tfstate.variable_value(n, v)) for n, v in table.items() if '/' not in n]
    num_layers = arch.num_layers(G.resolution)
    images = [('images_out', _images(G.num_channels, G.resolution))]
    latents = [('latents_in', [None, G.latent_size]), ('labels_in', [None, G.label_size])]
    components = {
        'synthesis': make_state(names.COMPONENT_SCOPES['synthesis'], G_SYNTHESIS.build_func, kwargs,
                                parts['synthesis'], src, [('dlatents_in', [None, num_layers, G.dlatent_size])],
                                images),
        'mapping': make_state(names.COMPONENT_SCOPES['mapping'], G_MAPPING.build_func,
                              {'dlatent_broadcast': num_layers, **kwargs}, parts['mapping'], src,
                              *_mapping_io(G.latent_size, G.label_size, G.dlatent_size, num_layers)),
    }
    return make_state(name, G_MAIN.build_func, kwargs, own, src, latents, images, components)


def write_discriminator(D: AdaDiscriminator, name: str, src: str | None = None) -> NetworkStub:
    src = _source(src)
    cfg = D.get_config()
    kwargs = D_MAIN.write({k: cfg[k] for k in D_MAIN.defaults}, D.nvidia_static_kwargs)
    inputs = [('images_in', _images(D.num_channels, D.resolution)), ('labels_in', [None, D.label_size])]
    return make_state(name, D_MAIN.build_func, kwargs, _own_variables(D), src, inputs, [('scores_out', [None, 1])])


def write_synthesis(S: AdaSynthesisNetwork, name: str, src: str | None = None) -> NetworkStub:
    src = _source(src)
    cfg = S.get_config()
    kwargs = G_SYNTHESIS.write({k: cfg[k] for k in _SYNTHESIS_NET_ARGS})
    return make_state(name, G_SYNTHESIS.build_func, kwargs, _own_variables(S), src,
                      [('dlatents_in', [None, S.num_layers, S.dlatent_size])],
                      [('images_out', _images(S.num_channels, S.resolution))])


def write_mapping(M: AdaMappingNetwork, name: str, src: str | None = None) -> NetworkStub:
    src = _source(src)
    cfg = M.get_config()
    kwargs = G_MAPPING.write({k: cfg[k] for k in _MAPPING_NET_ARGS})
    return make_state(name, G_MAPPING.build_func, kwargs, _own_variables(M), src,
                      *_mapping_io(M.latent_size, M.label_size, M.dlatent_size, M.dlatent_broadcast))


# -- registration (sg2tf/nvidia/registry.py) -----------------------------------------------------------------------
TF1_READERS = [
    ('G_main', (5,), 'G_synthesis', read_generator),
    ('D_main', (5,), None, read_discriminator),
    ('G_synthesis', (5,), None, read_synthesis),
    ('G_mapping', (5,), None, read_mapping),
]
WRITERS = {AdaGenerator: write_generator, AdaDiscriminator: write_discriminator,
           AdaSynthesisNetwork: write_synthesis, AdaMappingNetwork: write_mapping}
