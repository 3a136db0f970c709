"""Print the relative error of every reference array of every fixture in tests/data (the parity tests assert
them; this prints the values), and the largest per fixture.

    python tools/parity_report.py            # from the repository root
"""
from __future__ import annotations

import json
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, 'tests'))
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '3')

TF_FIXTURES = ('f32', 'e16cond', 'origskip32', 'resorig32gray', 'revised32', 'sg1_128cond', 'ada64')


def main() -> int:
    import numpy as np
    import legacy
    from conftest import DATA, rel_err
    import test_family_ada_pytorch as pt
    from test_parity import _call
    for name in TF_FIXTURES + ('adapt32cond',):
        nets = legacy.load_network_pkl(os.path.join(DATA, f'{name}.pkl'))
        ref = dict(np.load(os.path.join(DATA, f'{name}.npz')))
        with open(os.path.join(DATA, f'{name}.json')) as f:
            calls = json.load(f)['arrays']
        errs = {}
        for key, spec in calls.items():
            if spec['kind'] != 'output' or ref[key].dtype == np.uint8 or spec.get('call') == 'as generate.py':
                continue
            out = pt._call(nets, ref, spec) if name == 'adapt32cond' else _call(nets, ref, spec)
            errs[key] = rel_err(out, ref[key])
        f32 = {k: v for k, v in errs.items() if not k.endswith('_fp16')}
        worst = max(f32, key=f32.get)
        line = f'{name:14s} {len(errs):2d} float arrays, max rel err {f32[worst]:.2e} ({worst})'
        fp16 = {k: v for k, v in errs.items() if k.endswith('_fp16')}
        if fp16:
            line += f'; float16 references: max {max(fp16.values()):.2e}'
        print(line, flush=True)
    return 0


if __name__ == '__main__':
    sys.exit(main())
