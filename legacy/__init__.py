"""Compatibility with NVIDIA's TF1 StyleGAN2 network pickles: load them safely into sg2tf Keras networks."""
from __future__ import annotations

from legacy.convert import network_from_state
from legacy.unpickler import NetworkPickleError, NetworkStub, restricted_load
from legacy.writer import save_network_pkl

__all__ = ['load_network_pkl', 'save_network_pkl', 'NetworkPickleError']


def load_network_pkl(path_or_file):
    """Load an NVIDIA pickle without executing anything from it.

    A `(G, D, Gs)` snapshot gives `{'G': Generator, 'D': Discriminator, 'Gs': Generator}`; a pickle of a
    single Network gives that network. Errors are `NetworkPickleError` with a one-line message.
    """
    source = str(getattr(path_or_file, 'name', path_or_file))
    obj = restricted_load(path_or_file)
    if isinstance(obj, NetworkStub):
        return network_from_state(obj, source)
    if isinstance(obj, tuple) and len(obj) == 3 and all(isinstance(x, NetworkStub) for x in obj):
        return {key: network_from_state(net, source) for key, net in zip(('G', 'D', 'Gs'), obj)}
    what = f'a tuple of {len(obj)} items' if isinstance(obj, tuple) else f'a {type(obj).__name__}'
    raise NetworkPickleError(f'{source}: not an NVIDIA network pickle: it holds {what}, expected a (G, D, Gs) '
                             f'tuple of dnnlib Networks or a single Network')
