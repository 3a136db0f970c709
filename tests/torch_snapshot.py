"""Test helper: write pickles in stylegan2-ada-pytorch's snapshot format without torch (same globals and opcodes:
persistent objects, `_rebuild_tensor_v2` / `_rebuild_parameter`, storages in torch's legacy byte format), and
read a loaded sg2tf network back into such a snapshot (the inverse of sg2tf.nvidia.stylegan2_ada_pytorch)."""
from __future__ import annotations

import collections
import io
import math
import pickle

import numpy as np

from sg2tf.nvidia import torch_pickle


class Global:
    """A placeholder pickled as the global `module.name`."""

    def __init__(self, module: str, name: str):
        self.module, self.name = module, name

    def __call__(self, *args):  # pickle requires a callable reduce function; this one is never called
        raise TypeError('placeholder')


RECONSTRUCT = Global('torch_utils.persistence', '_reconstruct_persistent_obj')
REBUILD_TENSOR = Global('torch._utils', '_rebuild_tensor_v2')
REBUILD_PARAMETER = Global('torch._utils', '_rebuild_parameter')
LOAD_FROM_BYTES = Global('torch.storage', '_load_from_bytes')
STORAGE_TYPES = {np.dtype('<f4'): 'FloatStorage', np.dtype('<f2'): 'HalfStorage', np.dtype('<i8'): 'LongStorage'}


class _Reduce:
    def __init__(self, func, args):
        self.func, self.args = func, args

    def __reduce__(self):
        return self.func, self.args


class _Pickler(pickle._Pickler):
    def save_global(self, obj, name=None):
        if isinstance(obj, Global):
            self.save(obj.module)
            self.save(obj.name)
            self.write(pickle.STACK_GLOBAL)  # not memoized: written again where used again
            return
        super().save_global(obj, name)

    def save(self, obj, save_persistent_id=True):
        if isinstance(obj, Global):
            return self.save_global(obj)
        return super().save(obj, save_persistent_id)


def storage_blob(array: np.ndarray, location: str = 'cpu', numel_header: int | None = None,
                 truncate: int = 0) -> bytes:
    """One storage in torch's legacy format: 5 pickles, then the int64 element count and the raw elements."""
    flat = np.ascontiguousarray(array).reshape(-1)
    storage_type = Global('torch', STORAGE_TYPES[flat.dtype])

    class ObjPickler(_Pickler):
        def persistent_id(self, obj):
            if obj == 'the-storage':
                return ('storage', storage_type, '0', location, int(flat.size), None)
            return None

    out = io.BytesIO()
    for header in (torch_pickle.LEGACY_MAGIC, torch_pickle.LEGACY_PROTOCOL,
                   {'protocol_version': 1001, 'little_endian': True, 'type_sizes': {'short': 2, 'int': 4, 'long': 4}}):
        pickle.dump(header, out, protocol=2)
    ObjPickler(out, protocol=2).dump('the-storage')
    pickle.dump(['0'], out, protocol=2)
    out.write(int(flat.size if numel_header is None else numel_header).to_bytes(8, 'little', signed=True))
    raw = flat.tobytes()
    out.write(raw[:len(raw) - truncate])
    return out.getvalue()


def tensor(array: np.ndarray, parameter: bool = True, **blob_kwargs):
    array = np.asarray(array)
    t = _Reduce(REBUILD_TENSOR, (_Reduce(LOAD_FROM_BYTES, (storage_blob(array, **blob_kwargs),)), 0,
                                 tuple(array.shape), tuple(s // array.itemsize for s in
                                                           np.array(array, order="C").strides),
                                 False, collections.OrderedDict()))
    return _Reduce(REBUILD_PARAMETER, (t, False, collections.OrderedDict())) if parameter else t


def persistent(class_name: str, init_kwargs: dict, parameters: dict | None = None, buffers: dict | None = None,
               modules: dict | None = None, module_src: str = '# training/networks.py', **attrs):
    state = {'training': False, '_parameters': collections.OrderedDict(parameters or {}),
             '_buffers': collections.OrderedDict(buffers or {}), '_modules': collections.OrderedDict(modules or {}),
             '_init_args': (), '_init_kwargs': dict(init_kwargs), **attrs}
    return _Reduce(RECONSTRUCT, ({'type': 'class', 'version': 6, 'module_src': module_src,
                                 'class_name': class_name, 'state': state},))


def dumps(obj) -> bytes:
    out = io.BytesIO()
    _Pickler(out, protocol=4).dump(obj)
    return out.getvalue()


# -- an sg2tf ADA network as an ADA-PT module tree (the inverse of sg2tf/nvidia/stylegan2_ada_pytorch.py) -------
def _pt_dense(w):
    return np.ascontiguousarray(np.asarray(w).T)


def _pt_conv(w, flip=False):
    w = np.asarray(w)
    w = w[::-1, ::-1] if flip else w
    return np.ascontiguousarray(w.transpose(3, 2, 0, 1))


