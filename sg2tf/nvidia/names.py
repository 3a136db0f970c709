"""NVIDIA variable names and layouts <-> sg2tf Keras weights: the one name mapping, used by every reader and writer.

Keras weights carry NVIDIA's names, so the mapping is structural: a weight's path below its network is the
NVIDIA local name, prefixed by the component key (`mapping/`, `synthesis/`) for a generator's components, as in
stylegan2-ada-pytorch's `legacy.py`. NVIDIA's own scoped names (`G_mapping/Dense0/weight`, what
`Network.trainables` and `Network.vars` list) use the component network's name instead of its key. Only the
layout differs, for the variables NVIDIA stores NCHW ([1, C, H, W] noise buffers and the constant input).
No sg2tf imports: this module is a leaf, used by the networks' dnnlib API and by the format readers alike.
"""
from __future__ import annotations

import re

import numpy as np

_NCHW_VARS = re.compile(r'(^|/)(noise\d+|Const/const)$')  # [1, C, H, W] in NVIDIA's files, [1, H, W, C] here
# A generator's components in NVIDIA's insertion order: key -> the component Network's name (its TF scope).
COMPONENT_SCOPES = {'synthesis': 'G_synthesis', 'mapping': 'G_mapping'}
COMPONENTS = tuple(COMPONENT_SCOPES)


def relative_name(path: str, root_name: str) -> str:
    """A Keras variable path (`G/G_synthesis/4x4/Conv/weight`) below the network named `root_name`."""
    parts = path.split('/')
    if root_name in parts:
        parts = parts[parts.index(root_name) + 1:]
    return '/'.join(parts)


def nvidia_variables(model) -> dict:
    """{NVIDIA name: Keras variable} for a built network, in creation order (NVIDIA's order).

    Generator names: own variables bare (`dlatent_avg`), component variables as `mapping/Dense0/weight`.
    """
    if not model.built:
        model.build()
    return {relative_name(v.path, model.name): v for v in model.weights}


def scoped_name(name: str) -> str:
    """sg2tf name -> NVIDIA's scoped name (`mapping/Dense0/weight` -> `G_mapping/Dense0/weight`)."""
    key, _, rest = name.partition('/')
    return f'{COMPONENT_SCOPES[key]}/{rest}' if rest and key in COMPONENT_SCOPES else name


def unscoped_name(name: str) -> str:
    """NVIDIA's scoped name -> sg2tf name (`G_synthesis/noise0` -> `synthesis/noise0`); others unchanged."""
    scope, _, rest = name.partition('/')
    for key, nv_scope in COMPONENT_SCOPES.items():
        if rest and scope == nv_scope:
            return f'{key}/{rest}'
    return name


def is_nchw(name: str) -> bool:
    """Whether NVIDIA stores this variable NCHW (noise buffers, `Const/const`)."""
    return bool(_NCHW_VARS.search(name))


def to_keras_layout(name: str, value) -> np.ndarray:
    value = np.asarray(value, dtype=np.float32)
    return value.transpose(0, 2, 3, 1) if is_nchw(name) else value


def to_nvidia_layout(name: str, value) -> np.ndarray:
    value = np.asarray(value, dtype=np.float32)
    return value.transpose(0, 3, 1, 2) if is_nchw(name) else value


def nvidia_shape(name: str, keras_shape) -> tuple[int, ...]:
    """The shape NVIDIA stores for a variable whose Keras weight has `keras_shape`."""
    shape = tuple(int(d) for d in keras_shape)
    return (shape[0], shape[3], shape[1], shape[2]) if is_nchw(name) else shape
