"""stylegan2-ada-pytorch snapshots -> the StyleGAN2-ADA (TF) networks (stylegan2-ada-pytorch legacy.py, inverted).

ADA-PT's networks are ADA-TF's (same math, same variables), so a snapshot's Generator / Discriminator become
ADA-TF `Network` states — NVIDIA names and TF layouts, static kwargs from `_init_kwargs` — which the ADA-TF family
reader turns into Keras networks. Every parameter and buffer of a network is consumed (filter buffers
`resample_filter` excepted, which ADA-PT derives from `resample_filter` kwargs); anything left over is an error
naming it.
"""
from __future__ import annotations

import math

import numpy as np

from sg2tf.nvidia import torch_pickle
from sg2tf.nvidia.errors import clean, show
from sg2tf.nvidia.kwargs import CHECKS
from sg2tf.nvidia.unpickler import NetworkPickleError, NetworkStub

NAME = 'stylegan2-ada-pytorch'
STATE_VERSION = 5  # what ADA-TF writes; the states are read by the ADA-TF family
KNOWN_CLASSES = {'Generator', 'Discriminator', 'MappingNetwork', 'SynthesisNetwork', 'SynthesisBlock',
                 'SynthesisLayer', 'ToRGBLayer', 'FullyConnectedLayer', 'Conv2dLayer', 'DiscriminatorBlock',
                 'DiscriminatorEpilogue', 'MinibatchStdLayer'}
STYLEGAN3_CLASSES = {'SynthesisInput'}


def _dense(w: np.ndarray) -> np.ndarray:  # [out, in] -> [in, out]
    return np.ascontiguousarray(w.T)


def _conv(w: np.ndarray, flip: bool = False) -> np.ndarray:  # [O, I, k, k] -> [k, k, I, O]
    w = w.transpose(2, 3, 1, 0)
    return np.ascontiguousarray(w[::-1, ::-1] if flip else w)


class _Tensors:
    """A network's tensors by dotted name; `take` consumes one, `left` lists what nobody consumed."""

    def __init__(self, obj: torch_pickle.PersistentObject, source: str, what: str):
        self.t = {k: np.asarray(v, np.float32) for k, v in obj.tensors().items()
                  if not k.endswith('resample_filter')}
        self.used: set[str] = set()
        self.source, self.what = source, what

    def has(self, name: str) -> bool:
        return name in self.t

    def take(self, name: str) -> np.ndarray:
        if name not in self.t:
            raise NetworkPickleError(f'{self.source}: {self.what}: the snapshot lacks parameter {name!r}')
        self.used.add(name)
        return self.t[name]

    def check_all_used(self) -> None:
        left = sorted(set(self.t) - self.used)
        if left:
            raise NetworkPickleError(f'{self.source}: {self.what}: parameter(s) sg2tf does not know: '
                                     f'{", ".join(clean(n, 40) for n in left[:8])}{" ..." if len(left) > 8 else ""}')


def _kwargs(obj: torch_pickle.PersistentObject, source: str, what: str) -> dict:
    kwargs = obj.init_kwargs
    for key, tf_key in (('img_resolution', 'resolution'), ('img_channels', 'num_channels')):
        if not isinstance(kwargs.get(key), int):
            raise NetworkPickleError(f'{source}: {what}: _init_kwargs lack an integer {key!r}')
        problem = CHECKS[tf_key](kwargs[key])
        if problem:
            raise NetworkPickleError(f'{source}: {what}: _init_kwargs {key} must be {problem}, got '
                                     f'{show(kwargs[key])}')
    for key in ('mapping_kwargs', 'synthesis_kwargs', 'epilogue_kwargs'):
        if not isinstance(kwargs.get(key) or {}, dict):
            raise NetworkPickleError(f'{source}: {what}: _init_kwargs {key} is a {type(kwargs[key]).__name__}, '
                                     f'expected a dict')
    return kwargs


def _state(name: str, func: str, kwargs: dict, variables: dict, components: dict | None = None) -> NetworkStub:
    return NetworkStub({'version': STATE_VERSION, 'name': name, 'static_kwargs': kwargs,
                        'components': components or {}, 'build_module_src': '', 'build_func_name': func,
                        'variables': list(variables.items())})


def _common_kwargs(k: dict) -> dict:
    """Shared by G and D: image shape, labels, channel rule (ADA-PT `channel_base` = 2 x TF `fmap_base`)."""
    out = {'num_channels': k['img_channels'], 'resolution': k['img_resolution'], 'label_size': k.get('c_dim', 0)}
    return out


