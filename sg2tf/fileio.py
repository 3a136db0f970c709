"""The one way sg2tf produces a file or a directory: write under a temporary name beside it, rename on success.

A reader never sees a half-written output, and a failure (an exception, Ctrl-C) leaves the target as it was:

    with atomic_write('out/seed0000.png') as tmp:      # tmp: '.seed0000.tmp-1a2b3c4d.png' in out/
        image.save(tmp)
    with atomic_write('exported', directory=True) as tmp:
        ...                                              # fill the directory tmp
"""
from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import uuid
from typing import Iterator

# Multi-part extensions kept at the end of temporary names (libraries such as Keras choose the format by it).
_EXTENSIONS = ('.weights.h5', '.tar.gz')


class OutputError(ValueError):
    """An output that cannot be written where asked (exists, missing parent, no permission); one line."""


def _split_ext(base: str) -> tuple[str, str]:
    for ext in _EXTENSIONS:
        if base.endswith(ext) and len(base) > len(ext):
            return base[:-len(ext)], ext
    stem, ext = os.path.splitext(base)
    return stem, ext


def check_output(target: str | os.PathLike, overwrite: bool = True, directory: bool = False) -> str:
    """Absolute path of `target` after checking it can be produced; raises `OutputError` naming the problem.

    A file target may not be a directory; a directory target may not be a file, and an existing non-empty
    directory (or existing file) is refused unless `overwrite`.
    """
    target = os.path.abspath(os.fspath(target))
    parent, base = os.path.split(target)
    if not base:
        raise OutputError(f'{target}: not a valid output name')
    if directory:
        if os.path.lexists(target) and not os.path.isdir(target):
            raise OutputError(f'{target}: exists and is not a directory')
        if os.path.isdir(target) and os.listdir(target) and not overwrite:
            raise OutputError(f'{target}: directory exists and is not empty (pass --overwrite to replace it)')
    else:
        if os.path.isdir(target):
            raise OutputError(f'{target}: is a directory')
        if os.path.lexists(target) and not overwrite:
            raise OutputError(f'{target}: file exists (pass --overwrite to replace it)')
    if not os.path.isdir(parent):
        raise OutputError(f'{target}: parent directory {parent} does not exist')
    if not os.access(parent, os.W_OK | os.X_OK):
        raise OutputError(f'{target}: cannot write to {parent} (permission denied)')
    return target


@contextlib.contextmanager
def atomic_write(target: str | os.PathLike, directory: bool = False, overwrite: bool = True) -> Iterator[str]:
    """Yield a temporary path in `target`'s directory; rename it to `target` when the block succeeds.

    `directory=True`: the temporary path is an (empty) directory to fill, and an existing target directory is
    replaced (moved aside, the new one renamed in, the old one removed). The temporary file keeps the target's
    extension. With `overwrite=False` the refusal checks run again before the rename. On any exception the
    temporary is removed and the exception propagates.
    """
    target = check_output(target, overwrite=overwrite, directory=directory)
    parent, base = os.path.split(target)
    stem, ext = _split_ext(base)
    try:
        if directory:
            tmp = tempfile.mkdtemp(prefix=f'.{base}.tmp-', dir=parent)
        else:
            tmp = os.path.join(parent, f'.{stem}.tmp-{uuid.uuid4().hex[:8]}{ext}')
    except OSError as e:
        raise OutputError(f'{target}: cannot write to {parent} ({e.strerror or e})') from None
    try:
        yield tmp
        if not overwrite:  # something may have appeared at `target` while the temporary was written
            check_output(target, overwrite=False, directory=directory)
        if directory:
            os.chmod(tmp, 0o755)
            _replace_dir(tmp, target)
        else:
            os.replace(tmp, target)
    finally:
        if os.path.isdir(tmp) and not os.path.islink(tmp):
            shutil.rmtree(tmp, ignore_errors=True)
        elif os.path.lexists(tmp):
            os.remove(tmp)


def _replace_dir(tmp: str, target: str) -> None:
    if not os.path.isdir(target):
        os.rename(tmp, target)
        return
    parent, base = os.path.split(target)
    old = os.path.join(parent, f'.{base}.old-{uuid.uuid4().hex[:8]}')
    os.rename(target, old)
    try:
        os.rename(tmp, target)
    except OSError:
        os.rename(old, target)
        raise
    shutil.rmtree(old, ignore_errors=True)


@contextlib.contextmanager
def atomic_open(target: str | os.PathLike, mode: str = 'wb', overwrite: bool = True, **kwargs) -> Iterator:
    """`open()` for writing through `atomic_write`: the file appears complete at `target` or not at all."""
    if not any(c in mode for c in 'wx'):
        raise ValueError(f'atomic_open writes a new file; mode {mode!r} has no w or x')
    with atomic_write(target, overwrite=overwrite) as tmp:
        with open(tmp, mode.replace('x', 'w'), **kwargs) as f:
            yield f
