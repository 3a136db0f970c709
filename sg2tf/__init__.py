"""sg2tf: StyleGAN2 for TensorFlow 2 / Keras 3, compatible with NVIDIA's original network pickles."""
import os as _os

# TensorFlow's default CPU allocator returns every large buffer to the OS, so each full-resolution activation
# of a 1024x1024 generator page-faults afresh (measured: a 134 MB elementwise op costs ~5x more CPU time).
# The BFC allocator keeps and reuses them. Only a default: set TF_CPU_ALLOCATOR_USE_BFC=false to opt out; it
# takes effect only if TensorFlow has not allocated CPU memory yet (import sg2tf first).
_os.environ.setdefault('TF_CPU_ALLOCATOR_USE_BFC', 'true')
# sg2tf.nvidia first: its readers import the networks, whose dnnlib API (compat) imports sg2tf.nvidia.names.
from sg2tf.nvidia import NetworkPickleError, load_network_pkl, save_network_pkl
from sg2tf.images import convert_images_to_uint8
from sg2tf.networks import Discriminator, Generator, MappingNetwork, SynthesisNetwork, truncate
from sg2tf.stylegan2_revised import RevisedDiscriminator, RevisedGenerator, RevisedSynthesisNetwork
from sg2tf.stylegan2_ada import AdaDiscriminator, AdaGenerator, AdaMappingNetwork, AdaSynthesisNetwork
from sg2tf import stylegan1  # StyleGAN1 / config A: stylegan1.Generator, .Discriminator, ...

__version__ = '0.1.0'
__all__ = ['Generator', 'Discriminator', 'MappingNetwork', 'SynthesisNetwork', 'truncate',
           'RevisedGenerator', 'RevisedSynthesisNetwork', 'RevisedDiscriminator',
           'AdaGenerator', 'AdaMappingNetwork', 'AdaSynthesisNetwork', 'AdaDiscriminator',
           'stylegan1',
           'convert_images_to_uint8', 'load_network_pkl', 'save_network_pkl', 'NetworkPickleError', '__version__']
