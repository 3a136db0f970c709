"""Shared by the command-line tools: load networks from any supported file, write outputs atomically."""
from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import uuid


class ToolError(Exception):
    """Bad input or output for a tool; the message is one line, printed as `error: ...`."""


def load_any(path: str):
    """An NVIDIA pickle -> {'G', 'D', 'Gs'} (or one network); a `.keras` file -> the sg2tf model it holds."""
    from legacy import NetworkPickleError, load_network_pkl
    if not os.path.isfile(path):
        raise ToolError(f'{path}: no such file')
    if path.endswith('.keras'):
        import keras
        import sg2tf  # noqa: F401  (registers the custom layers)
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


def check_output_dir(target: str, overwrite: bool) -> None:
    """Refuse an existing non-empty directory (unless `overwrite`), a file in the way, or a missing parent."""
    if os.path.lexists(target) and not os.path.isdir(target):
        raise ToolError(f'{target}: exists and is not a directory')
    if os.path.isdir(target) and os.listdir(target) and not overwrite:
        raise ToolError(f'{target}: directory exists and is not empty (pass --overwrite to replace it)')
    parent = os.path.dirname(os.path.abspath(target))
    if not os.path.isdir(parent):
        raise ToolError(f'{target}: parent directory {parent} does not exist')
    if not os.access(parent, os.W_OK | os.X_OK):
        raise ToolError(f'{target}: cannot write to {parent} (permission denied)')


@contextlib.contextmanager
def atomic_output_dir(target: str, overwrite: bool = False):
    """Yield a temporary directory beside `target`; on success it replaces `target` in one rename.

    On any error the temporary directory is removed and `target` is left as it was.
    """
    target = os.path.abspath(target)
    check_output_dir(target, overwrite)
    parent, base = os.path.split(target)
    try:
        tmp = tempfile.mkdtemp(prefix=f'.{base}.tmp-', dir=parent)
    except OSError as e:
        raise ToolError(f'{target}: cannot write to {parent} ({e.strerror or e})') from None
    try:
        yield tmp
        os.chmod(tmp, 0o755)
        if os.path.isdir(target):
            old = os.path.join(parent, f'.{base}.old-{uuid.uuid4().hex[:8]}')
            os.rename(target, old)
            try:
                os.rename(tmp, target)
            except OSError:
                os.rename(old, target)
                raise
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.rename(tmp, target)
    finally:
        if os.path.isdir(tmp):
            shutil.rmtree(tmp, ignore_errors=True)


def atomic_output_file(target: str, overwrite: bool = False) -> str:
    """Check `target` can be written and return a temporary path beside it (same extension); the caller
    writes there and calls `os.replace(tmp, target)`."""
    target = os.path.abspath(target)
    if os.path.exists(target) and not overwrite:
        raise ToolError(f'{target}: file exists (pass --overwrite to replace it)')
    if os.path.isdir(target):
        raise ToolError(f'{target}: is a directory')
    parent = os.path.dirname(target)
    if not os.path.isdir(parent):
        raise ToolError(f'{target}: parent directory {parent} does not exist')
    if not os.access(parent, os.W_OK | os.X_OK):
        raise ToolError(f'{target}: cannot write to {parent} (permission denied)')
    base = os.path.basename(target)
    ext = next((e for e in ('.weights.h5', '.keras', '.pkl') if base.endswith(e)), '')
    return os.path.join(parent, f'.{base[:len(base) - len(ext)]}.tmp-{uuid.uuid4().hex[:8]}{ext}')
