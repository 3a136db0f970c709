"""How digit-like are a generator's images? Two numbers for networks trained on the sklearn digits dataset.

    python tools/eval_digits.py --network runs/digits/network-snapshot-000100.pkl [--num 500]

- confidence: a logistic-regression digit classifier (trained on sklearn's 8x8 digits) is shown each fake,
  box-downsampled to 8x8; the mean of its top class probability. Higher = more digit-like.
- nn_distance: mean distance from each fake (32x32, values in [0, 1]) to its nearest real digit, per pixel RMS.
  Lower = closer to the data.
The same numbers for the real digits themselves are printed as the reference. Needs scikit-learn.
A developer utility (used by tests/test_generate.py); not installed.
"""
from __future__ import annotations

import argparse
import sys

import numpy as np


def _classifier():
    from sklearn.datasets import load_digits
    from sklearn.linear_model import LogisticRegression
    digits = load_digits()
    return LogisticRegression(max_iter=5000).fit(digits.data / 16.0, digits.target)


def digit_scores(images_u8: np.ndarray, reals_u8: np.ndarray, clf=None) -> dict:
    """images_u8, reals_u8: uint8 [N, R, R] (one channel), R a multiple of 8."""
    clf = clf or _classifier()
    n, r = images_u8.shape[:2]
    f = r // 8
    x = images_u8.astype(np.float64) / 255.0
    small = x.reshape(n, 8, f, 8, f).mean(axis=(2, 4)).reshape(n, 64)
    confidence = clf.predict_proba(small).max(axis=1).mean()
    real = reals_u8.reshape(len(reals_u8), -1).astype(np.float64) / 255.0
    flat = x.reshape(n, -1)
    d2 = (flat ** 2).sum(1)[:, None] + (real ** 2).sum(1)[None] - 2 * flat @ real.T
    nn = np.sqrt(np.maximum(d2.min(axis=1), 0) / flat.shape[1]).mean()
    return {'confidence': float(confidence), 'nn_distance': float(nn)}


def generator_images(G, num: int, seed: int = 0) -> np.ndarray:
    from sg2tf.images import convert_images_to_uint8
    z = np.random.RandomState(seed).randn(num, G.latent_size).astype(np.float32)
    out = []
    for i in range(0, num, 100):
        out.append(convert_images_to_uint8(G(z[i:i + 100], None, noise_mode='const').numpy()))
    return np.concatenate(out)[..., 0]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--network', nargs='+', required=True)
    ap.add_argument('--num', type=int, default=500)
    args = ap.parse_args(argv)
    from sg2tf.cli._common import ToolError, load_generator
    from sg2tf.training.dataset import sklearn_digits
    reals, _ = sklearn_digits(32)
    clf = _classifier()
    ref = digit_scores(reals[:args.num], reals, clf)
    # Reals vs themselves: nn distance 0 by construction; report against a disjoint half instead.
    half = len(reals) // 2
    ref['nn_distance'] = digit_scores(reals[:half][:args.num], reals[half:], clf)['nn_distance']
    print(f'{"network":<60} {"confidence":>10} {"nn_distance":>12}')
    print(f'{"(real digits)":<60} {ref["confidence"]:>10.3f} {ref["nn_distance"]:>12.3f}')
    for path in args.network:
        try:
            G = load_generator(path)
        except ToolError as e:
            print(f'error: {e}', file=sys.stderr)
            return 1
        s = digit_scores(generator_images(G, args.num), reals, clf)
        print(f'{path:<60} {s["confidence"]:>10.3f} {s["nn_distance"]:>12.3f}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
