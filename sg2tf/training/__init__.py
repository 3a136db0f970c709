"""Training: NVIDIA-format datasets, StyleGAN2 losses and update steps on tf.GradientTape, the training loop."""
from sg2tf.training.dataset import (DatasetError, DatasetExporter, TFRecordDataset, convert_reals_from_uint8,
                                    make_levels, random_mirror, shuffled_order)

__all__ = ['DatasetError', 'DatasetExporter', 'TFRecordDataset', 'convert_reals_from_uint8', 'make_levels',
           'random_mirror', 'shuffled_order']
