"""What users do with a loaded generator beyond single images: style mixing, latent walks, editing, PCA directions.

Works on every sg2tf generator (StyleGAN1, StyleGAN2 A-F, StyleGAN2-ADA, stylegan2-ada-pytorch snapshots, .keras):
they share `G.mapping(z, c)` -> W [N, num_layers, dlatent_size] and `G.synthesis(ws, noise_mode=, noise=)`.

    G = sg2tf.cli._common.load_generator('sg2tf/assets/digits32.pkl')
    ws = truncate(map_seeds(G, [1, 2]), G.dlatent_avg.numpy(), 0.5)
    grid = style_mix(ws[:1], ws[1:], range(0, 7))             # [rows, cols, num_layers, dlatent_size]
    images = Synthesizer(G)(grid.reshape(-1, *ws.shape[1:]))   # uint8 NHWC

Seeds give z as NVIDIA's run_generator.py draws them: `np.random.RandomState(seed).randn(latent_size)`.
"""
from __future__ import annotations

import math
import os
from typing import Iterable, Sequence

import numpy as np

MAX_FRAMES = 10000        # per walk segment
MAX_SAMPLES = 1_000_000   # mapped z for PCA directions

# --------------------------------------------------------------------------------------------------------------
# Latents from seeds, labels, truncation


def seed_z(seed: int, latent_size: int) -> np.ndarray:
    """z [latent_size] of a seed, as run_generator.py draws it (`RandomState(seed).randn(1, latent_size)`)."""
    return np.random.RandomState(seed).randn(latent_size)


def seed_noise(G, seed: int) -> list[np.ndarray]:
    """Noise maps of a seed as run_generator.py generate-images draws them: from the same RandomState, after z,
    one `randn` per noise buffer in creation order (`noise0, noise1, ...`)."""
    rnd = np.random.RandomState(seed)
    rnd.randn(1, G.latent_size)
    return [rnd.randn(*v.shape).astype(np.float32) for v in G.synthesis.noise_buffers]


def labels_for(G, n: int, class_idx: int | None = None) -> np.ndarray:
    """[n, label_size] one-hot labels (zeros without a class; NVIDIA feeds zeros for `labels=None`)."""
    c = np.zeros([n, G.label_size], np.float32)
    if class_idx is not None:
        if not 0 <= class_idx < G.label_size:
            raise ValueError(f'class {class_idx} out of range: the network has {G.label_size} classes')
        c[:, class_idx] = 1
    return c


def map_z(G, z: np.ndarray, class_idx: int | None = None, batch: int = 1000) -> np.ndarray:
    """W [N, num_layers, dlatent_size] = `G.mapping(z, c)` (no truncation), in batches."""
    z = np.asarray(z, np.float32).reshape(-1, G.latent_size)
    c = labels_for(G, len(z), class_idx)
    return np.concatenate([G.mapping(z[i:i + batch], c[i:i + batch]).numpy() for i in range(0, len(z), batch)])


def map_seeds(G, seeds: Iterable[int], class_idx: int | None = None) -> np.ndarray:
    """W [len(seeds), num_layers, dlatent_size] of the seeds' z (no truncation)."""
    return map_z(G, np.stack([seed_z(s, G.latent_size) for s in seeds]), class_idx)


def truncate(ws: np.ndarray, w_avg: np.ndarray, psi: float) -> np.ndarray:
    """`w_avg + (w - w_avg) * psi` on every layer (run_generator.py style_mixing_example)."""
    return w_avg + (np.asarray(ws) - w_avg) * np.float32(psi)


# --------------------------------------------------------------------------------------------------------------
# Synthesis


class Synthesizer:
    """W [N, num_layers, dlatent_size] -> uint8 NHWC images through `G.synthesis` in a compiled tf.function.

    `noise_mode` as in the networks ('const': the stored buffers, 'random', 'none'); `noise` (optional): explicit
    per-layer maps (a list of [1 or N, H, W, 1] arrays, e.g. a projection's noise) overriding it.
    """

    def __init__(self, G, noise_mode: str = 'const', batch: int = 8):
        import tensorflow as tf
        self.G, self.noise_mode, self.batch = G, noise_mode, int(batch)

        @tf.function(reduce_retracing=True)
        def _synth(ws, noise):
            return G.synthesis(ws, noise_mode=noise_mode, noise=noise)
        self._synth = _synth

    def float_images(self, ws: np.ndarray, noise: Sequence[np.ndarray] | None = None) -> np.ndarray:
        """Images NHWC float32 in (nominally) [-1, 1]."""
        import tensorflow as tf
        ws = np.asarray(ws, np.float32)
        from sg2tf.misc import release_free_heap
        noise = None if noise is None or not len(noise) else [tf.constant(np.asarray(n, np.float32)) for n in noise]
        out = []
        for i in range(0, len(ws), self.batch):
            out.append(self._synth(tf.constant(ws[i:i + self.batch]), noise).numpy())
            release_free_heap()
        return np.concatenate(out)

    def __call__(self, ws: np.ndarray, noise: Sequence[np.ndarray] | None = None) -> np.ndarray:
        from sg2tf.images import convert_images_to_uint8
        return convert_images_to_uint8(self.float_images(ws, noise))


