"""Static-kwargs tables: one per NVIDIA build function, used both to read a pickle and to write one.

A table lists every static kwarg of a build function that sg2tf uses, with NVIDIA's default, in the order
NVIDIA's scripts pass them; it also names the kwargs that change nothing in sg2tf (per-call options, dtype,
progressive-growing switches). Reading selects the known kwargs and warns about the rest; writing emits only
what differs from NVIDIA's defaults (plus the kwargs NVIDIA's training loop always passes), so each default
lives in the table and nowhere else.
"""
from __future__ import annotations

import math
import numbers
import warnings
from typing import Callable, Mapping

from sg2tf.nvidia.errors import NetworkPickleError, is_name, show

# Per-call options and build switches that do not change the weights or the math sg2tf runs.
IGNORED = frozenset({'randomize_noise', 'dtype', 'is_training', 'is_validation', 'is_template_graph',
                     'return_dlatents', 'truncation_psi_val', 'truncation_cutoff_val', 'components',
                     'mapping_func', 'synthesis_func', 'structure', 'func_name', 'lod', 'use_noise'})


# -- what a static kwarg may be: checked before anything is built from it -----------------------------------------
# The limits are far above what NVIDIA's and stylegan2-ada-pytorch's released networks use (resolution 4..1024,
# at most 512 channels per layer, 8 mapping layers, 4-tap kernels, 1 mbstd feature) and low enough that no
# check can make the loader allocate or compute without bound.
MAX_RESOLUTION = 8192
MAX_FMAPS = 16384
MAX_LABELS = 100_000
MAX_MAPPING_LAYERS = 64
MAX_TAPS = 16


def _is_int(v) -> bool:
    return isinstance(v, numbers.Integral) and not isinstance(v, bool)


def _int(lo: int, hi: int, none: bool = False) -> Callable:
    def check(v):
        if v is None and none:
            return None
        if not _is_int(v) or not lo <= v <= hi:
            return f'an integer in {lo}..{hi}' + (' or None' if none else '')
    return check


def _real(lo: float = -math.inf, hi: float = math.inf, none: bool = False, positive: bool = False) -> Callable:
    def check(v):
        if v is None and none:
            return None
        ok = isinstance(v, numbers.Real) and not isinstance(v, bool) and math.isfinite(v) and lo <= v <= hi
        if not ok or (positive and v <= 0):
            where = 'a finite number > 0' if positive else 'a finite number' if lo == -math.inf else \
                f'a finite number in {lo:g}..{hi:g}'
            return where + (' or None' if none else '')
    return check


def _bool(*also) -> Callable:
    def check(v):
        if not (isinstance(v, bool) or type(v).__name__ == 'bool_' or any(v == a for a in also if isinstance(v, str))):
            return 'True or False' + ''.join(f' or {a!r}' for a in also)
    return check


def _name(v):
    if not is_name(v, 64):
        return 'a name (a short string)'


def _resolution(v):
    if not _is_int(v) or not 4 <= v <= MAX_RESOLUTION or v & (v - 1):
        return f'a power of two in 4..{MAX_RESOLUTION}'


def _kernel(v):
    if v is None:
        return None
    if not (isinstance(v, (list, tuple)) and 1 <= len(v) <= MAX_TAPS and
            all(isinstance(x, numbers.Real) and not isinstance(x, bool) and math.isfinite(x) for x in v)):
        return f'None or a list of 1..{MAX_TAPS} finite numbers'


CHECKS: dict[str, Callable] = {
    'num_channels': _int(1, 1024), 'resolution': _resolution, 'label_size': _int(0, MAX_LABELS),
    'latent_size': _int(0, MAX_FMAPS), 'dlatent_size': _int(1, MAX_FMAPS),
    'fmap_base': _real(1, 2 ** 30), 'fmap_decay': _real(0, 16), 'fmap_min': _int(0, MAX_FMAPS),
    'fmap_max': _int(1, MAX_FMAPS), 'fmap_const': _int(1, MAX_FMAPS, none=True),
    'architecture': _name, 'nonlinearity': _name, 'mapping_nonlinearity': _name, 'synthesis_func': _name,
    'resample_kernel': _kernel, 'blur_filter': _kernel,
    'fused_modconv': _bool(), 'normalize_latents': _bool(), 'use_wscale': _bool(), 'use_pixel_norm': _bool(),
    'use_instance_norm': _bool(), 'use_styles': _bool(), 'const_input_layer': _bool(), 'use_noise': _bool(),
    'fused_scale': _bool('auto'),
    'mapping_layers': _int(0, MAX_MAPPING_LAYERS), 'mapping_fmaps': _int(1, MAX_FMAPS, none=True),
    'label_fmaps': _int(1, MAX_FMAPS, none=True), 'mapping_lrmul': _real(positive=True),
    'truncation_psi': _real(none=True), 'truncation_cutoff': _int(0, 64, none=True),
    'dlatent_avg_beta': _real(none=True), 'style_mixing_prob': _real(none=True),
    'mbstd_group_size': _int(0, 1024, none=True), 'mbstd_num_features': _int(0, 64),
    'conv_clamp': _real(0, math.inf, none=True), 'num_fp16_res': _int(0, 16), 'freeze_layers': _int(0, 64),
    'dlatent_broadcast': _int(1, 64, none=True),
}


