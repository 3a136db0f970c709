"""Which implementation the ops use: 'auto', 'custom' (compiled ops) or 'ref' (pure TensorFlow).

The module default comes from `$SG2TF_OPS_IMPL` (default 'ref': on the project's CPU machine the pure-TF path
inside `tf.function` is the fastest measured, see benchmarks/generate.py, and the CUDA kernels have not yet
been run on a GPU) and can be changed with `set_default_impl`;
an op's `impl=` argument other than 'auto' overrides it. 'auto' uses the custom ops if their library loads
(building it into the per-user cache on first use), otherwise the pure-TF path with a one-time warning saying
why; it also picks 'ref' inside XLA-compiled functions (custom ops have no XLA kernels).
"""
from __future__ import annotations

import contextlib
import os
import warnings

from sg2tf.ops import custom

IMPLS = ('auto', 'custom', 'ref')
_default = os.environ.get('SG2TF_OPS_IMPL', 'ref').strip().lower() or 'ref'
if _default not in IMPLS:
    warnings.warn(f'SG2TF_OPS_IMPL={_default!r} is not one of {IMPLS}; using ref', stacklevel=1)
    _default = 'ref'
_warned = False


def set_default_impl(impl: str) -> None:
    """Set the implementation used by every op called with impl='auto' (the layers' default)."""
    global _default
    if impl not in IMPLS:
        raise ValueError(f'impl must be one of {IMPLS}, got {impl!r}')
    _default = impl


def get_default_impl() -> str:
    return _default


@contextlib.contextmanager
def default_impl(impl: str):
    """Context manager: temporarily `set_default_impl(impl)`."""
    old = get_default_impl()
    set_default_impl(impl)
    try:
        yield
    finally:
        set_default_impl(old)


def _in_xla_context() -> bool:
    try:
        from tensorflow.python.framework import ops as tf_ops
        from tensorflow.python.ops import control_flow_util
        return bool(control_flow_util.GraphOrParentsInXlaContext(tf_ops.get_default_graph()))
    except Exception:  # noqa: BLE001 - private API moved: assume no XLA
        return False


def resolve(impl: str = 'auto') -> str:
    """'custom' or 'ref' for an op call with `impl`; raises RuntimeError if 'custom' is forced but unavailable."""
    global _warned
    if impl not in IMPLS:
        raise ValueError(f'impl must be one of {IMPLS}, got {impl!r}')
    if impl == 'auto':
        impl = _default
    if impl == 'ref':
        return 'ref'
    if impl == 'custom':
        ok, why = custom.available()
        if not ok:
            raise RuntimeError(why)
        return 'custom'
    if _in_xla_context():
        return 'ref'
    ok, why = custom.available()
    if ok:
        return 'custom'
    if not _warned:
        _warned = True
        warnings.warn(f'{why}; using the pure-TensorFlow ops (impl="ref")', RuntimeWarning, stacklevel=3)
    return 'ref'