# --------------------------------------------------------------------------------------------------------------
# Style mixing (run_generator.py style_mixing_example)


def style_mix(w_rows: np.ndarray, w_cols: np.ndarray, col_styles: Iterable[int]) -> np.ndarray:
    """[R, C, num_layers, dlatent_size]: cell (r, c) is `w_rows[r]` with the layers in `col_styles` taken from
    `w_cols[c]` (NVIDIA: `w = w_row.copy(); w[col_styles] = w_col[col_styles]`)."""
    w_rows, w_cols = np.asarray(w_rows), np.asarray(w_cols)
    layers = sorted(set(int(i) for i in col_styles))
    num_layers = w_rows.shape[1]
    if any(not 0 <= i < num_layers for i in layers):
        raise ValueError(f'col-styles {layers} out of range: the network has layers 0-{num_layers - 1}')
    mixed = np.repeat(w_rows[:, None], len(w_cols), axis=1).copy()
    mixed[:, :, layers] = w_cols[None, :, layers]
    return mixed


def style_mix_figure(row_images: np.ndarray, col_images: np.ndarray, mixed_images: np.ndarray) -> np.ndarray:
    """NVIDIA's figure: empty top-left corner, column sources along the top, row sources down the left, mixes
    inside. `mixed_images`: [R, C, H, W, ch] uint8."""
    R, C, H, W, ch = mixed_images.shape
    canvas = np.zeros([(R + 1) * H, (C + 1) * W, ch], np.uint8)
    for c in range(C):
        canvas[:H, (c + 1) * W:(c + 2) * W] = col_images[c]
    for r in range(R):
        canvas[(r + 1) * H:(r + 2) * H, :W] = row_images[r]
        for c in range(C):
            canvas[(r + 1) * H:(r + 2) * H, (c + 1) * W:(c + 2) * W] = mixed_images[r, c]
    return canvas


# --------------------------------------------------------------------------------------------------------------
# Interpolation


def lerp(a: np.ndarray, b: np.ndarray, t: float) -> np.ndarray:
    """`a + (b - a) * t` (interpolation in W)."""
    return a + (b - a) * t


def slerp(a: np.ndarray, b: np.ndarray, t: float, eps: float = 1e-7) -> np.ndarray:
    """Spherical interpolation of z along the last axis: the direction moves along the great circle from a to b
    (angle `t * angle(a, b)`), the length goes linearly from |a| to |b|, so endpoints are exact and, for endpoints
    of equal length, |z| stays on the sphere. (Parallel or antipodal endpoints fall back to `lerp`.)"""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    na, nb = np.linalg.norm(a, axis=-1, keepdims=True), np.linalg.norm(b, axis=-1, keepdims=True)
    ua, ub = a / np.maximum(na, eps), b / np.maximum(nb, eps)
    cos = np.clip(np.sum(ua * ub, axis=-1, keepdims=True), -1.0, 1.0)
    omega = np.arccos(cos)
    sin = np.sin(omega)
    safe = sin > 1e-6
    s = np.where(safe, sin, 1.0)
    direction = (np.sin((1 - t) * omega) * ua + np.sin(t * omega) * ub) / s
    out = direction * (na + (nb - na) * t)
    return np.where(safe, out, lerp(a, b, t))


def walk(keys: np.ndarray, frames: int, loop: bool = False, space: str = 'w') -> np.ndarray:
    """Latents of a walk through `keys` [K, ...]: `frames` per segment (t = 0, 1/frames, ...), segments
    k -> k+1 (and last -> first if `loop`), then the last key itself unless looping. `space` 'z' uses `slerp`,
    'w' uses `lerp`. Frame `i * frames` is exactly key i."""
    keys = np.asarray(keys)
    if not 1 <= frames <= MAX_FRAMES:
        raise ValueError(f'frames per segment must be 1..{MAX_FRAMES}, got {frames}')
    if len(keys) < 2:
        raise ValueError(f'a walk needs at least 2 keys, got {len(keys)}')
    interp = {'z': slerp, 'w': lerp}[space]
    ends = list(range(len(keys))) + ([0] if loop else [])
    out = [interp(keys[i], keys[j], k / frames) for i, j in zip(ends[:-1], ends[1:]) for k in range(frames)]
    if not loop:
        out.append(keys[-1])
    return np.stack(out).astype(np.float32)


