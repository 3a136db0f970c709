"""dnnlib-compatible `run()` / `get_var()` API on sg2tf networks, so NVIDIA scripts port with few changes.

Inputs and outputs here follow NVIDIA's conventions: NumPy arrays, images NCHW, `randomize_noise`,
`truncation_psi` defaults from the network's static kwargs, `output_transform=dict(func=..., **kwargs)`.
"""
from __future__ import annotations

import weakref

import numpy as np
import tensorflow as tf

from sg2tf import ops
from sg2tf.misc import release_free_heap



class _EasyDict(dict):
    def __getattr__(self, name):
        try:
            return self[name]
        except KeyError as e:
            raise AttributeError(name) from e


def _run_batches(call, minibatch_size: int | None, *inputs: np.ndarray) -> list:
    """`call(*inputs)` on slices of `minibatch_size` samples (all at once if None), each output converted to
    NumPy; the C heap's free pages go back to the OS after each slice (`release_free_heap`)."""
    n = len(inputs[0])
    step = max(n if not minibatch_size else int(minibatch_size), 1)
    outs = []
    for i in range(0, n, step):
        out = call(*(x[i:i + step] for x in inputs))
        outs.append(tuple(t.numpy() for t in out) if isinstance(out, (tuple, list)) else out.numpy())
        del out
        release_free_heap()
    return outs


def _joined(parts: list) -> np.ndarray:
    """The minibatches' outputs as one array; a single one as it is (no copy of a large image batch)."""
    return parts[0] if len(parts) == 1 else np.concatenate(parts)


def _labels(labels, n: int, label_size: int) -> np.ndarray:
    if labels is None:
        return np.zeros([n, label_size], np.float32)
    labels = np.asarray(labels, np.float32)
    if labels.shape != (n, label_size):
        raise ValueError(f'labels: expected shape [{n}, {label_size}], got {list(labels.shape)}')
    return labels


def _check_shape(what: str, x: np.ndarray, expected: list):
    if x.ndim != len(expected) or any(e is not None and e != g for e, g in zip(expected, x.shape)):
        want = ', '.join('N' if e is None else str(e) for e in expected)
        raise ValueError(f'{what}: expected shape [{want}], got {list(x.shape)}')


def _finish(images_nhwc: np.ndarray, output_transform: dict | None):
    images = np.transpose(images_nhwc, [0, 3, 1, 2])  # NVIDIA returns NCHW
    if output_transform:
        kwargs = dict(output_transform)
        func = kwargs.pop('func')
        images = np.asarray(func(images, **kwargs))
    return images


def _names():
    """sg2tf.nvidia.names, imported at first use: the NVIDIA package imports the networks, which use this module."""
    from sg2tf.nvidia import names
    return names


_COMPILED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # model -> {static options: tf.function}


def _compiled(model, **static):
    """`model(*inputs, **static)` as a tf.function, one per model, static options and op implementation
    (`sg2tf.ops.set_default_impl`); TensorFlow traces it once per input shape (batch size), so repeated `run()`
    calls execute a graph, as NVIDIA's dnnlib does."""
    fns = _COMPILED.setdefault(model, {})
    # The op implementation is fixed when a function is traced, so it is part of the key.
    key = (ops.get_default_impl(), *sorted(static.items()))
    if key not in fns:
        ref = weakref.ref(model)  # the cache must not keep the model alive
        fns[key] = tf.function(lambda *inputs: ref()(*inputs, **static))
    return fns[key]


def _precision(model, num_fp16_res) -> dict:
    """Static call options for NVIDIA's dynamic `num_fp16_res` (ADA networks): given, it chooses how many top
    resolutions run in float16 (0: none); not given (`...`), the network's own `fp16` setting decides (default
    float32). Networks without float16 resolutions ignore it, as NVIDIA's other networks ignore unknown kwargs."""
    if not hasattr(getattr(model, 'synthesis', model), 'fp16'):
        return {}
    if num_fp16_res is ...:
        return {'fp16': bool(model.fp16)}
    return {'fp16': int(num_fp16_res) > 0, 'num_fp16_res': int(num_fp16_res)}


