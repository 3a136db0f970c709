"""Training: NVIDIA-format datasets, StyleGAN2 losses and update steps on tf.GradientTape, the training loop."""
from sg2tf.training.dataset import (DatasetError, DatasetExporter, TFRecordDataset, convert_reals_from_uint8,
                                    create_from_arrays, create_from_source, create_sklearn_digits, make_levels,
                                    random_mirror, shuffled_order, sklearn_digits)

__all__ = ['DatasetError', 'DatasetExporter', 'TFRecordDataset', 'convert_reals_from_uint8', 'create_from_arrays',
           'create_from_source', 'create_sklearn_digits', 'make_levels', 'random_mirror', 'shuffled_order',
           'sklearn_digits']
