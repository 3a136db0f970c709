"""Run a benchmark (or tool) and store its printed output as a record: benchmarks/results/NAME.txt.

    python benchmarks/record.py NAME -- python benchmarks/train.py --steps 30

The record starts with the date, the commit (`git rev-parse --short HEAD`, marked when tracked files had
uncommitted changes), lscpu's model name, the core count, the load average before and after (other jobs
sharing the CPU slow every figure down) and the exact command; then everything the command printed. Every
figure in README.md comes from one of these records; rerun the command in a record's header to regenerate it.
"""
from __future__ import annotations

import argparse
import datetime
import os
import subprocess
import sys

from _machine import cpu_model  # noqa: E402  (benchmarks/ is on sys.path when run as a script)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
RESULTS = os.path.join(ROOT, 'benchmarks', 'results')


def commit() -> str:
    """Short HEAD, with '+uncommitted changes' if tracked files differ from it."""
    def git(*args):
        return subprocess.run(['git', '-C', ROOT, *args], capture_output=True, text=True).stdout.strip()
    head = git('rev-parse', '--short', 'HEAD') or 'unknown'
    return head + (' + uncommitted changes' if git('status', '--porcelain', '--untracked-files=no') else '')


def load() -> str:
    return ' '.join(f'{x:.2f}' for x in os.getloadavg())


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('name', help='record name: benchmarks/results/NAME.txt')
    ap.add_argument('command', nargs=argparse.REMAINDER, help='-- then the command to run')
    args = ap.parse_args()
    cmd = args.command[1:] if args.command[:1] == ['--'] else args.command
    if not cmd or os.sep in args.name:
        print('error: usage: record.py NAME -- COMMAND...', file=sys.stderr)
        return 1
    from sg2tf.fileio import atomic_open
    header = [f'date: {datetime.datetime.now().astimezone().isoformat(timespec="seconds")}',
              f'commit: {commit()}',
              f'cpu: {cpu_model()} ({os.cpu_count()} cores)',
              f'load average (1, 5, 15 min) before: {load()}',
              f'command: {" ".join(cmd)}']
    t0 = datetime.datetime.now()
    res = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    wall = (datetime.datetime.now() - t0).total_seconds()
    header += [f'load average after: {load()}', f'wall time: {wall:.0f} s, exit status {res.returncode}', '']
    text = '\n'.join(header) + '\n' + res.stdout
    print(text, end='')
    if res.returncode != 0:
        print(f'error: the command failed (exit {res.returncode}); no record written\n{res.stderr[-2000:]}',
              file=sys.stderr)
        return 1
    os.makedirs(RESULTS, exist_ok=True)
    with atomic_open(os.path.join(RESULTS, f'{args.name}.txt'), 'w') as f:
        f.write(text)
    return 0


if __name__ == '__main__':
    sys.exit(main())
