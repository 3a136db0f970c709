"""Shared by the commands: load networks from any supported file, write outputs through `sg2tf.fileio`.

Every failure the user can fix is a `ToolError` with a one-line message, printed by the command as
`error: ...`.
"""
from __future__ import annotations

import contextlib
import os
import sys
from typing import Iterator

from sg2tf import fileio


class ToolError(Exception):
    """Bad input or output for a command; the message is one line, printed as `error: ...`."""


def fail(error: BaseException, target: str = '') -> int:
    """Print a command's failure as one line `error: ...` on stderr; returns the exit status 1.

    An OSError names its file (or `target`, the output the command was writing) and the system's reason.
    """
    if isinstance(error, OSError):
        where = getattr(error, 'filename', None) or target
        message = f'{where}: {error.strerror or error}' if where else str(error.strerror or error)
    else:
        message = str(error)
    print('error: ' + ' '.join(message.split()), file=sys.stderr)
    return 1


def is_generator(model) -> bool:
    """Any sg2tf generator of any family (they all carry the dnnlib generator API)."""
    from sg2tf.compat import DnnlibGeneratorMixin
    return isinstance(model, DnnlibGeneratorMixin)


def is_discriminator(model) -> bool:
    from sg2tf.compat import DnnlibDiscriminatorMixin
    return isinstance(model, DnnlibDiscriminatorMixin)


def load_any(path: str, networks=None):
    """An NVIDIA pickle or stylegan2-ada-pytorch snapshot -> its dict of networks (or one network); a `.keras`
    file -> the sg2tf model it holds."""
    from sg2tf.nvidia import NetworkPickleError, load_network_pkl  # also registers every family's Keras classes
    if not os.path.isfile(path):
        raise ToolError(f'{path}: no such file')
    if path.endswith('.keras'):
        import keras
        from sg2tf.layers import weights_to_be_filled
        try:
            with weights_to_be_filled():  # the file's weights replace every initial value
                model = keras.models.load_model(path)
        except Exception as e:  # zip / config / weight errors of all kinds
            raise ToolError(f'{path}: not a loadable sg2tf .keras file ({type(e).__name__}: '
                            f'{" ".join(str(e).split())[:160]})') from None
        if not (is_generator(model) or is_discriminator(model)):
            raise ToolError(f'{path}: holds a {type(model).__name__}, expected an sg2tf Generator or Discriminator')
        return model
    try:
        return load_network_pkl(path, networks=networks)
    except NetworkPickleError as e:
        raise ToolError(str(e)) from None


def load_generator(path: str):
    """Gs (G_ema) of a pickle or snapshot (or its single generator), or the generator of a `.keras` file."""
    nets = load_any(path, networks=('Gs',))  # D and the training G are not built
    if isinstance(nets, dict) and 'Gs' not in nets:  # a snapshot stripped of G_ema: its training G
        nets = load_any(path, networks=('G',))
    G = nets.get('Gs', nets.get('G')) if isinstance(nets, dict) else nets
    if not is_generator(G):
        raise ToolError(f'{path}: holds a {type(G).__name__}, expected a generator')
    return G


FP16_HELP = ("compute the resolutions the network declares float16 (ADA's num_fp16_res) in float16, as ADA does "
             "on a GPU; without a GPU they run in float16 on the CPU, no faster than float32. Default: float32")


def set_fp16(G, enabled: bool) -> str | None:
    """Apply `--fp16` to a generator; returns the line the command prints about it (None if not asked)."""
    if not enabled:
        return None
    import warnings
    import tensorflow as tf
    from sg2tf import arch
    count = getattr(G.synthesis, 'num_fp16_res', 0)
    if not hasattr(G.synthesis, 'fp16') or not count:
        return '--fp16: the network declares no float16 resolutions (num_fp16_res=0); computing in float32'
    G.fp16 = True
    warnings.filterwarnings('ignore', message='.*float16 requested without a GPU')  # said here, once
    first = arch.fp16_resolutions(G.resolution, count)[0]
    where = ('on the GPU' if tf.config.list_logical_devices('GPU') else
             'on the CPU (no GPU visible; TensorFlow computes float16 there no faster than float32)')
    return f'--fp16: resolutions {first}x{first} to {G.resolution}x{G.resolution} in float16 {where}'


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
