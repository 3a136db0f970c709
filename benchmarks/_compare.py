"""The optional stylegan2-ada-pytorch comparison of generate.py, load_generate.py and train.py: its side runs in
a subprocess under a Python with PyTorch (benchmarks/ada_pytorch_worker.py), so both are timed in the same run
on the same machine. Needs a local checkout of https://github.com/NVlabs/stylegan2-ada-pytorch (sg2tf neither
ships nor downloads it) and e.g. `python -m venv tvenv && tvenv/bin/pip install torch numpy scipy click requests
pillow` (its own requirements)."""
from __future__ import annotations

import argparse
import os
import subprocess

from _machine import blas_threads_env, worker_result

WORKER = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'ada_pytorch_worker.py')


def add_args(ap: argparse.ArgumentParser) -> None:
    ap.add_argument('--ada-pytorch', metavar='DIR', default=None,
                    help='also time stylegan2-ada-pytorch from this local checkout, in the same run')
    ap.add_argument('--torch-python', metavar='PY', default=None,
                    help='the Python with PyTorch that runs it (required with --ada-pytorch)')


def check_args(ap: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    if args.ada_pytorch and not args.torch_python:
        ap.error('--ada-pytorch needs --torch-python (a Python with PyTorch installed)')


def run(args: argparse.Namespace, task: str, threads: int, **options) -> tuple[dict | None, str]:
    """One worker task on `threads` torch threads -> (its RESULT dict, '') or (None, why)."""
    cmd = [args.torch_python, WORKER, '--repo', args.ada_pytorch, task, '--threads', str(threads)]
    for key, value in options.items():
        cmd += [f'--{key}', str(value)]
    env = {k: v for k, v in os.environ.items() if k != 'PYTHONPATH'}
    env.update(blas_threads_env(threads))
    res = subprocess.run(cmd, capture_output=True, text=True, env=env)
    return worker_result(res.stdout, res.stderr)
