"""Architecture rules of StyleGAN2 (NVIDIA config E/F): the single source of truth for channel counts,
layer counts and which W / noise index each synthesis layer consumes.

Mirrors NVIDIA training/networks_stylegan2.py: G_synthesis_stylegan2 / D_stylegan2, their local `nf()`,
`num_layers`, the `noise%d` buffers and the `layer_idx` each synthesis layer reads W (and noise) with.
"""
from __future__ import annotations

import math

G_ARCHITECTURES = ('orig', 'skip', 'resnet')
# Generator noise inputs: the stored buffers, fresh N(0, 1) draws, or none (every family, every command).
NOISE_MODES = ('const', 'random', 'none')
D_ARCHITECTURES = ('orig', 'skip', 'resnet')


def log2_resolution(resolution: int) -> int:
    """log2 of a power-of-two resolution >= 4, with a clear error otherwise."""
    r = int(resolution)
    if r < 4 or r & (r - 1):
        raise ValueError(f'resolution must be a power of two >= 4, got {resolution}')
    return int(math.log2(r))


def nf(stage: int, fmap_base: int = 16 << 10, fmap_decay: float = 1.0, fmap_min: int = 1,
       fmap_max: int = 512) -> int:
    """Feature maps at a stage: `clip(int(fmap_base / 2**(stage * fmap_decay)), fmap_min, fmap_max)`."""
    return int(min(max(int(fmap_base / (2.0 ** (stage * fmap_decay))), fmap_min), fmap_max))


def num_layers(resolution: int) -> int:
    """Number of W vectors the synthesis network consumes: 2 * log2(R) - 2 (18 at 1024)."""
    return 2 * log2_resolution(resolution) - 2


def block_resolutions(resolution: int) -> list[int]:
    """Synthesis block resolutions 4, 8, ..., R (the discriminator visits them in reverse)."""
    return [2 ** r for r in range(2, log2_resolution(resolution) + 1)]


def w_index(res: int, layer: str) -> int:
    """Index into W [N, num_layers, w_dim] of a synthesis layer; conv layers use the same index for noise.

    4x4/Conv -> 0, 4x4/ToRGB -> 1; at 2^r: Conv0_up -> 2r-5, Conv1 -> 2r-4, ToRGB -> 2r-3.
    """
    r = log2_resolution(res)
    if res == 4:
        return {'Conv': 0, 'ToRGB': 1}[layer]
    return {'Conv0_up': 2 * r - 5, 'Conv1': 2 * r - 4, 'ToRGB': 2 * r - 3}[layer]


def noise_resolution(k: int) -> int:
    """Spatial size of noise buffer `noise{k}`: 2 ** ((k + 5) // 2)."""
    return 2 ** ((k + 5) // 2)


def fp16_resolutions(resolution: int, num_fp16_res: int) -> list[int]:
    """Block resolutions that ADA networks compute in float16: the top `num_fp16_res`, never 4x4.

    stylegan2-ada-pytorch: `res >= max(2 ** (log2 R + 1 - num_fp16_res), 8)`; ADA (TF) uses the same rule without
    the floor of 8, which differs only when `num_fp16_res` covers every resolution (then sg2tf keeps 4x4 float32).
    """
    if int(num_fp16_res) <= 0:
        return []
    lowest = max(2 ** (log2_resolution(resolution) + 1 - int(num_fp16_res)), 8)
    return [r for r in block_resolutions(resolution) if r >= lowest]
