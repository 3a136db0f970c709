"""Portable exports of a generator (ONNX, TensorFlow Lite): the endpoints, their conversion and a check in the
target runtime. Shared by `sg2tf-export-onnx` and `sg2tf-export-tflite`.

Endpoints (N is dynamic; `labels` only for conditional networks), named as in the SavedModel export:
  full (signature serving_default): z [N, z_dim], labels [N, label_size], truncation_psi [] -> images uint8 NHWC
  mapping:                          z, labels, truncation_psi -> w [N, num_ws, w_dim] float32
  synthesis:                        w [N, num_ws, w_dim] -> images [N, R, R, C] float32 (nominally [-1, 1])
Every endpoint is the network's own pure-TF graph (reference ops, variables frozen to constants); the uint8
conversion is NVIDIA's rule written with min/max (TFLite has no ClipByValue kernel).
"""
from __future__ import annotations

import contextlib

import os
import tempfile
from typing import Callable

import numpy as np

from sg2tf.arch import NOISE_MODES
from sg2tf.cli._common import ToolError, fail

PARTS = ('full', 'mapping', 'synthesis')
SIGNATURES = {'full': 'serving_default', 'mapping': 'mapping', 'synthesis': 'synthesis'}
OUTPUTS = {'full': 'images', 'mapping': 'w', 'synthesis': 'images'}
CHECK_TOL = 1e-4  # float rel err the export-time runtime check accepts (the test suite asserts 1e-5)


def to_uint8(images):
    """dnnlib/tflib/tfutil.py `convert_images_to_uint8` for drange [-1, 1]: saturate_cast(x * 127.5 + 128).

    The clamp is written as maximum/minimum so that every runtime has the ops; the cast truncates like
    `tf.saturate_cast` after its clamp.
    """
    import tensorflow as tf
    x = images * 127.5 + 128.0
    return tf.cast(tf.minimum(tf.maximum(x, 0.0), 255.0), tf.uint8)


def input_specs(G, part: str) -> list:
    """The endpoint's `tf.TensorSpec`s, in argument order."""
    import tensorflow as tf
    if part == 'synthesis':
        return [tf.TensorSpec([None, G.num_layers, G.dlatent_size], tf.float32, name='w')]
    specs = [tf.TensorSpec([None, G.latent_size], tf.float32, name='z')]
    if G.label_size:
        specs.append(tf.TensorSpec([None, G.label_size], tf.float32, name='labels'))
    return specs + [tf.TensorSpec([], tf.float32, name='truncation_psi')]


def check_request(G, part: str, noise_mode: str, truncation_cutoff: int | None) -> None:
    """Refuse, with one line, an export that could not be faithful or that makes no sense."""
    if part not in PARTS:
        raise ToolError(f'--part must be one of {list(PARTS)}, got {part!r}')
    if noise_mode not in NOISE_MODES:
        raise ToolError(f'noise mode must be one of {list(NOISE_MODES)}, got {noise_mode!r}')
    if truncation_cutoff is not None and int(truncation_cutoff) < 0:
        raise ToolError(f'truncation cutoff must be >= 0, got {truncation_cutoff}')
    if part == 'mapping' and noise_mode != 'const':
        raise ToolError('--noise-mode applies to the synthesis network; the mapping part has no noise')
    for attr in ('latent_size', 'label_size', 'num_layers', 'dlatent_size', 'resolution', 'num_channels',
                 'mapping', 'synthesis', 'dlatent_avg'):
        if getattr(G, attr, None) is None:
            raise ToolError(f'{type(G).__name__} has no {attr}: not a generator this export understands')


