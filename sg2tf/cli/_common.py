"""Shared by the commands: load networks from any supported file, write outputs through `sg2tf.fileio`.

Every failure the user can fix is a `ToolError` with a one-line message, printed by the command as
`error: ...`.
"""
from __future__ import annotations

import contextlib
import os
from typing import Iterator

from sg2tf import fileio


class ToolError(Exception):
    """Bad input or output for a command; the message is one line, printed as `error: ...`."""


def load_any(path: str):
    """An NVIDIA pickle -> {'G', 'D', 'Gs'} (or one network); a `.keras` file -> the sg2tf model it holds."""
    import sg2tf
    from sg2tf.nvidia import NetworkPickleError, load_network_pkl
    if not os.path.isfile(path):
        raise ToolError(f'{path}: no such file')
    if path.endswith('.keras'):
        import keras
        try:
            model = keras.models.load_model(path)
        except Exception as e:  # zip / config / weight errors of all kinds
            raise ToolError(f'{path}: not a loadable sg2tf .keras file ({type(e).__name__}: '
                            f'{" ".join(str(e).split())[:160]})') from None
        if not isinstance(model, (sg2tf.Generator, sg2tf.Discriminator)):
            raise ToolError(f'{path}: holds a {type(model).__name__}, expected an sg2tf Generator or Discriminator')
        return model
    try:
        return load_network_pkl(path)
    except NetworkPickleError as e:
        raise ToolError(str(e)) from None


def load_generator(path: str):
    """Gs of an NVIDIA pickle (or its single generator), or the Generator of a `.keras` file."""
    import sg2tf
    nets = load_any(path)
    G = nets['Gs'] if isinstance(nets, dict) else nets
    if not isinstance(G, sg2tf.Generator):
        raise ToolError(f'{path}: holds a {type(G).__name__}, expected a generator')
    return G


def check_output(target: str, overwrite: bool = False, directory: bool = False) -> str:
    """`sg2tf.fileio.check_output` with its refusal as a ToolError (to fail before any slow work)."""
    try:
        return fileio.check_output(target, overwrite=overwrite, directory=directory)
    except fileio.OutputError as e:
        raise ToolError(str(e)) from None


@contextlib.contextmanager
def atomic_output(target: str, directory: bool = False, overwrite: bool = False) -> Iterator[str]:
    """`sg2tf.fileio.atomic_write` (a temporary beside `target`, renamed on success, removed on failure) with
    its refusals as ToolError; unlike the library default, an existing output is kept unless `overwrite`."""
    try:
        with fileio.atomic_write(target, directory=directory, overwrite=overwrite) as tmp:
            yield tmp
    except fileio.OutputError as e:
        raise ToolError(str(e)) from None
