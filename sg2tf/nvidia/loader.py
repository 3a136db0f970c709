"""`load_network_pkl`: an NVIDIA network pickle -> sg2tf Keras networks, with nothing from the file executed."""
from __future__ import annotations

from sg2tf.layers import weights_to_be_filled
from sg2tf.nvidia import registry, stylegan2_ada_pytorch, tfstate, torch_pickle
from sg2tf.nvidia.errors import clean, show
from sg2tf.nvidia.unpickler import NetworkPickleError, NetworkStub, PickleFile, open_pickle

SNAPSHOT_NETWORKS = ('G', 'D', 'G_ema')  # stylegan2-ada-pytorch's training_loop.py snapshot keys
SOURCE_PYTORCH = 'stylegan2-ada-pytorch'  # `source_format` of networks read from its snapshots


def _failure(source: str, where: str, e: Exception) -> NetworkPickleError:
    """Any exception while interpreting a file's content, as one line naming where."""
    if isinstance(e, NetworkPickleError):
        msg = str(e)
        return e if msg.startswith(source) else NetworkPickleError(f'{source}: {where}: {msg}')
    if isinstance(e, RecursionError):
        return NetworkPickleError(f'{source}: {where}: the structure is nested too deeply or refers to itself')
    if isinstance(e, MemoryError):
        return NetworkPickleError(f'{source}: {where}: out of memory interpreting the file')
    return NetworkPickleError(f'{source}: {where}: malformed network ({type(e).__name__}: {clean(str(e), 160)})')


def read_network(stub: NetworkStub, source: str, strict: bool = False, where: str = 'the network'):
    """Build the sg2tf network a TF1 Network state describes and fill every weight from its stored variables.

    Before anything is built: the state's structure and every static kwarg are checked (`tfstate.validate`),
    the stored variables listed without converting them, and the kwargs' lower bound on the network's size
    compared with what the file stores (`tfstate.check_size`)."""
    state = tfstate.validate(stub, source, where)
    name = state.get('name', state['build_func_name'])
    try:
        read = registry.tf1_reader(state, source)
        stored = tfstate.stored_variables(state, source)
        tfstate.check_size(state, stored, source, name)
        try:
            model = read(state, source)
            initial = tfstate.InitialValues(stored, model.name)
            with weights_to_be_filled(initial):  # each weight created holding its stored value; fill() checks
                model.build()
        except (ValueError, TypeError) as e:
            raise NetworkPickleError(f'{source}: {name}: invalid static kwargs ({clean(str(e), 160)})') from None
        tfstate.pop_lod(stored, source, name)
        tfstate.fill(model, stored, source, name, strict=strict, initial=initial)
    except Exception as e:  # noqa: BLE001 - whatever the content, one line
        raise _failure(source, name, e) from None
    return model


def read_torch_snapshot(f: PickleFile, strict: bool = False, networks: frozenset | None = None) -> dict:
    """A stylegan2-ada-pytorch snapshot -> {'G', 'D', 'G_ema', 'Gs' (= G_ema), 'augment_pipe', 'training_set_kwargs'}
    with the keys the file has. `augment_pipe` is data sg2tf does not run: {'class_name', 'init_kwargs', 'p'}.
    Each network's tensors are let go once it is built."""
    source = f.source
    snap = torch_pickle.load_snapshot(f)
    has_networks, keys = any(snap.get(key) is not None for key in SNAPSHOT_NETWORKS), list(snap)[:8]
    out = {}
    for key in SNAPSHOT_NETWORKS:
        obj = snap.pop(key, None)
        if obj is None or (networks is not None and key not in networks):
            continue
        if not isinstance(obj, torch_pickle.PersistentObject):
            raise NetworkPickleError(f'{source}: {key} is a {type(obj).__name__}, expected a stylegan2-ada-pytorch '
                                     f'network')
        try:
            stylegan2_ada_pytorch.check_known(obj, source, key)
            stub = registry.torch_reader(obj.class_name, source, key)(obj, source, key)
        except Exception as e:  # noqa: BLE001 - whatever the content, one line
            raise _failure(source, key, e) from None
        out[key] = read_network(stub, source, strict, key)
        out[key].source_format = SOURCE_PYTORCH  # provenance: commands use ADA-PT's defaults for it (psi 1)
    if 'G_ema' in out:
        out['Gs'] = out['G_ema']
    if 'augment_pipe' in snap:
        pipe = snap['augment_pipe']
        if isinstance(pipe, torch_pickle.PersistentObject):
            try:
                p = pipe.tensors().get('p')
                p = None if p is None or p.size != 1 else float(p.reshape(-1)[0])
            except Exception as e:  # noqa: BLE001
                raise _failure(source, 'augment_pipe', e) from None
            pipe = {'class_name': pipe.class_name, 'init_kwargs': pipe.init_kwargs, 'p': p}
        out['augment_pipe'] = pipe
    if 'training_set_kwargs' in snap:
        out['training_set_kwargs'] = snap['training_set_kwargs']
    if not has_networks:
        raise NetworkPickleError(f'{source}: a stylegan2-ada-pytorch snapshot without networks (keys: '
                                 f'{", ".join(show(k, 20) for k in keys)})')
    return out