def generator_module(G, init_kwargs: dict):
    """stylegan2-ada-pytorch `Generator` persistent object holding G's weights (from its NVIDIA-named vars)."""
    v = G.vars
    res = G.resolution
    mapping = {}
    if G.label_size:
        mapping['embed'] = persistent('FullyConnectedLayer', {}, {'weight': tensor(_pt_dense(v['mapping/LabelEmbed/weight'])),
                                                                  'bias': tensor(v['mapping/LabelEmbed/bias'])})
    i = 0
    while f'mapping/Dense{i}/weight' in v:
        mapping[f'fc{i}'] = persistent('FullyConnectedLayer', {}, {'weight': tensor(_pt_dense(v[f'mapping/Dense{i}/weight'])),
                                                                   'bias': tensor(v[f'mapping/Dense{i}/bias'])})
        i += 1
    mapping_net = persistent('MappingNetwork', {}, buffers={'w_avg': tensor(v['dlatent_avg'], parameter=False)},
                             modules=mapping)
    blocks = {}
    for r in (2 ** e for e in range(2, int(math.log2(res)) + 1)):
        s = f'synthesis/{r}x{r}'
        mods, params = {}, {}
        layers = [('conv1', 'Conv', False, 0)] if r == 4 else \
            [('conv0', 'Conv0_up', True, 2 * int(math.log2(r)) - 5), ('conv1', 'Conv1', False, 2 * int(math.log2(r)) - 4)]
        if r == 4:
            params['const'] = tensor(v[f'{s}/Const/const'][0])
        for pt, tf_name, flip, k in layers:
            p = {'weight': tensor(_pt_conv(v[f'{s}/{tf_name}/weight'], flip)), 'bias': tensor(v[f'{s}/{tf_name}/bias'])}
            b = {}
            if f'{s}/{tf_name}/noise_strength' in v:
                p['noise_strength'] = tensor(np.asarray(v[f'{s}/{tf_name}/noise_strength']).reshape(()))
                b['noise_const'] = tensor(v[f'synthesis/noise{k}'][0, 0], parameter=False)
            affine = persistent('FullyConnectedLayer', {}, {'weight': tensor(_pt_dense(v[f'{s}/{tf_name}/mod_weight'])),
                                                            'bias': tensor(v[f'{s}/{tf_name}/mod_bias'] + 1)})
            mods[pt] = persistent('SynthesisLayer', {}, p, b, {'affine': affine})
        if f'{s}/ToRGB/weight' in v:
            affine = persistent('FullyConnectedLayer', {}, {'weight': tensor(_pt_dense(v[f'{s}/ToRGB/mod_weight'])),
                                                            'bias': tensor(v[f'{s}/ToRGB/mod_bias'] + 1)})
            mods['torgb'] = persistent('ToRGBLayer', {}, {'weight': tensor(_pt_conv(v[f'{s}/ToRGB/weight'])),
                                                          'bias': tensor(v[f'{s}/ToRGB/bias'])}, modules={'affine': affine})
        if f'{s}/Skip/weight' in v:
            mods['skip'] = persistent('Conv2dLayer', {}, {'weight': tensor(_pt_conv(v[f'{s}/Skip/weight'], True))})
        blocks[f'b{r}'] = persistent('SynthesisBlock', {}, params, modules=mods)
    synthesis = persistent('SynthesisNetwork', {}, modules=blocks)
    return persistent('Generator', init_kwargs, modules={'synthesis': synthesis, 'mapping': mapping_net})


def _fc(v, tf_name):
    return persistent('FullyConnectedLayer', {}, {'weight': tensor(_pt_dense(v[f'{tf_name}/weight'])),
                                                  'bias': tensor(v[f'{tf_name}/bias'])})


def _conv_layer(v, tf_name, bias=True):
    params = {'weight': tensor(_pt_conv(v[f'{tf_name}/weight']))}
    if bias:
        params['bias'] = tensor(v[f'{tf_name}/bias'])
    return persistent('Conv2dLayer', {}, params)


def discriminator_module(D, init_kwargs: dict):
    """stylegan2-ada-pytorch `Discriminator` persistent object holding D's weights."""
    v = D.vars
    modules = {}
    for r in (2 ** e for e in range(int(math.log2(D.resolution)), 2, -1)):
        s, mods = f'{r}x{r}', {}
        if f'{s}/FromRGB/weight' in v:
            mods['fromrgb'] = _conv_layer(v, f'{s}/FromRGB')
        mods['conv0'] = _conv_layer(v, f'{s}/Conv0')
        mods['conv1'] = _conv_layer(v, f'{s}/Conv1_down')
        if f'{s}/Skip/weight' in v:
            mods['skip'] = _conv_layer(v, f'{s}/Skip', bias=False)
        modules[f'b{r}'] = persistent('DiscriminatorBlock', {}, modules=mods)
    if D.label_size:
        mapping = {'embed': _fc(v, 'LabelEmbed')}
        i = 0
        while f'Mapping{i}/weight' in v:
            mapping[f'fc{i}'] = _fc(v, f'Mapping{i}')
            i += 1
        modules['mapping'] = persistent('MappingNetwork', {}, modules=mapping)
    epilogue = {}
    if '4x4/FromRGB/weight' in v:
        epilogue['fromrgb'] = _conv_layer(v, '4x4/FromRGB')
    epilogue.update(mbstd=persistent('MinibatchStdLayer', {}), conv=_conv_layer(v, '4x4/Conv'),
                    fc=_fc(v, '4x4/Dense0'), out=_fc(v, 'Output'))
    modules['b4'] = persistent('DiscriminatorEpilogue', {}, modules=epilogue)
    return persistent('Discriminator', init_kwargs, modules=modules)
