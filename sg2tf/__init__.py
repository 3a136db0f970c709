"""sg2tf: StyleGAN2 for TensorFlow 2 / Keras 3, compatible with NVIDIA's original network pickles."""
from sg2tf.images import convert_images_to_uint8
from sg2tf.networks import Discriminator, Generator, MappingNetwork, SynthesisNetwork, truncate

__version__ = '0.1.0'
__all__ = ['Generator', 'Discriminator', 'MappingNetwork', 'SynthesisNetwork', 'truncate',
           'convert_images_to_uint8', '__version__']