class _VarsMixin:
    """`vars`, `get_var`, `set_var`, `trainables` with NVIDIA names and layouts."""

    def _nv_vars(self) -> dict:
        return _names().nvidia_variables(self)

    def _resolve(self, name: str) -> str:
        table = self._nv_vars()
        for candidate in (name, _names().unscoped_name(name)):  # `G.vars` style scoped names too
            if candidate in table:
                return candidate
        raise KeyError(f'{self.name}: no variable named {name!r}; known: {", ".join(table)}')

    @property
    def vars(self) -> dict:
        return {name: _names().to_nvidia_layout(name, v.numpy()) for name, v in self._nv_vars().items()}

    @property
    def trainables(self) -> dict:
        return {name: v for name, v in self._nv_vars().items() if v.trainable}

    def get_var(self, name: str) -> np.ndarray:
        """Value of an NVIDIA-named variable in NVIDIA's layout (e.g. `dlatent_avg`, `G_synthesis/noise0`)."""
        name = self._resolve(name)
        return _names().to_nvidia_layout(name, self._nv_vars()[name].numpy())

    def set_var(self, name: str, value) -> None:
        name = self._resolve(name)
        var = self._nv_vars()[name]
        value = _names().to_keras_layout(name, value)
        if tuple(value.shape) != tuple(var.shape):
            raise ValueError(f'{self.name}/{name}: expected shape {list(_names().nvidia_shape(name, var.shape))}, '
                             f'got {list(np.shape(value))}')
        var.assign(value)


class DnnlibMappingMixin(_VarsMixin):
    def run(self, latents, labels=None, minibatch_size: int | None = None, **_unused) -> np.ndarray:
        """`Gs.components.mapping.run(latents, labels)` -> W [N, num_layers, dlatent_size]."""
        latents = np.asarray(latents, np.float32)
        _check_shape('latents', latents, [None, self.latent_size])
        labels = _labels(labels, len(latents), self.label_size)
        call = _compiled(self)
        return _joined(_run_batches(call, minibatch_size, latents, labels))


class DnnlibSynthesisMixin(_VarsMixin):
    def run(self, dlatents, randomize_noise: bool = True, output_transform: dict | None = None,
            minibatch_size: int | None = None, num_fp16_res=..., **_unused) -> np.ndarray:
        """`Gs.components.synthesis.run(dlatents, randomize_noise=False)` -> NCHW images (or transformed)."""
        dlatents = np.asarray(dlatents, np.float32)
        _check_shape('dlatents', dlatents, [None, self.num_layers, self.dlatent_size])
        mode = 'random' if randomize_noise else 'const'
        call = _compiled(self, noise_mode=mode, **_precision(self, num_fp16_res))
        return _finish(_joined(_run_batches(call, minibatch_size, dlatents)), output_transform)


class DnnlibGeneratorMixin(_VarsMixin):
    @property
    def components(self) -> _EasyDict:
        return _EasyDict(synthesis=self.synthesis, mapping=self.mapping)

    def run(self, latents, labels=None, truncation_psi=..., truncation_cutoff=..., randomize_noise: bool = True,
            output_transform: dict | None = None, minibatch_size: int | None = None, return_dlatents: bool = False,
            is_validation: bool = False, num_fp16_res=..., **_unused):
        """`Gs.run(latents, labels, truncation_psi=0.5, ...)` with NVIDIA's defaults -> NCHW images."""
        psi = self.truncation_psi if truncation_psi is ... else truncation_psi
        cutoff = self.truncation_cutoff if truncation_cutoff is ... else truncation_cutoff
        if is_validation:  # G_main: validation turns truncation off unless *_val is given
            psi, cutoff = None, None
        latents = np.asarray(latents, np.float32)
        _check_shape('latents', latents, [None, self.latent_size])
        labels = _labels(labels, len(latents), self.label_size)
        mode = 'random' if randomize_noise else 'const'
        call = _compiled(self, truncation_psi=None if psi is None else float(psi), noise_mode=mode,
                         truncation_cutoff=None if cutoff is None else int(cutoff), return_dlatents=True,
                         **_precision(self, num_fp16_res))
        images, dlatents = zip(*_run_batches(call, minibatch_size, latents, labels))
        images = _finish(_joined(images), output_transform)
        return (images, _joined(dlatents)) if return_dlatents else images


class DnnlibDiscriminatorMixin(_VarsMixin):
    def run(self, images, labels=None, minibatch_size: int | None = None, num_fp16_res=..., **_unused) -> np.ndarray:
        """`D.run(images_nchw, labels)` -> scores [N, 1]. One batch unless `minibatch_size` (minibatch stddev)."""
        images = np.asarray(images, np.float32)
        _check_shape('images', images, [None, self.num_channels, self.resolution, self.resolution])
        labels = _labels(labels, len(images), self.label_size)
        nhwc = np.transpose(images, [0, 2, 3, 1])
        call = _compiled(self, **_precision(self, num_fp16_res))
        return _joined(_run_batches(call, minibatch_size, nhwc, labels))