def generator_state(obj: torch_pickle.PersistentObject, source: str, name: str) -> NetworkStub:
    """An ADA-PT `Generator` as an ADA-TF G_main state (with synthesis and mapping components)."""
    what = f'{name} (stylegan2-ada-pytorch Generator)'
    k = _kwargs(obj, source, what)
    mk, sk = dict(k.get('mapping_kwargs') or {}), dict(k.get('synthesis_kwargs') or {})
    t = _Tensors(obj, source, what)
    z_dim, c_dim, w_dim, res = k.get('z_dim', 512), k.get('c_dim', 0), k.get('w_dim', 512), k['img_resolution']
    kwargs = {**_common_kwargs(k), 'latent_size': z_dim, 'dlatent_size': w_dim,
              'mapping_layers': mk.get('num_layers', 8),
              'fmap_base': sk.get('channel_base', 32768) // 2, 'fmap_max': sk.get('channel_max', 512)}
    for pt_key, tf_key in (('layer_features', 'mapping_fmaps'), ('embed_features', 'label_fmaps'),
                           ('lr_multiplier', 'mapping_lrmul'), ('w_avg_beta', 'dlatent_avg_beta')):
        if mk.get(pt_key) is not None:
            kwargs[tf_key] = mk[pt_key]
    for pt_key, tf_key in (('num_fp16_res', 'num_fp16_res'), ('conv_clamp', 'conv_clamp'),
                           ('architecture', 'architecture'), ('resample_filter', 'resample_kernel'),
                           ('use_noise', 'use_noise')):
        if pt_key in sk:
            kwargs[tf_key] = sk[pt_key]

    mapping = {}
    if c_dim:
        mapping['LabelEmbed/weight'] = _dense(t.take('mapping.embed.weight'))
        mapping['LabelEmbed/bias'] = t.take('mapping.embed.bias')
    i = 0
    while t.has(f'mapping.fc{i}.weight'):
        mapping[f'Dense{i}/weight'] = _dense(t.take(f'mapping.fc{i}.weight'))
        mapping[f'Dense{i}/bias'] = t.take(f'mapping.fc{i}.bias')
        i += 1

    synthesis = {}
    for r in (2 ** e for e in range(2, int(math.log2(res)) + 1)):
        b, s = f'synthesis.b{r}', f'{r}x{r}'
        if r == 4:
            synthesis[f'{s}/Const/const'] = t.take(f'{b}.const')[None]
            layers = [('conv1', 'Conv', False, 0)]
        else:
            n0 = 2 * int(math.log2(r)) - 5
            layers = [('conv0', 'Conv0_up', True, n0), ('conv1', 'Conv1', False, n0 + 1)]
        for pt, tf_name, flip, noise in layers:
            synthesis[f'{s}/{tf_name}/weight'] = _conv(t.take(f'{b}.{pt}.weight'), flip)
            synthesis[f'{s}/{tf_name}/mod_weight'] = _dense(t.take(f'{b}.{pt}.affine.weight'))
            synthesis[f'{s}/{tf_name}/mod_bias'] = t.take(f'{b}.{pt}.affine.bias') - np.float32(1)
            if t.has(f'{b}.{pt}.noise_strength'):
                synthesis[f'{s}/{tf_name}/noise_strength'] = np.float32(t.take(f'{b}.{pt}.noise_strength').reshape(()))
                synthesis[f'noise{noise}'] = t.take(f'{b}.{pt}.noise_const')[None, None]
            synthesis[f'{s}/{tf_name}/bias'] = t.take(f'{b}.{pt}.bias')
        if t.has(f'{b}.torgb.weight'):
            synthesis[f'{s}/ToRGB/weight'] = _conv(t.take(f'{b}.torgb.weight'))
            synthesis[f'{s}/ToRGB/mod_weight'] = _dense(t.take(f'{b}.torgb.affine.weight'))
            synthesis[f'{s}/ToRGB/mod_bias'] = t.take(f'{b}.torgb.affine.bias') - np.float32(1)
            synthesis[f'{s}/ToRGB/bias'] = t.take(f'{b}.torgb.bias')
        if t.has(f'{b}.skip.weight'):
            synthesis[f'{s}/Skip/weight'] = _conv(t.take(f'{b}.skip.weight'), flip=True)
    own = {'dlatent_avg': t.take('mapping.w_avg')}
    t.check_all_used()
    components = {'synthesis': _state('G_synthesis', 'G_synthesis', dict(kwargs), synthesis),
                  'mapping': _state('G_mapping', 'G_mapping', {'dlatent_broadcast': 2 * int(math.log2(res)) - 2,
                                                               **kwargs}, mapping)}
    return _state(name, 'G_main', kwargs, own, components)


def discriminator_state(obj: torch_pickle.PersistentObject, source: str, name: str) -> NetworkStub:
    """An ADA-PT `Discriminator` as an ADA-TF D_main state."""
    what = f'{name} (stylegan2-ada-pytorch Discriminator)'
    k = _kwargs(obj, source, what)
    t = _Tensors(obj, source, what)
    c_dim, res = k.get('c_dim', 0), k['img_resolution']
    ek, mk = dict(k.get('epilogue_kwargs') or {}), dict(k.get('mapping_kwargs') or {})
    kwargs = {**_common_kwargs(k), 'fmap_base': k.get('channel_base', 32768) // 2,
              'fmap_max': k.get('channel_max', 512),
              'mbstd_group_size': ek.get('mbstd_group_size', 4), 'mbstd_num_features': ek.get('mbstd_num_channels', 1)}
    for key in ('num_fp16_res', 'conv_clamp', 'architecture'):
        if key in k:
            kwargs[key] = k[key]
    variables = {}
    if c_dim:
        variables['LabelEmbed/weight'] = _dense(t.take('mapping.embed.weight'))
        variables['LabelEmbed/bias'] = t.take('mapping.embed.bias')
        i = 0
        while t.has(f'mapping.fc{i}.weight'):
            variables[f'Mapping{i}/weight'] = _dense(t.take(f'mapping.fc{i}.weight'))
            variables[f'Mapping{i}/bias'] = t.take(f'mapping.fc{i}.bias')
            i += 1
        kwargs['mapping_layers'] = i
        kwargs['mapping_fmaps'] = int(variables['LabelEmbed/weight'].shape[1])
        # ADA-PT's MappingNetwork default lr_multiplier is 0.01; ADA-TF's D_main default mapping_lrmul is 0.1.
        kwargs['mapping_lrmul'] = mk.get('lr_multiplier', 0.01)
    for r in (2 ** e for e in range(int(math.log2(res)), 2, -1)):
        b, s = f'b{r}', f'{r}x{r}'
        if t.has(f'{b}.fromrgb.weight'):
            variables[f'{s}/FromRGB/weight'] = _conv(t.take(f'{b}.fromrgb.weight'))
            variables[f'{s}/FromRGB/bias'] = t.take(f'{b}.fromrgb.bias')
        for pt, tf_name in (('conv0', 'Conv0'), ('conv1', 'Conv1_down')):
            variables[f'{s}/{tf_name}/weight'] = _conv(t.take(f'{b}.{pt}.weight'))
            variables[f'{s}/{tf_name}/bias'] = t.take(f'{b}.{pt}.bias')
        if t.has(f'{b}.skip.weight'):
            variables[f'{s}/Skip/weight'] = _conv(t.take(f'{b}.skip.weight'))
    if t.has('b4.fromrgb.weight'):
        variables['4x4/FromRGB/weight'] = _conv(t.take('b4.fromrgb.weight'))
        variables['4x4/FromRGB/bias'] = t.take('b4.fromrgb.bias')
    variables['4x4/Conv/weight'] = _conv(t.take('b4.conv.weight'))
    variables['4x4/Conv/bias'] = t.take('b4.conv.bias')
    variables['4x4/Dense0/weight'] = _dense(t.take('b4.fc.weight'))
    variables['4x4/Dense0/bias'] = t.take('b4.fc.bias')
    variables['Output/weight'] = _dense(t.take('b4.out.weight'))
    variables['Output/bias'] = t.take('b4.out.bias')
    t.check_all_used()
    return _state(name, 'D_main', kwargs, variables)


def check_known(obj: torch_pickle.PersistentObject, source: str, key: str) -> None:
    """One clear line for a snapshot that is not stylegan2-ada-pytorch's StyleGAN2 (StyleGAN3, unknown class)."""
    classes = obj.classes()
    if classes & STYLEGAN3_CLASSES or 'use_radial_filters' in obj.module_src:
        raise NetworkPickleError(f'{source}: {key} is a StyleGAN3 network (stylegan3 snapshot), which sg2tf does '
                                 f'not read')
    unknown = sorted(classes - KNOWN_CLASSES)
    if unknown:
        raise NetworkPickleError(f'{source}: {key} contains class(es) sg2tf does not know: '
                                 f'{", ".join(clean(c, 40) for c in unknown[:5])}')


TORCH_READERS = {'Generator': generator_state, 'Discriminator': discriminator_state}
