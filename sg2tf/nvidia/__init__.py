"""NVIDIA's network formats: read safely into sg2tf Keras networks, and written back.

- `unpickler`: the restricted unpickler (an allow-list of globals; nothing from a file is executed);
- `registry`: which family reader handles what a file declares, which writer handles a network;
- one module per family (`stylegan2`: configs E/F) with its static-kwargs tables, readers and writers;
- `names`: NVIDIA variable names and layouts <-> Keras weights; `kwargs`, `tfstate`: shared by the families;
- `loader` (`load_network_pkl`), `writer` (`save_network_pkl`, the clean-room TF1 module `tf1_networks.py.txt`).
The top-level `legacy` package re-exports this API under the name NVIDIA's scripts import.
"""
from sg2tf.nvidia.unpickler import NetworkPickleError
from sg2tf.nvidia.loader import load_network_pkl
from sg2tf.nvidia.writer import save_network_pkl

__all__ = ['load_network_pkl', 'save_network_pkl', 'NetworkPickleError']
