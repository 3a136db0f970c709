import json
import os

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
# The suite exercises the pure-TF ops unless SG2TF_OPS_IMPL says otherwise (e.g. SG2TF_OPS_IMPL=custom to run
# everything on the compiled ops); tests/test_custom_ops.py covers the custom ops explicitly either way.
os.environ.setdefault('SG2TF_OPS_IMPL', 'ref')

import numpy as np  # noqa: E402
import pytest  # noqa: E402

DATA = os.path.join(os.path.dirname(__file__), 'data')
FIXTURES = ('f32', 'e16cond', 'origskip32', 'resorig32gray')  # StyleGAN2 E/F, every G and D architecture


def rel_err(a, b) -> float:
    """||a - b|| / ||b||, in float64."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.linalg.norm(a - b) / max(np.linalg.norm(b), 1e-30))


@pytest.fixture(scope='session')
def loaded():
    """{fixture name: (nets dict, reference npz, call json)}, each pickle loaded once per session."""
    import legacy
    cache = {}

    def get(name):
        if name not in cache:
            nets = legacy.load_network_pkl(os.path.join(DATA, f'{name}.pkl'))
            ref = dict(np.load(os.path.join(DATA, f'{name}.npz')))
            with open(os.path.join(DATA, f'{name}.json')) as f:
                calls = json.load(f)
            cache[name] = (nets, ref, calls)
        return cache[name]
    return get
