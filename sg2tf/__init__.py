"""sg2tf: StyleGAN for TensorFlow 2 / Keras 3 that opens NVIDIA's network pickles and stylegan2-ada-pytorch
snapshots.

The public names below are imported on first use (PEP 562), so `import sg2tf.cli.generate` and a command's
`--help` do not wait for TensorFlow; `from sg2tf import Generator` works as usual.
"""
import importlib as _importlib
import os as _os

# TensorFlow's default CPU allocator returns every large buffer to the OS, so each full-resolution activation
# of a 1024x1024 generator page-faults afresh (measured: a 134 MB elementwise op costs ~5x more CPU time).
# The BFC allocator keeps and reuses them. Only a default: set TF_CPU_ALLOCATOR_USE_BFC=false to opt out; it
# takes effect only if TensorFlow has not allocated CPU memory yet (import sg2tf first).
_os.environ.setdefault('TF_CPU_ALLOCATOR_USE_BFC', 'true')

__version__ = '0.1.0'
# public name -> module that defines it
_EXPORTS = {
    'load_network_pkl': 'sg2tf.nvidia', 'save_network_pkl': 'sg2tf.nvidia', 'NetworkPickleError': 'sg2tf.nvidia',
    'convert_images_to_uint8': 'sg2tf.images',
    'Generator': 'sg2tf.networks', 'Discriminator': 'sg2tf.networks', 'MappingNetwork': 'sg2tf.networks',
    'SynthesisNetwork': 'sg2tf.networks', 'truncate': 'sg2tf.networks',
    'RevisedGenerator': 'sg2tf.stylegan2_revised', 'RevisedSynthesisNetwork': 'sg2tf.stylegan2_revised',
    'RevisedDiscriminator': 'sg2tf.stylegan2_revised',
    'AdaGenerator': 'sg2tf.stylegan2_ada', 'AdaMappingNetwork': 'sg2tf.stylegan2_ada',
    'AdaSynthesisNetwork': 'sg2tf.stylegan2_ada', 'AdaDiscriminator': 'sg2tf.stylegan2_ada',
}
_SUBMODULES = ('stylegan1', 'stylegan2_ada', 'stylegan2_revised', 'networks', 'layers', 'ops', 'nvidia', 'training',
               'images', 'compat', 'arch', 'fileio', 'misc', 'cli')
__all__ = sorted(_EXPORTS) + ['stylegan1', '__version__']


def __getattr__(name: str):
    if name in _EXPORTS:
        # The readers register every family's Keras classes, so loading a .keras file finds them all.
        _importlib.import_module('sg2tf.nvidia')
        value = getattr(_importlib.import_module(_EXPORTS[name]), name)
    elif name in _SUBMODULES:
        value = _importlib.import_module(f'sg2tf.{name}')
    else:
        raise AttributeError(f'module {__name__!r} has no attribute {name!r}')
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_EXPORTS) | set(_SUBMODULES))