NETWORK_NAMES = ('G', 'D', 'Gs', 'G_ema')  # Gs and G_ema name the same network


def _wanted(networks) -> frozenset | None:
    """The snapshot keys to build for `networks` (None: all); Gs and G_ema are one network."""
    if networks is None:
        return None
    names = set([networks] if isinstance(networks, str) else networks)
    unknown = sorted(str(n)[:20] for n in names - set(NETWORK_NAMES))
    if unknown:
        raise ValueError(f'networks: unknown name(s) {", ".join(unknown)}; expected some of {", ".join(NETWORK_NAMES)}')
    if names & {'Gs', 'G_ema'}:
        names |= {'Gs', 'G_ema'}
    return frozenset(names)


def load_network_pkl(path_or_file, *, strict: bool = False, networks=None):
    """Load an NVIDIA network pickle or a stylegan2-ada-pytorch snapshot without executing anything from it.

    A TF1 `(G, D, Gs)` snapshot gives `{'G', 'D', 'Gs', 'G_ema'}` (`G_ema` is `Gs`, the name ADA-PT's scripts use);
    a pickle of a single Network gives that network; a stylegan2-ada-pytorch snapshot gives
    `read_torch_snapshot`'s dict. Errors are `NetworkPickleError` with a one-line message. NaN or Inf weights
    give a warning naming the variable (`strict=True`: an error). `networks=('Gs',)` builds only the networks
    named (most users need only Gs / G_ema): the others are not built, which saves their time and memory.
    """
    wanted = _wanted(networks)
    with open_pickle(path_or_file) as f:
        source = f.source
        if torch_pickle.is_torch_zip(f.head(4)):
            raise NetworkPickleError(f'{source}: a torch.save zip checkpoint (archive/data.pkl), not a network '
                                     f'pickle: sg2tf reads NVIDIA pickles and stylegan2-ada-pytorch '
                                     f'network-snapshot-*.pkl files')
        if f.check(find=torch_pickle.MARKERS):
            return read_torch_snapshot(f, strict, wanted)
        obj = f.load()
        if isinstance(obj, NetworkStub):
            return read_network(f.plain(obj, defer=True), source, strict)
        if isinstance(obj, tuple) and len(obj) == 3 and all(isinstance(x, NetworkStub) for x in obj):
            stubs, obj = list(obj), None  # the list alone holds them: each is let go once read
            return _read_snapshot(f, stubs, strict, wanted)
        obj = f.plain(obj)
    what = f'a tuple of {len(obj)} items' if isinstance(obj, tuple) else f'a {type(obj).__name__}'
    raise NetworkPickleError(f'{source}: not an NVIDIA network pickle: it holds {what}, expected a (G, D, Gs) '
                             f'tuple of dnnlib Networks or a single Network')


def _read_snapshot(f, stubs: list, strict: bool, wanted: frozenset | None) -> dict:
    """A TF1 `(G, D, Gs)` snapshot's networks, one at a time, each variable read from the file just as its Keras
    weight is created (`tfstate.InitialValues`); the networks not wanted are never read."""
    nets = {}
    for key in ('G', 'D', 'Gs'):
        stub = stubs.pop(0)
        if wanted is None or key in wanted:
            nets[key] = read_network(f.plain(stub, defer=True), f.source, strict, key)
        del stub
    if 'Gs' in nets:
        nets['G_ema'] = nets['Gs']
    return nets