def endpoint(G, part: str = 'full', noise_mode: str = 'const', truncation_cutoff: int | None = None):
    """A `tf.function` (with input signature) computing one part of `G` with pure-TF ops."""
    import tensorflow as tf
    from sg2tf import truncate
    from sg2tf.cli.export_savedmodel import _use_reference_ops

    check_request(G, part, noise_mode, truncation_cutoff)
    _use_reference_ops()
    if not G.built:
        G.build()
    specs = input_specs(G, part)

    def mapping_w(z, labels, psi):
        return truncate(G.mapping(z, labels), G.dlatent_avg, psi, truncation_cutoff)

    if part == 'synthesis':
        def fn(w):
            return {'images': G.synthesis(w, noise_mode=noise_mode)}
    else:
        def fn(z, *rest):
            labels, psi = (rest[0], rest[1]) if G.label_size else (None, rest[0])
            w = mapping_w(z, labels, psi)
            if part == 'mapping':
                return {'w': w}
            return {'images': to_uint8(G.synthesis(w, noise_mode=noise_mode))}
    fn = tf.function(fn, input_signature=specs, autograph=False)
    with _without_global_seed():  # traced now; later get_concrete_function() calls reuse this trace
        fn.get_concrete_function()
    return fn


@contextlib.contextmanager
def _without_global_seed():
    """Trace random ops without TensorFlow's global seed (restored afterwards). With a global seed set (e.g. by
    keras.utils.set_random_seed) every random op gets fixed seeds, which the ONNX and LiteRT kernels turn into
    the same draw on every call: 'random' noise would not be random."""
    import tensorflow as tf
    from tensorflow.python.eager import context  # no public getter for the global seed
    seed = context.global_seed()
    tf.random.set_seed(None)
    try:
        yield
    finally:
        tf.random.set_seed(seed)


def probe_inputs(G, part: str, batch: int = 2, seed: int = 0) -> dict[str, np.ndarray]:
    """Deterministic inputs for an endpoint: {input name: array}."""
    rng = np.random.RandomState(seed)
    if part == 'synthesis':
        w = rng.randn(batch, G.num_layers, G.dlatent_size).astype(np.float32)
        w = G.dlatent_avg.numpy()[None, None] + 0.5 * w  # near the W distribution, not far outside it
        return {'w': w.astype(np.float32)}
    out = {'z': rng.randn(batch, G.latent_size).astype(np.float32)}
    if G.label_size:
        out['labels'] = np.eye(G.label_size, dtype=np.float32)[rng.randint(G.label_size, size=batch)]
    out['truncation_psi'] = np.array(0.7, np.float32)
    return out


def run_tf(fn, inputs: dict[str, np.ndarray]) -> np.ndarray:
    """The endpoint's output on `inputs`, by TensorFlow itself."""
    names = [s.name for s in fn.input_signature]
    return next(iter(fn(*[inputs[n] for n in names]).values())).numpy()


def compare(got: np.ndarray, want: np.ndarray, what: str, deterministic: bool = True,
            tol: float = CHECK_TOL) -> str:
    """One line describing the agreement of a runtime's output with TensorFlow's; ToolError when it is not
    faithful (float rel err > tol, or a uint8 byte off by more than one)."""
    if got.shape != want.shape or got.dtype != want.dtype:
        raise ToolError(f'{what}: output {got.dtype}{list(got.shape)} differs from the network\'s '
                        f'{want.dtype}{list(want.shape)}; refusing to write an unfaithful graph')
    if not deterministic:
        if want.dtype != np.uint8 and not np.all(np.isfinite(got)):
            raise ToolError(f'{what}: the converted graph produced non-finite values; refusing to write it')
        return 'random noise: shapes and dtypes checked'
    if want.dtype == np.uint8:
        diff = int(np.abs(got.astype(int) - want.astype(int)).max())
        if diff > 1:
            raise ToolError(f'{what}: uint8 images differ from the network\'s by up to {diff}; refusing to write '
                            f'an unfaithful graph')
        return f'uint8 max diff {diff}'
    a, b = got.astype(np.float64), want.astype(np.float64)
    err = float(np.linalg.norm(a - b) / max(np.linalg.norm(b), 1e-30))
    if not err <= tol:
        raise ToolError(f'{what}: outputs differ from the network\'s (relative error {err:.2e} > {tol:g}); '
                        f'refusing to write an unfaithful graph')
    return f'rel err {err:.1e}'


