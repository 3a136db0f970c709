"""`load_network_pkl`: an NVIDIA network pickle -> sg2tf Keras networks, with nothing from the file executed."""
from __future__ import annotations

from sg2tf.nvidia import registry, tfstate
from sg2tf.nvidia.unpickler import NetworkPickleError, NetworkStub, restricted_load


def read_network(stub: NetworkStub, source: str):
    """Build the sg2tf network a TF1 Network state describes and fill every weight from its stored variables."""
    state = stub.state
    read = registry.tf1_reader(state, source)
    name = str(state.get('name', state.get('build_func_name')))
    try:
        model = read(state, source)
        model.build()
    except NetworkPickleError:
        raise
    except (ValueError, TypeError) as e:
        raise NetworkPickleError(f'{source}: {name}: invalid static kwargs ({e})') from None
    stored = tfstate.stored_variables(state, source)
    tfstate.pop_lod(stored, source, name)
    tfstate.fill(model, stored, source, name)
    return model


def load_network_pkl(path_or_file):
    """Load an NVIDIA pickle without executing anything from it (NVIDIA's `legacy.load_network_pkl` use).

    A `(G, D, Gs)` snapshot gives `{'G': Generator, 'D': Discriminator, 'Gs': Generator}`; a pickle of a
    single Network gives that network. Errors are `NetworkPickleError` with a one-line message.
    """
    source = str(getattr(path_or_file, 'name', path_or_file))
    obj = restricted_load(path_or_file)
    if isinstance(obj, NetworkStub):
        return read_network(obj, source)
    if isinstance(obj, tuple) and len(obj) == 3 and all(isinstance(x, NetworkStub) for x in obj):
        return {key: read_network(net, source) for key, net in zip(('G', 'D', 'Gs'), obj)}
    what = f'a tuple of {len(obj)} items' if isinstance(obj, tuple) else f'a {type(obj).__name__}'
    raise NetworkPickleError(f'{source}: not an NVIDIA network pickle: it holds {what}, expected a (G, D, Gs) '
                             f'tuple of dnnlib Networks or a single Network')
