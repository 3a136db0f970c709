"""Export a StyleGAN2 generator as a TensorFlow SavedModel for TF Serving (versioned layout `DIR/1/`).

    sg2tf-export-savedmodel --network stylegan2-ffhq-config-f.pkl --out /models/stylegan2 [--noise-mode random]

Signatures (N is dynamic; `labels` only for conditional networks):
  serving_default: z [N, z_dim], labels [N, label_size], truncation_psi [] -> images [N, R, R, C] uint8
  mapping:         z [N, z_dim], labels [N, label_size], truncation_psi [] -> w [N, num_ws, w_dim] float32
  synthesis:       w [N, num_ws, w_dim] -> images [N, R, R, C] float32 (nominally [-1, 1])
uint8 uses NVIDIA's rule `saturate_cast(x * 127.5 + 128)`. The graph contains stock TensorFlow ops only
(checked after writing, in a fresh process); nothing from sg2tf is needed to load or serve it.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys

from sg2tf.arch import NOISE_MODES
from sg2tf.cli._common import FP16_HELP, ToolError, atomic_output, check_output, fail, load_generator, set_fp16

_STOCK_OPS_SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'stock_ops.py')


def _use_reference_ops():
    """Custom C++ ops (if this sg2tf has them) must not end up in an export: select the pure-TF path."""
    from sg2tf import ops
    if hasattr(ops, 'set_default_impl'):
        ops.set_default_impl('ref')


def _checked(x, spec):
    """Fail at run time with a clear message when a request's shape differs from the signature's.

    Signature shapes are not enforced by TF Serving or by `signatures[...]()`; without this check a wrong
    z width surfaces as a MatMul size error deep inside the graph.
    """
    import tensorflow as tf
    want = '[' + ', '.join('N' if d is None else str(d) for d in spec.shape.as_list()) + ']'
    shape = tf.shape(x)
    ok = tf.equal(tf.size(shape), spec.shape.rank)
    known = [(i, d) for i, d in enumerate(spec.shape.as_list()) if d is not None]
    if known:
        padded = tf.concat([shape, tf.zeros([spec.shape.rank], tf.int32)], 0)
        ok = tf.logical_and(ok, tf.reduce_all(tf.equal(tf.gather(padded, [i for i, _ in known]),
                                                       [d for _, d in known])))
    check = tf.debugging.Assert(ok, [f'input {spec.name} must have shape {want}; got shape', shape], summarize=8)
    with tf.control_dependencies([check]):
        return tf.identity(x)


def _request_checked(x, max_batch: int | None, what: str):
    """In-graph limits of a request: at most `max_batch` samples (a large batch would abort the server process
    on allocation), and finite values for a scalar like truncation_psi."""
    import tensorflow as tf
    if max_batch is None:
        ok = tf.reduce_all(tf.math.is_finite(x))
        check = tf.debugging.Assert(ok, [f'input {what} must be finite; got', x])
    else:
        check = tf.debugging.Assert(tf.shape(x)[0] <= max_batch,
                                    [f'input {what}: at most {max_batch} samples per request (export --max-batch); '
                                     f'got', tf.shape(x)[0]])
    with tf.control_dependencies([check]):
        return tf.identity(x)


def _one_sample(w):
    """`w` of a one-sample request with that static batch of 1: the signature's batch is dynamic, which would
    leave every request on the batched-activation path; the batch-1 graph has per-sample modulated kernels and
    fused layer ends (faster, less memory). Same math."""
    one = w[:1]
    one.set_shape([1, *w.shape[1:]])
    return one


def build_archive(G, noise_mode: str = 'const', truncation_cutoff: int | None = None, max_batch: int = 64):
    """A `keras.export.ExportArchive` with the three endpoints of a Generator; requests of more than
    `max_batch` samples or a non-finite truncation_psi fail with a clear error."""
    import keras
    import tensorflow as tf
    from sg2tf import truncate
    from sg2tf.images import convert_images_to_uint8

    if noise_mode not in NOISE_MODES:
        raise ToolError(f'noise mode must be one of {list(NOISE_MODES)}, got {noise_mode!r}')
    _use_reference_ops()
    if not G.built:
        G.build()
    z_spec = tf.TensorSpec([None, G.latent_size], tf.float32, name='z')
    c_spec = tf.TensorSpec([None, G.label_size], tf.float32, name='labels')
    psi_spec = tf.TensorSpec([], tf.float32, name='truncation_psi')
    w_spec = tf.TensorSpec([None, G.num_layers, G.dlatent_size], tf.float32, name='w')

    def mapping_w(z, labels, psi):
        z = _request_checked(_checked(z, z_spec), max_batch, 'z')
        labels = None if labels is None else _checked(labels, c_spec)
        psi = _request_checked(_checked(psi, psi_spec), None, 'truncation_psi')
        return truncate(G.mapping(z, labels), G.dlatent_avg, psi, truncation_cutoff)

    def images(w, check=False):
        w = _request_checked(_checked(w, w_spec), max_batch, 'w') if check else w
        return tf.cond(tf.shape(w)[0] == 1, lambda: G.synthesis(_one_sample(w), noise_mode=noise_mode),
                       lambda: G.synthesis(w, noise_mode=noise_mode))

    archive = keras.export.ExportArchive()
    archive.track(G)
    if G.label_size:
        def serve(z, labels, truncation_psi):
            return {'images': convert_images_to_uint8(images(mapping_w(z, labels, truncation_psi)))}

        def mapping(z, labels, truncation_psi):
            return {'w': mapping_w(z, labels, truncation_psi)}
        specs = [z_spec, c_spec, psi_spec]
    else:
        def serve(z, truncation_psi):
            return {'images': convert_images_to_uint8(images(mapping_w(z, None, truncation_psi)))}

        def mapping(z, truncation_psi):
            return {'w': mapping_w(z, None, truncation_psi)}
        specs = [z_spec, psi_spec]

    def synthesis(w):
        return {'images': images(w, check=True)}

    archive.add_endpoint('serving_default', serve, input_signature=specs)
    archive.add_endpoint('mapping', mapping, input_signature=specs)
    archive.add_endpoint('synthesis', synthesis, input_signature=[w_spec])
    return archive


def check_stock_ops(saved_model_dir: str) -> None:
    """Fail unless every op in the SavedModel (graph and function library) is registered in stock TF.

    Runs `sg2tf/cli/stock_ops.py` by path in a fresh, isolated interpreter (`python -I`, so not even sg2tf's
    package is imported) that loads no custom op library.
    """
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL='3')
    res = subprocess.run([sys.executable, '-I', _STOCK_OPS_SCRIPT, saved_model_dir], capture_output=True,
                         text=True, env=env)
    if res.returncode == 3:
        ops = ', '.join(res.stdout.split())
        raise ToolError(f'the exported graph uses ops that stock TensorFlow does not register: {ops}')
    if res.returncode != 0:
        last = (res.stderr.strip().splitlines() or ['(no output)'])[-1]
        raise ToolError(f'stock-op check failed: {last}')


def export_savedmodel(G, out_dir: str, version: int = 1, noise_mode: str = 'const',
                      truncation_cutoff: int | None = None, overwrite: bool = False, max_batch: int = 64) -> str:
    """Write `G` as a SavedModel at `out_dir/<version>/`, atomically; returns that version directory.

    `out_dir` must not exist or be empty unless `overwrite` (then it is replaced as a whole).
    """
    if int(version) < 1:
        raise ToolError(f'version must be a positive integer, got {version}')
    if int(max_batch) < 1:
        raise ToolError(f'--max-batch must be a positive integer, got {max_batch}')
    archive = build_archive(G, noise_mode, truncation_cutoff, int(max_batch))
    with atomic_output(out_dir, directory=True, overwrite=overwrite) as tmp:
        path = os.path.join(tmp, str(int(version)))
        archive.write_out(path, verbose=False)
        check_stock_ops(path)
    return os.path.join(os.path.abspath(out_dir), str(int(version)))


def main(argv=None) -> int:
    doc = __doc__.split('\n')
    ap = argparse.ArgumentParser(description=doc[0], formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog='\n'.join(doc[4:]))
    ap.add_argument('--network', required=True, help='NVIDIA pickle (uses Gs) or an sg2tf .keras Generator')
    ap.add_argument('--out', required=True, help='export base directory; the model goes to OUT/VERSION/')
    ap.add_argument('--version', type=int, default=1, help='model version subdirectory (default 1)')
    ap.add_argument('--noise-mode', choices=NOISE_MODES, default='const',
                    help='const: the stored noise buffers (deterministic); random: fresh noise per request; none')
    ap.add_argument('--trunc-cutoff', type=int, default=None,
                    help='apply truncation_psi only to W layers < cutoff (default: all layers)')
    ap.add_argument('--max-batch', type=int, default=64,
                    help='largest batch a request may hold (default 64); larger requests fail with a clear error')
    ap.add_argument('--overwrite', action='store_true', help='replace OUT if it exists and is not empty')
    ap.add_argument('--fp16', action='store_true', help=FP16_HELP + ' (the exported graph keeps the choice)')
    args = ap.parse_args(argv)

    os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
    try:
        check_output(args.out, args.overwrite, directory=True)  # fail fast, before loading the network
        G = load_generator(args.network)
        note = set_fp16(G, args.fp16)
        if note:
            print(note)
        path = export_savedmodel(G, args.out, args.version, args.noise_mode, args.trunc_cutoff, args.overwrite,
                                 args.max_batch)
    except (ToolError, OSError) as e:
        return fail(e, args.out)
    print(f'Exported {G.resolution}x{G.resolution} generator (z {G.latent_size}, labels {G.label_size}, '
          f'noise {args.noise_mode}) to {path}')
    print('Signatures: serving_default (z, ' + ('labels, ' if G.label_size else '') +
          'truncation_psi -> uint8 images), mapping (-> w), synthesis (w -> float images)')
    return 0


if __name__ == '__main__':
    sys.exit(main())