def check(static_kwargs, where: str) -> dict:
    """`static_kwargs` if it is a dict of names whose known entries have the types and ranges in CHECKS; else a
    `NetworkPickleError` naming the kwarg, what it must be and what the file has."""
    if not isinstance(static_kwargs, dict):
        raise NetworkPickleError(f'{where}: static_kwargs is a {type(static_kwargs).__name__}, expected a dict')
    for key, value in static_kwargs.items():
        if not is_name(key, 64):
            raise NetworkPickleError(f'{where}: a static kwarg named {show(key)} (expected a short name)')
        problem = CHECKS[key](value) if key in CHECKS else None
        if problem:
            raise NetworkPickleError(f'{where}: static kwarg {key} must be {problem}, got {show(value)}')
    return static_kwargs


def _same(a, b) -> bool:
    """Equal as NVIDIA would see them (lists and tuples alike)."""
    norm = lambda v: list(v) if isinstance(v, (list, tuple)) else v  # noqa: E731
    return norm(a) == norm(b)


class KwargsTable:
    """NVIDIA static kwargs of one build function: name -> default, in NVIDIA's order.

    `always`: kwargs written even at their default (NVIDIA's training loop passes them from the dataset).
    `unused`: kwargs NVIDIA's code passes to this build function that it does not use (G_main forwards all of
    its kwargs to both components; `dlatent_broadcast` inside G_main is computed): accepted silently.
    """

    def __init__(self, build_func: str, defaults: Mapping[str, object], always: tuple[str, ...] = (),
                 unused: tuple[str, ...] = ()):
        self.build_func = build_func
        self.defaults = dict(defaults)
        self.always, self.unused = tuple(always), frozenset(unused)

    def __contains__(self, name: str) -> bool:
        return name in self.defaults

    def default(self, name: str):
        return self.defaults[name]

    def read(self, static_kwargs: Mapping, where: str) -> dict:
        """The known kwargs of a pickle's `static_kwargs` (as given, after `check`); warns once about kwargs sg2tf
        ignores."""
        check(static_kwargs, where)
        unknown = sorted(k for k in static_kwargs if k not in self.defaults and k not in IGNORED
                         and k not in self.unused)
        if unknown:
            warnings.warn(f'{where}: ignoring static kwargs sg2tf does not use: '
                          f'{", ".join(unknown[:12])}{" ..." if len(unknown) > 12 else ""}', stacklevel=3)
        dtype = static_kwargs.get('dtype', 'float32')
        if not isinstance(dtype, str) or dtype != 'float32':
            warnings.warn(f'{where}: static dtype {show(dtype)}; sg2tf computes in float32', stacklevel=3)
        return {k: v for k, v in static_kwargs.items() if k in self.defaults}

    def write(self, values: Mapping, original: Mapping | None = None) -> dict:
        """Static kwargs for a pickle from a network's `values` (NVIDIA names; missing = default).

        With `original` (the kwargs of the file the network came from), its keys and order are kept, values the
        network has are taken from it and unknown keys pass through, so a loaded pickle writes back as it was.
        """
        value = lambda k: values.get(k, self.defaults[k])  # noqa: E731
        out = {}
        for k, v in (original or {}).items():
            out[k] = v if k not in self.defaults or _same(v, value(k)) else value(k)
        for k in self.defaults:
            if k not in out and (k in self.always or not _same(value(k), self.defaults[k])):
                out[k] = value(k)
        return out

    def select(self, kwargs: Mapping, names) -> dict:
        """The entries of `kwargs` whose names are in `names` (for building one network from a table)."""
        names = set(names)
        return {k: v for k, v in kwargs.items() if k in names}
