"""Static-kwargs tables: one per NVIDIA build function, used both to read a pickle and to write one.

A table lists every static kwarg of a build function that sg2tf uses, with NVIDIA's default, in the order
NVIDIA's scripts pass them; it also names the kwargs that change nothing in sg2tf (per-call options, dtype,
progressive-growing switches). Reading selects the known kwargs and warns about the rest; writing emits only
what differs from NVIDIA's defaults (plus the kwargs NVIDIA's training loop always passes), so each default
lives in the table and nowhere else.
"""
from __future__ import annotations

import warnings
from typing import Mapping

# Per-call options and build switches that do not change the weights or the math sg2tf runs.
IGNORED = frozenset({'randomize_noise', 'dtype', 'is_training', 'is_validation', 'is_template_graph',
                     'return_dlatents', 'truncation_psi_val', 'truncation_cutoff_val', 'components',
                     'mapping_func', 'synthesis_func', 'structure', 'func_name', 'lod', 'use_noise'})


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
        """The known kwargs of a pickle's `static_kwargs` (as given); warns once about kwargs sg2tf ignores."""
        unknown = sorted(k for k in static_kwargs if k not in self.defaults and k not in IGNORED
                         and k not in self.unused)
        if unknown:
            warnings.warn(f'{where}: ignoring static kwargs sg2tf does not use: {", ".join(map(str, unknown))}',
                          stacklevel=3)
        dtype = static_kwargs.get('dtype', 'float32')
        if dtype != 'float32':
            warnings.warn(f'{where}: static dtype {dtype!r}; sg2tf computes in float32', stacklevel=3)
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
