"""The one mapping between NVIDIA variable names/layouts and sg2tf Keras weights.

Keras weights carry NVIDIA's names, so the mapping is structural: a weight's path below its network is the
NVIDIA local name, prefixed by the component key (`mapping/`, `synthesis/`) for G's components, as in
stylegan2-ada-pytorch's `legacy.py`. Only the layout differs for NCHW-shaped variables (SPEC 3.8).
"""
from __future__ import annotations

import re

import numpy as np

_NCHW_VARS = re.compile(r'(^|/)(noise\d+|Const/const)$')  # [1, C, H, W] in NVIDIA's files, [1, H, W, C] here
COMPONENTS = ('synthesis', 'mapping')  # NVIDIA's insertion order of G's components


def _relative_path(variable, root_name: str) -> str:
    parts = variable.path.split('/')
    if root_name in parts:
        parts = parts[parts.index(root_name) + 1:]
    return '/'.join(parts)


def nvidia_variables(model) -> dict:
    """{NVIDIA name: Keras variable} for a built network, in creation order (NVIDIA's order).

    G-style names: own variables bare (`dlatent_avg`), component variables as `mapping/Dense0/weight`.
    """
    if not model.built:
        model.build()
    out = {}
    for v in model.weights:
        out[_relative_path(v, model.name)] = v
    return out


def to_keras_layout(name: str, value) -> np.ndarray:
    value = np.asarray(value, dtype=np.float32)
    return value.transpose(0, 2, 3, 1) if _NCHW_VARS.search(name) else value


def to_nvidia_layout(name: str, value) -> np.ndarray:
    value = np.asarray(value, dtype=np.float32)
    return value.transpose(0, 3, 1, 2) if _NCHW_VARS.search(name) else value
