"""Two CPU worker processes (MultiWorkerMirroredStrategy, TF_CONFIG on localhost) train to the same weights as
one process with the same global batch and seeds. Tolerance: relative error <= 1e-4 per variable (summation
order of the cross-worker gradient all-reduce differs; everything random is drawn identically)."""
import json
import os
import socket
import subprocess
import sys

import numpy as np

from conftest import rel_err
from test_training_loop import make_dataset

HERE = os.path.dirname(os.path.abspath(__file__))
STEPS = 3


def _free_ports(n):
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(('127.0.0.1', 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def _run(args, env, timeout=400):
    return subprocess.Popen([sys.executable, os.path.join(HERE, 'dist_worker.py'), *args], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def test_two_workers_match_one_process(tmp_path):
    data = make_dataset(tmp_path / 'data', n=16, res=8, channels=1, label_size=3)
    env = {k: v for k, v in os.environ.items() if k != 'TF_CONFIG'}
    single = _run([data, str(tmp_path / 'single' / 'w.npz'), str(STEPS)], env)
    os.makedirs(tmp_path / 'single', exist_ok=True)
    os.makedirs(tmp_path / 'multi', exist_ok=True)
    out, _ = single.communicate(timeout=400)
    assert single.returncode == 0, out[-3000:]

    workers = [f'127.0.0.1:{p}' for p in _free_ports(2)]
    procs = []
    for i in range(2):
        tf_config = {'cluster': {'worker': workers}, 'task': {'type': 'worker', 'index': i}}
        procs.append(_run([data, str(tmp_path / 'multi' / 'w.npz'), str(STEPS)],
                          dict(env, TF_CONFIG=json.dumps(tf_config))))
    for p in procs:
        out, _ = p.communicate(timeout=400)
        assert p.returncode == 0, out[-3000:]

    a = np.load(tmp_path / 'single' / 'w.npz')
    b = np.load(tmp_path / 'multi' / 'w.npz')
    assert int(a['replicas']) == 1 and int(b['replicas']) == 2
    assert sorted(a.files) == sorted(b.files)
    worst = max((rel_err(b[k], a[k]), k) for k in a.files if k != 'replicas' and np.any(a[k]))
    assert worst[0] <= 1e-4, f'largest difference: {worst[1]} ({worst[0]:.2e})'
    assert float(a['pl_mean']) != 0.0  # the path-length step ran (the comparison is not vacuous)
