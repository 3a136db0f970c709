"""sg2tf networks -> NVIDIA's TF1 pickle format: the same state dicts, names, shapes, dtypes and globals.

The state layout is what NVIDIA's `Network.__getstate__` returns (SPEC 1.2, version 4). Globals are written
under NVIDIA's names (`dnnlib.tflib.network.Network`, `numpy.core.multiarray._reconstruct`, ...), as in real
snapshots, so the file reads the same as one of theirs.
"""
from __future__ import annotations

import os
import pickle

import numpy as np

from legacy.unpickler import NetworkStub, _multiarray
from sg2tf import arch, nvnames
from sg2tf.networks import Discriminator, Generator, MappingNetwork, SynthesisNetwork

# NVIDIA's TF1 `Network.__setstate__` execs `build_module_src` and calls `build_func_name` from it to rebuild the
# graph. NVIDIA's networks_stylegan2.py cannot ship with sg2tf (licence), so by default the pickle carries sg2tf's
# own clean-room TF1 module `tf1_networks.py.txt` (SPEC 1.2, option (a)): it defines G_main, G_mapping,
# G_synthesis_stylegan2 and D_stylegan2 with NVIDIA's signatures, variable names, shapes and creation order and
# the SPEC 3 forward math, so the pickle loads in NVIDIA's code unaided (checked by tests/test_tf1_module.py
# against outputs of NVIDIA's own graphs). Users may still embed NVIDIA's module instead
# (`save_network_pkl(..., build_module_src=open('training/networks_stylegan2.py').read())`, or
# `sg2tf-convert --nvidia-src`). Readers that never exec the source (sg2tf, stylegan2-ada-pytorch's legacy.py)
# are unaffected.
TF1_MODULE_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'tf1_networks.py.txt')
with open(TF1_MODULE_PATH, encoding='utf-8') as _f:
    BUILD_MODULE_SRC = _f.read()

_GLOBAL_NAMES = {
    id(NetworkStub): ('dnnlib.tflib.network', 'Network'),
    id(_multiarray._reconstruct): ('numpy.core.multiarray', '_reconstruct'),
    id(_multiarray.scalar): ('numpy.core.multiarray', 'scalar'),
    id(np.ndarray): ('numpy', 'ndarray'),
    id(np.dtype): ('numpy', 'dtype'),
}


class _NvidiaPickler(pickle._Pickler):
    """Pure-Python pickler that writes a handful of globals under NVIDIA-era names."""

    def save_global(self, obj, name=None):
        target = _GLOBAL_NAMES.get(id(obj))
        if target is None:
            return super().save_global(obj, name)
        module, qualname = target
        if self.proto >= 4:
            self.save(module)
            self.save(qualname)
            self.write(pickle.STACK_GLOBAL)
        else:
            self.write(pickle.GLOBAL + module.encode('utf-8') + b'\n' + qualname.encode('utf-8') + b'\n')
        self.memoize(obj)


def _value(name: str, v) -> np.ndarray | np.float32:
    value = nvnames.to_nvidia_layout(name, v.numpy())
    return np.float32(value) if value.ndim == 0 else np.ascontiguousarray(value)  # rank 0: NumPy scalar (SPEC 0.17)


def _plain(value):
    """Plain Python containers (Keras wraps list/dict attributes of layers in tracking types)."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


def _state(name: str, func: str, static_kwargs: dict, variables: list, components: dict | None = None,
           src: str | None = None) -> NetworkStub:
    return NetworkStub({'version': 4, 'name': name, 'static_kwargs': _plain(static_kwargs),
                        'components': dict(components or {}),
                        'build_module_src': BUILD_MODULE_SRC if src is None else src,
                        'build_func_name': func, 'variables': variables})


def _generator_kwargs(G: Generator) -> dict:
    if G.nvidia_static_kwargs is not None:
        return dict(G.nvidia_static_kwargs)
    kwargs = {'num_channels': G.num_channels, 'resolution': G.resolution, 'label_size': G.label_size}
    if G.latent_size != 512:
        kwargs['latent_size'] = G.latent_size
    if G.dlatent_size != 512:
        kwargs['dlatent_size'] = G.dlatent_size
    kwargs.update(G.synthesis_kwargs)
    kwargs.update(G.mapping_kwargs)
    if G.truncation_psi != 0.5:
        kwargs['truncation_psi'] = G.truncation_psi
    if G.truncation_cutoff is not None:
        kwargs['truncation_cutoff'] = G.truncation_cutoff
    return kwargs


def network_state(model, name: str | None = None, build_module_src: str | None = None) -> NetworkStub:
    """The NVIDIA `Network` state of an sg2tf network (Generator, Discriminator, or a G component).

    `build_module_src`: the module text stored for NVIDIA's code to exec (default: sg2tf's TF1 module above).
    """
    src = build_module_src
    table = nvnames.nvidia_variables(model)
    name = name or model.name
    if isinstance(model, Generator):
        kwargs = _generator_kwargs(model)
        parts = {key: [(n[len(key) + 1:], _value(n, v)) for n, v in table.items() if n.startswith(key + '/')]
                 for key in nvnames.COMPONENTS}
        own = [('lod', np.float32(0.0))] + [(n, _value(n, v)) for n, v in table.items() if '/' not in n]
        components = {
            'synthesis': _state('G_synthesis', 'G_synthesis_stylegan2', kwargs, parts['synthesis'], src=src),
            'mapping': _state('G_mapping', 'G_mapping', {'dlatent_broadcast': arch.num_layers(model.resolution),
                                                         **kwargs}, parts['mapping'], src=src),
        }
        return _state(name, 'G_main', kwargs, own, components, src=src)
    variables = [(n, _value(n, v)) for n, v in table.items()]
    if isinstance(model, Discriminator):
        kwargs = model.nvidia_static_kwargs
        if kwargs is None:
            kwargs = {k: v for k, v in model.get_config().items() if k not in ('name', 'nvidia_static_kwargs')}
        return _state(name, 'D_stylegan2', kwargs, variables, src=src)
    if isinstance(model, SynthesisNetwork):
        return _state(name, 'G_synthesis_stylegan2', {k: v for k, v in model.get_config().items() if k != 'name'},
                      variables, src=src)
    if isinstance(model, MappingNetwork):
        return _state(name, 'G_mapping', {k: v for k, v in model.get_config().items() if k != 'name'}, variables,
                      src=src)
    raise TypeError(f'cannot write {type(model).__name__} as an NVIDIA network')


def save_network_pkl(path: str | os.PathLike, G=None, D=None, Gs=None, protocol: int = 4,
                     build_module_src: str | None = None) -> None:
    """Write `(G, D, Gs)` as an NVIDIA snapshot pickle (or one network if only `G` is given), atomically.

    `build_module_src`: module text for NVIDIA's code to exec, e.g. the user's own copy of NVIDIA's
    `training/networks_stylegan2.py`; default sg2tf's clean-room TF1 module (see `BUILD_MODULE_SRC`).
    """
    path = os.fspath(path)
    src = build_module_src
    if D is None and Gs is None:
        obj = network_state(G, build_module_src=src)
    else:
        obj = (network_state(G, 'G', src), network_state(D, 'D', src), network_state(Gs, 'Gs', src))
    tmp = f'{path}.tmp-{os.getpid()}'
    try:
        with open(tmp, 'wb') as f:
            _NvidiaPickler(f, protocol=protocol).dump(obj)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
