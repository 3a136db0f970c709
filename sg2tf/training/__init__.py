"""Training support: NVIDIA-format datasets (`sg2tf.training.dataset`)."""
from sg2tf.training.dataset import (DatasetError, DatasetExporter, TFRecordDataset, convert_reals_from_uint8,
                                    make_levels, random_mirror, shuffled_order)

__all__ = ['DatasetError', 'DatasetExporter', 'TFRecordDataset', 'convert_reals_from_uint8', 'make_levels',
           'random_mirror', 'shuffled_order']
