"""List the ops a SavedModel uses that stock TensorFlow does not register (custom ops would break TF Serving).

Run as a script in a fresh process, so no custom op library (sg2tf's or anyone's) is loaded:

    python -I sg2tf/cli/stock_ops.py EXPORT_DIR/1      # one op per line; exit 0 clean, 3 unknown ops found

This file imports nothing but TensorFlow; keep it that way. It is run by file path (not `-m`, which would
import the sg2tf package and its ops first) by sg2tf-export-savedmodel.
"""
from __future__ import annotations

import os
import sys


def graph_ops(saved_model_dir: str) -> set[str]:
    """Every op type in every meta graph of `saved_model_dir`, including function-library bodies.

    Calls of library functions (nodes whose op is a function name) are not ops and are left out.
    """
    from tensorflow.core.protobuf import saved_model_pb2
    sm = saved_model_pb2.SavedModel()
    with open(os.path.join(saved_model_dir, 'saved_model.pb'), 'rb') as f:
        sm.ParseFromString(f.read())
    ops: set[str] = set()
    for meta in sm.meta_graphs:
        library = meta.graph_def.library
        functions = {fn.signature.name for fn in library.function}
        nodes = list(meta.graph_def.node)
        for fn in library.function:
            nodes.extend(fn.node_def)
        ops.update(node.op for node in nodes if node.op not in functions)
    return ops


def unregistered_ops(saved_model_dir: str) -> list[str]:
    """Ops of the SavedModel that this process's op registry does not know (sorted)."""
    import tensorflow  # noqa: F401  (registers the stock ops)
    from tensorflow.python.framework import op_def_registry
    return sorted(op for op in graph_ops(saved_model_dir) if op_def_registry.get(op) is None)


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print('usage: python -I sg2tf/cli/stock_ops.py SAVED_MODEL_DIR', file=sys.stderr)
        return 2
    os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '3')
    if 'sg2tf' in sys.modules:  # pragma: no cover - guards against misuse from a process with custom ops
        print('error: run this check in a fresh process that has not imported sg2tf', file=sys.stderr)
        return 2
    try:
        bad = unregistered_ops(argv[0])
    except Exception as e:  # OSError, protobuf DecodeError, ...
        print(f'error: {argv[0]}: cannot read the SavedModel ({e})', file=sys.stderr)
        return 2
    for op in bad:
        print(op)
    return 3 if bad else 0


if __name__ == '__main__':
    sys.exit(main())