def describe(G, part: str, noise_mode: str, truncation_cutoff: int | None) -> dict[str, str]:
    """Metadata stored in an export: what network and which endpoint it is."""
    import sg2tf
    return {'sg2tf_version': sg2tf.__version__, 'network_class': type(G).__name__, 'part': part,
            'signature': SIGNATURES[part], 'noise_mode': noise_mode,
            'truncation_cutoff': 'none' if truncation_cutoff is None else str(int(truncation_cutoff)),
            'resolution': str(G.resolution), 'num_channels': str(G.num_channels),
            'z_dim': str(G.latent_size), 'label_size': str(G.label_size), 'num_ws': str(G.num_layers),
            'w_dim': str(G.dlatent_size)}


def one_line(e: BaseException, limit: int = 300) -> str:
    """A converter's (often multi-line) exception as one line."""
    lines = [ln.strip() for ln in str(e).splitlines() if ln.strip()]
    return f'{type(e).__name__}: ' + ' '.join(lines)[:limit]


# ---------------------------------------------------------------- ONNX


def to_onnx(fn, opset: int):
    """The endpoint as an onnx ModelProto (tf2onnx.convert.from_function), batch dimensions named `N`."""
    try:
        import tf2onnx
    except ImportError:
        raise ToolError("tf2onnx is not installed (pip install 'sg2tf[export]')") from None
    max_opset = max(tf2onnx.constants.OPSET_TO_IR_VERSION)
    if not 7 <= int(opset) <= max_opset:
        raise ToolError(f'--opset must be between 7 and {max_opset} (tf2onnx {tf2onnx.__version__}), got {opset}')
    try:
        model, _ = tf2onnx.convert.from_function(fn, input_signature=fn.input_signature, opset=int(opset))
    except Exception as e:  # the converter's errors come in many types
        raise ToolError(f'tf2onnx cannot convert this network: {one_line(e)}') from None
    for value in list(model.graph.input) + list(model.graph.output):
        dims = value.type.tensor_type.shape.dim
        if len(dims) and not dims[0].HasField('dim_value'):
            dims[0].dim_param = 'N'
    return model


def onnx_metadata(model, opset: int, info: dict[str, str]) -> None:
    import onnx
    import tensorflow as tf
    import tf2onnx
    props = {'opset': str(int(opset)), 'converter': f'tf2onnx {tf2onnx.__version__}',
             'tensorflow': tf.__version__, **info}
    onnx.helper.set_model_props(model, props)


def run_onnx(model_bytes: bytes, inputs: dict[str, np.ndarray]) -> np.ndarray:
    """The model's (only) output in onnxruntime's CPU execution provider."""
    try:
        import onnxruntime as ort
    except ImportError:
        raise ToolError("onnxruntime is not installed (pip install 'sg2tf[export]'); it checks the export "
                        "(pass --skip-check to write it unchecked)") from None
    sess = ort.InferenceSession(model_bytes, providers=['CPUExecutionProvider'])
    return sess.run(None, {i.name: inputs[i.name] for i in sess.get_inputs()})[0]


# ---------------------------------------------------------------- TensorFlow Lite


def freeze(fn):
    """The endpoint with the network's variables folded into constants (TF's convert_variables_to_constants_v2),
    as a `tf.function` with the same input signature and output names: a graph with no variables left."""
    import tensorflow as tf
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2
    concrete = fn.get_concrete_function()
    keys = list(concrete.structured_outputs)
    frozen = convert_variables_to_constants_v2(concrete)

    def call(*args):
        return dict(zip(keys, frozen(*args)))
    return tf.function(call, input_signature=fn.input_signature, autograph=False)