# --------------------------------------------------------------------------------------------------------------
# Editing


def direction_as_wplus(direction: np.ndarray, num_layers: int, dlatent_size: int, what: str = 'direction'
                       ) -> tuple[np.ndarray, bool]:
    """A direction as [num_layers, dlatent_size] and whether it was a W+ direction.

    W directions ([dlatent_size] or [1, dlatent_size]; InterFaceGAN, GANSpace) are repeated on every layer;
    W+ directions ([num_layers, dlatent_size] or [1, num_layers, dlatent_size]; StyleCLIP) are taken per layer.
    Any other shape: ValueError naming both shapes.
    """
    d = np.asarray(direction, np.float32)
    if d.shape in ((dlatent_size,), (1, dlatent_size)):
        return np.tile(d.reshape(1, dlatent_size), [num_layers, 1]), False
    if d.shape in ((num_layers, dlatent_size), (1, num_layers, dlatent_size)):
        return d.reshape(num_layers, dlatent_size), True
    raise ValueError(f'{what} has shape {list(d.shape)}; this network needs a W direction [{dlatent_size}] '
                     f'(or [1, {dlatent_size}]) or a W+ direction [{num_layers}, {dlatent_size}]')


def edit(ws: np.ndarray, direction: np.ndarray, strengths: Sequence[float], layers: Iterable[int]) -> np.ndarray:
    """[S, N, num_layers, dlatent_size]: `w[:, l] + s * direction[l]` for l in `layers`, other layers unchanged,
    one slice per strength s. `direction`: [num_layers, dlatent_size] (see `direction_as_wplus`)."""
    ws = np.asarray(ws, np.float32)
    num_layers = ws.shape[1]
    layers = sorted(set(int(i) for i in layers))
    if any(not 0 <= i < num_layers for i in layers):
        raise ValueError(f'layers {layers} out of range: the network has layers 0-{num_layers - 1}')
    mask = np.zeros([num_layers, 1], np.float32)
    mask[layers] = 1
    step = mask * np.asarray(direction, np.float32)
    return np.stack([ws + np.float32(s) * step for s in strengths])


def pca_directions(G, num_components: int, num_samples: int = 10000, seed: int = 0, class_idx: int | None = None
                   ) -> dict[str, np.ndarray]:
    """GANSpace-style principal directions of W (Harkonen et al. 2020): PCA of `mapping(z)[:, 0]` over
    `num_samples` z ~ RandomState(seed).randn. Returns 'components' [K, dlatent_size] (orthonormal rows, sign
    chosen so each row's largest-magnitude entry is positive), 'stddev' [K] (spread of W along each) and
    'mean' [dlatent_size]."""
    if not 1 <= num_components <= G.dlatent_size:
        raise ValueError(f'--pca {num_components}: expected 1..{G.dlatent_size} components')
    if num_samples > MAX_SAMPLES:
        raise ValueError(f'{num_samples} samples: at most {MAX_SAMPLES} (memory)')
    if num_samples < num_components:
        raise ValueError(f'{num_samples} samples are too few for {num_components} components')
    z = np.random.RandomState(seed).randn(num_samples, G.latent_size)
    w = map_z(G, z, class_idx)[:, 0].astype(np.float64)
    mean = w.mean(axis=0)
    _, s, vt = np.linalg.svd(w - mean, full_matrices=False)
    comps = vt[:num_components]
    signs = np.sign(comps[np.arange(num_components), np.argmax(np.abs(comps), axis=1)])
    return {'components': (comps * signs[:, None]).astype(np.float32),
            'stddev': (s[:num_components] / math.sqrt(num_samples)).astype(np.float32),
            'mean': mean.astype(np.float32)}


# --------------------------------------------------------------------------------------------------------------
# Saved latents (the projector's .npz, or .npy arrays)


