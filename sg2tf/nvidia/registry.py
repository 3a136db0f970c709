"""Every NVIDIA network family sg2tf knows, in one place: which reader handles what a file declares, which writer
handles a network.

A TF1 `Network` state declares its build function (`G_main`, `D_stylegan2`, ...), its state version (2-5) and,
for a generator, its synthesis component's build function; that triple picks the reader. A family module
provides `NAME`, `TF1_READERS` (a list of `(build_func, versions, synthesis build_func or None, read)`) and
`WRITERS` ({network class: write}). Adding a family = adding its module to `FAMILIES`, and removing the
families it implements from `NOT_SUPPORTED_YET`.
"""
from __future__ import annotations

from typing import Callable, NamedTuple

from sg2tf.nvidia import stylegan1, stylegan2, stylegan2_ada, stylegan2_ada_pytorch, stylegan2_revised, tfstate
from sg2tf.nvidia.unpickler import NetworkPickleError

FAMILIES = (stylegan2, stylegan2_revised, stylegan2_ada, stylegan1)
KNOWN_VERSIONS = (2, 3, 4, 5)


class Reader(NamedTuple):
    family: str
    build_func: str | None          # None: any build function
    versions: tuple[int, ...]
    synthesis: str | None           # a generator's synthesis component build function (None: not checked)
    read: Callable | None           # (state, source) -> unbuilt Keras network; None: known, not supported yet


# Families that exist in NVIDIA's releases and that sg2tf recognises but does not read yet.
NOT_SUPPORTED_YET = (
    # Version 5 is written by StyleGAN2-ADA's dnnlib only: a build function its family does not read.
    Reader('a StyleGAN2-ADA (TF) network of another kind', None, (5,), None, None),
)

READERS = tuple(Reader(f.NAME, func, versions, synthesis, read)
                for f in FAMILIES for func, versions, synthesis, read in f.TF1_READERS) + NOT_SUPPORTED_YET


def _synthesis_func(state: dict) -> str | None:
    comp = (state.get('components') or {}).get('synthesis')
    return getattr(comp, 'state', {}).get('build_func_name')


def _check_versions(state: dict, source: str) -> None:
    if state.get('version') not in KNOWN_VERSIONS:
        raise NetworkPickleError(f"{source}: unknown Network state version {state.get('version')!r} in "
                                 f"{tfstate.describe(state)}")
    for comp in (state.get('components') or {}).values():
        if isinstance(getattr(comp, 'state', None), dict):
            _check_versions(comp.state, source)


def tf1_reader(state: dict, source: str) -> Callable:
    """The reader for a TF1 Network state; a one-line `NetworkPickleError` if no family reads it."""
    _check_versions(state, source)
    func, version, synthesis = state.get('build_func_name'), state.get('version'), _synthesis_func(state)
    for r in READERS:
        if (r.build_func in (None, func) and version in r.versions
                and (r.synthesis is None or r.synthesis == synthesis)):
            if r.read is None:
                extra = f' (Network state version {version}, {tfstate.describe(state)})' if r.build_func is None \
                    else ''
                raise NetworkPickleError(f'{source}: not supported yet: {r.family}{extra}')
            return r.read
    if any(r.build_func == func for r in READERS):
        comps = state.get('components') or {}
        mapping = getattr(comps.get('mapping'), 'state', {}).get('build_func_name')
        raise NetworkPickleError(f'{source}: not supported yet: {tfstate.describe(state)} with synthesis '
                                 f'{synthesis!r} and mapping {mapping!r} (state version {version})')
    raise NetworkPickleError(f"{source}: not supported: unknown build function {func!r} of network "
                             f"{state.get('name')!r}")


# Families read from stylegan2-ada-pytorch snapshots (torch_pickle), by the class name of a persistent object.
TORCH_FAMILIES = (stylegan2_ada_pytorch,)


def torch_reader(class_name: str, source: str, key: str) -> Callable:
    """(PersistentObject, source, name) -> TF1 Network state, for a snapshot network of `class_name`."""
    for family in TORCH_FAMILIES:
        if class_name in family.TORCH_READERS:
            return family.TORCH_READERS[class_name]
    raise NetworkPickleError(f'{source}: {key}: not supported: a stylegan2-ada-pytorch {class_name[:40]!r} is not a '
                             f'network sg2tf reads')


def writer(model) -> Callable:
    """The family writer for an sg2tf network (the nearest class in its MRO that a family writes)."""
    for cls in type(model).__mro__:
        for family in FAMILIES:
            if cls in family.WRITERS:
                return family.WRITERS[cls]
    raise TypeError(f'cannot write {type(model).__name__} as an NVIDIA network')
