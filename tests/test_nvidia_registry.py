"""sg2tf.nvidia's structure: the family registry, one static-kwargs table per build function (read and write),
`legacy` as a re-export, and NVIDIA's defaults agreeing with the Keras constructors'."""
import inspect
import os
import subprocess
import sys
import warnings

import pytest

import legacy
import sg2tf
from sg2tf.nvidia import registry, stylegan2
from sg2tf.nvidia.unpickler import NetworkPickleError

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_legacy_is_the_same_api():
    assert legacy.load_network_pkl is sg2tf.load_network_pkl is sg2tf.nvidia.load_network_pkl
    assert legacy.save_network_pkl is sg2tf.nvidia.save_network_pkl
    assert legacy.NetworkPickleError is NetworkPickleError


def _defaults(cls):
    return {k: p.default for k, p in inspect.signature(cls.__init__).parameters.items()
            if p.default is not inspect.Parameter.empty}


@pytest.mark.parametrize('table,classes', [
    (stylegan2.G_MAIN, (sg2tf.Generator, sg2tf.MappingNetwork, sg2tf.SynthesisNetwork)),
    (stylegan2.G_SYNTHESIS, (sg2tf.SynthesisNetwork,)),
    (stylegan2.G_MAPPING, (sg2tf.MappingNetwork,)),
    (stylegan2.D_STYLEGAN2, (sg2tf.Discriminator,))])
def test_nvidia_defaults_match_the_constructors(table, classes):
    """The Keras constructors' defaults are NVIDIA's, so a kwarg left out of a pickle means the same to both."""
    ctor = {}
    for cls in classes:
        ctor.update(_defaults(cls))
    for name, default in table.defaults.items():
        if name in ('label_size', 'resolution', 'num_channels', 'latent_size', 'dlatent_size') and name not in ctor:
            continue
        got = ctor[name]
        assert (list(got) if isinstance(got, (list, tuple)) else got) == default, name


def test_table_writes_only_what_differs_and_keeps_a_files_order():
    t = stylegan2.G_MAIN
    assert t.write({'num_channels': 1, 'resolution': 32, 'fmap_base': 16 << 10, 'mapping_layers': 2}) == \
        {'num_channels': 1, 'resolution': 32, 'label_size': 0, 'mapping_layers': 2}
    original = {'resolution': 32, 'architecture': 'skip', 'num_channels': 1, 'dtype': 'float32'}
    assert list(t.write({'resolution': 32, 'num_channels': 1}, original)) == \
        ['resolution', 'architecture', 'num_channels', 'dtype', 'label_size']
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter('always')
        assert t.read({'resolution': 32, 'bogus': 1, 'randomize_noise': False}, 'x.pkl') == {'resolution': 32}
    assert len(w) == 1 and 'bogus' in str(w[0].message)


@pytest.mark.parametrize('func,version,synthesis,what', [
    ('G_main', 4, 'G_synthesis_stylegan2', None), ('D_stylegan2', 2, None, None),
    ('G_main', 4, 'G_synthesis_stylegan_revised', None), ('G_main', 5, 'G_synthesis', None),
    ('G_style', 3, 'G_synthesis', None), ('D_basic', 4, None, None), ('G_synthesis', 2, None, None),
    ('D_main', 5, None, None),
    ('Bogus', 4, None, 'unknown build function'), ('D_stylegan2', 7, None, 'unknown Network state version')])
def test_registry_dispatch(func, version, synthesis, what):
    from sg2tf.nvidia.unpickler import NetworkStub
    comps = {'synthesis': NetworkStub({'version': version, 'build_func_name': synthesis})} if synthesis else {}
    state = {'version': version, 'name': 'X', 'build_func_name': func, 'components': comps}
    if what is None:
        assert callable(registry.tf1_reader(state, 'x.pkl'))
    else:
        with pytest.raises(NetworkPickleError, match=what):
            registry.tf1_reader(state, 'x.pkl')


def test_every_network_class_has_one_writer():
    for cls in (sg2tf.Generator, sg2tf.Discriminator, sg2tf.MappingNetwork, sg2tf.SynthesisNetwork):
        assert registry.writer(cls.__new__(cls)) is stylegan2.WRITERS[cls]


def test_sg2tf_never_imports_legacy_or_tools():
    code = ('import sys, sg2tf, sg2tf.nvidia, sg2tf.training.loop; '
            'bad = [m for m in sys.modules if m.split(".")[0] in ("legacy", "tools")]; '
            'assert not bad, bad')
    env = {**os.environ, 'TF_CPP_MIN_LOG_LEVEL': '3'}
    res = subprocess.run([sys.executable, '-c', code], cwd='/', env=env, capture_output=True, text=True)
    assert res.returncode == 0, res.stderr[-2000:]
