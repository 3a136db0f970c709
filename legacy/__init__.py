"""`import legacy; legacy.load_network_pkl(...)`, as in NVIDIA's and stylegan2-ada-pytorch's scripts.

A thin re-export of `sg2tf.nvidia` (where the readers, writers and the unpickler live) under the module name those
scripts import. Unlike stylegan2-ada-pytorch's `legacy.py`, loading never executes code from the pickle.
"""
from sg2tf.nvidia import NetworkPickleError, load_network_pkl, save_network_pkl

__all__ = ['load_network_pkl', 'save_network_pkl', 'NetworkPickleError']