def to_tflite(fn, signature: str, float16: bool = False) -> bytes:
    """The endpoint as a TFLite flatbuffer with one signature (TFLiteConverter.from_saved_model on the frozen
    endpoint: LiteRT would otherwise keep the weights as uninitialised resource variables); `float16`: weights
    stored as float16."""
    import tensorflow as tf
    module = tf.Module()
    module.fn = freeze(fn)
    with tempfile.TemporaryDirectory(prefix='sg2tf-tflite-') as tmp:
        tf.saved_model.save(module, tmp, signatures={signature: module.fn.get_concrete_function()})
        converter = tf.lite.TFLiteConverter.from_saved_model(tmp, signature_keys=[signature])
        if float16:
            converter.optimizations = [tf.lite.Optimize.DEFAULT]
            converter.target_spec.supported_types = [tf.float16]
        try:
            return converter.convert()
        except Exception as e:
            msg = str(e)
            ops = [ln.split(':', 1)[1].strip() for ln in msg.splitlines() if 'TF Select ops:' in ln]
            if ops:
                raise ToolError(f'TFLite has no builtin kernel for: {ops[0]}') from None
            raise ToolError(f'the TFLite converter cannot convert this network: {one_line(e)}') from None


def tflite_interpreter(model_bytes: bytes):
    """LiteRT's interpreter (`ai-edge-litert`), else `tf.lite.Interpreter`; returns (interpreter, runtime name)."""
    try:
        from ai_edge_litert.interpreter import Interpreter
        return Interpreter(model_content=model_bytes), 'ai-edge-litert'
    except ImportError:
        import tensorflow as tf
        return tf.lite.Interpreter(model_content=model_bytes), 'tf.lite'


def run_tflite(model_bytes: bytes, signature: str, inputs: dict[str, np.ndarray]) -> np.ndarray:
    interp, _ = tflite_interpreter(model_bytes)
    out = interp.get_signature_runner(signature)(**inputs)
    return next(iter(out.values()))


# ---------------------------------------------------------------- the commands' shared flow


def check_export(G, fn, part: str, noise_mode: str, run: Callable[[dict], np.ndarray], what: str,
                 tol: float = CHECK_TOL) -> list[str]:
    """Run the export on two probe batches (sizes 1 and 3) in its runtime and compare with TensorFlow."""
    notes = []
    for batch in (1, 3):
        inputs = probe_inputs(G, part, batch)
        notes.append(f'batch {batch}: ' + compare(run(inputs), run_tf(fn, inputs), what,
                                                  noise_mode != 'random' or part == 'mapping', tol))
    return notes


def main_common(ap, argv, export: Callable) -> int:
    """Parse, load the generator, call `export(G, args) -> summary lines`; errors as one line, exit 1."""
    from sg2tf.cli._common import check_output, load_generator
    args = ap.parse_args(argv)
    os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
    try:
        check_output(args.out, args.overwrite)  # fail fast, before loading the network
        G = load_generator(args.network)
        check_request(G, args.part, args.noise_mode, args.trunc_cutoff)
        lines = export(G, args)
    except (ToolError, OSError) as e:
        return fail(e, args.out)
    for line in lines:
        print(line)
    return 0


def add_common_args(ap) -> None:
    ap.add_argument('--network', required=True, help='NVIDIA pickle (uses Gs) or an sg2tf .keras Generator')
    ap.add_argument('--part', choices=PARTS, default='full',
                    help='full: z -> uint8 images; mapping: z -> w; synthesis: w -> float32 images (default full)')
    ap.add_argument('--noise-mode', choices=NOISE_MODES, default='const',
                    help='const: the stored noise buffers (deterministic); random: fresh noise per call; none')
    ap.add_argument('--trunc-cutoff', type=int, default=None,
                    help='apply truncation_psi only to W layers < cutoff (default: all layers)')
    ap.add_argument('--skip-check', action='store_true',
                    help='do not run the export in its runtime against TensorFlow before writing it')
    ap.add_argument('--overwrite', action='store_true', help='replace OUT if it exists')
