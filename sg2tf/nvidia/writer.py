"""sg2tf networks -> NVIDIA's TF1 pickle format: the same state dicts, names, shapes, dtypes and globals.

The states are what NVIDIA's `Network.__getstate__` returns (dnnlib/tflib/network.py, version 4), made by the
family writers of `registry`. Globals are written under NVIDIA's names (`dnnlib.tflib.network.Network`,
`numpy.core.multiarray._reconstruct`, ...), as in real snapshots, so the file reads the same as one of theirs.
"""
from __future__ import annotations

import os
import pickle

import numpy as np

from sg2tf.fileio import atomic_open
from sg2tf.nvidia import registry
from sg2tf.nvidia.unpickler import NetworkStub, _multiarray

_GLOBAL_NAMES = {
    id(NetworkStub): ('dnnlib.tflib.network', 'Network'),
    id(_multiarray._reconstruct): ('numpy.core.multiarray', '_reconstruct'),
    id(_multiarray.scalar): ('numpy.core.multiarray', 'scalar'),
    id(np.ndarray): ('numpy', 'ndarray'),
    id(np.dtype): ('numpy', 'dtype'),
}


class NvidiaPickler(pickle._Pickler):
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


def network_state(model, name: str | None = None, build_module_src: str | None = None) -> NetworkStub:
    """The NVIDIA `Network` state of an sg2tf network (Generator, Discriminator, or a G component).

    `build_module_src`: the module text stored for NVIDIA's code to exec (default: the family's own, e.g.
    `stylegan2.BUILD_MODULE_SRC`, sg2tf's clean-room TF1 module).
    """
    return registry.writer(model)(model, name or model.name, build_module_src)


def save_network_pkl(path: str | os.PathLike, G=None, D=None, Gs=None, protocol: int = 4,
                     build_module_src: str | None = None) -> None:
    """Write `(G, D, Gs)` as an NVIDIA snapshot pickle (or one network if only `G` is given), atomically.

    `build_module_src`: module text for NVIDIA's code to exec, e.g. the user's own copy of NVIDIA's
    `training/networks_stylegan2.py`; default each family's own (sg2tf's clean-room TF1 module for StyleGAN2,
    `stylegan2.BUILD_MODULE_SRC`).
    """
    src = build_module_src
    if D is None and Gs is None:
        obj = network_state(G, build_module_src=src)
    else:
        obj = (network_state(G, 'G', src), network_state(D, 'D', src), network_state(Gs, 'Gs', src))
    with atomic_open(path, 'wb') as f:
        NvidiaPickler(f, protocol=protocol).dump(obj)