def load_latent(path: str, num_layers: int, dlatent_size: int) -> tuple[np.ndarray, list[np.ndarray] | None]:
    """(W [1, num_layers, dlatent_size], noise maps or None) from a projector `.npz` ('w', 'noise0', ...) or a
    `.npy` W ([dlatent_size], [num_layers, dlatent_size] or [1, num_layers, dlatent_size]). ValueError if not."""
    if not os.path.isfile(path):
        raise ValueError(f'{path}: no such file')
    try:
        data = np.load(path, allow_pickle=False)
    except Exception as e:  # noqa: BLE001 - any unreadable file
        raise ValueError(f'{path}: not a NumPy .npy/.npz file ({type(e).__name__})') from None
    noise = None
    if isinstance(data, np.lib.npyio.NpzFile):
        with data:
            if 'w' not in data.files:
                raise ValueError(f'{path}: no array "w" (expected a sg2tf-project .npz)')
            w = data['w']
            names = sorted((n for n in data.files if n.startswith('noise')), key=lambda n: int(n[5:]))
            noise = [data[n].astype(np.float32) for n in names] or None
    else:
        w = data
    if w.shape == (dlatent_size,):
        w = np.tile(w.reshape(1, 1, dlatent_size), [1, num_layers, 1])
    if w.shape == (num_layers, dlatent_size):
        w = w[None]
    if w.shape != (1, num_layers, dlatent_size):
        raise ValueError(f'{path}: latent of shape {list(w.shape)}; this network needs W [{num_layers}, '
                         f'{dlatent_size}] (or [1, {num_layers}, {dlatent_size}] or [{dlatent_size}])')
    return w.astype(np.float32), noise


# --------------------------------------------------------------------------------------------------------------
# Pictures and videos


def tile_grid(images: np.ndarray, cols: int | None = None) -> np.ndarray:
    """[N, H, W, C] -> one image, row-major, `cols` columns (default ceil(sqrt(N)))."""
    n, h, w, c = images.shape
    cols = cols or math.ceil(math.sqrt(n))
    rows = math.ceil(n / cols)
    grid = np.zeros([rows * h, cols * w, c], images.dtype)
    for i, img in enumerate(images):
        grid[(i // cols) * h:(i // cols + 1) * h, (i % cols) * w:(i % cols + 1) * w] = img
    return grid


def zoom(images: np.ndarray, factor: int) -> np.ndarray:
    """Nearest-neighbour enlargement of [..., H, W, C] images by an integer factor."""
    if factor <= 1:
        return images
    return np.repeat(np.repeat(images, factor, axis=-3), factor, axis=-2)


def save_png(image: np.ndarray, path: str, overwrite: bool = True) -> None:
    """uint8 HWC (C = 1 or 3) -> PNG via Pillow, atomically (`sg2tf.fileio.atomic_write`)."""
    from PIL import Image
    from sg2tf.fileio import atomic_write
    with atomic_write(path, overwrite=overwrite) as tmp:
        Image.fromarray(image[:, :, 0] if image.shape[2] == 1 else image).save(tmp, format='PNG')


def find_mp4_encoder() -> str | None:
    """The ffmpeg executable imageio's FFMPEG plugin would use (imageio-ffmpeg's bundled binary, a system ffmpeg,
    or $IMAGEIO_FFMPEG_EXE), or None if there is none."""
    try:
        import imageio_ffmpeg
        exe = imageio_ffmpeg.get_ffmpeg_exe()
    except Exception:  # noqa: BLE001 - not installed, or no binary found
        return None
    return exe if exe and os.path.isfile(exe) and os.access(exe, os.X_OK) else None


class NoEncoderError(RuntimeError):
    """MP4 asked for but no ffmpeg encoder is available."""


NO_ENCODER = 'no MP4 encoder: pip install imageio-ffmpeg (or put ffmpeg on PATH / set IMAGEIO_FFMPEG_EXE)'


def save_video(frames: Iterable[np.ndarray], path: str, fps: float = 30.0, overwrite: bool = True) -> int:
    """uint8 [H, W, C] frames (any iterable: they are encoded as they come) -> `.gif` or `.mp4` (by the extension)
    via imageio, atomically; returns the number of frames. MP4 without an encoder raises NoEncoderError before
    anything is written."""
    import imageio.v2 as imageio
    from sg2tf.fileio import atomic_write
    ext = os.path.splitext(path)[1].lower()
    if ext not in ('.gif', '.mp4'):
        raise ValueError(f'{path}: video must end in .gif or .mp4')
    if ext == '.mp4':
        if find_mp4_encoder() is None:
            raise NoEncoderError(NO_ENCODER)
        kwargs = dict(format='FFMPEG', fps=fps, codec='libx264', quality=8, pixelformat='yuv420p',
                      macro_block_size=16, ffmpeg_log_level='error')
    else:
        kwargs = dict(format='GIF', duration=1000.0 / fps, loop=0)
    count = 0
    with atomic_write(path, overwrite=overwrite) as tmp:
        with imageio.get_writer(tmp, mode='I', **kwargs) as writer:
            for f in frames:
                f = np.asarray(f, np.uint8)
                if f.shape[-1] == 1:
                    f = np.repeat(f, 3, axis=-1) if ext == '.mp4' else f[..., 0]  # yuv420p needs colour input
                writer.append_data(f)
                count += 1
    return count
