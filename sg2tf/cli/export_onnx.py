"""Export a generator (or its mapping / synthesis network) as an ONNX model, checked in onnxruntime.

    sg2tf-export-onnx --network stylegan2-ffhq-config-f.pkl --out G.onnx [--opset 17] [--part full]

Inputs and outputs (N is dynamic; `labels` only for conditional networks):
  --part full:      z [N, z_dim], labels [N, label_size], truncation_psi [] -> images [N, R, R, C] uint8
  --part mapping:   z, labels, truncation_psi -> w [N, num_ws, w_dim] float32
  --part synthesis: w [N, num_ws, w_dim] -> images [N, R, R, C] float32 (nominally [-1, 1])
uint8 uses NVIDIA's rule saturate_cast(x * 127.5 + 128). Converted by tf2onnx from the network's pure-TF graph
(standard ONNX ops only). Before writing, the model runs in onnxruntime (CPU) on probe inputs and must match
TensorFlow (float rel err <= 1e-4, uint8 within 1), else nothing is written. The model's metadata_props hold
the opset, the converter version and the network's sizes.
"""
from __future__ import annotations

import argparse
import sys

from sg2tf import export as ex
from sg2tf.cli._common import atomic_output

DEFAULT_OPSET = 17


def export_onnx(G, out: str, part: str = 'full', opset: int = DEFAULT_OPSET, noise_mode: str = 'const',
                truncation_cutoff: int | None = None, overwrite: bool = False, check: bool = True) -> list[str]:
    """Write `G`'s `part` to `out` as ONNX, atomically, after checking it in onnxruntime; returns summary lines."""
    fn = ex.endpoint(G, part, noise_mode, truncation_cutoff)
    model = ex.to_onnx(fn, opset)
    ex.onnx_metadata(model, opset, ex.describe(G, part, noise_mode, truncation_cutoff))
    data = model.SerializeToString()
    notes = ex.check_export(G, fn, part, noise_mode, lambda x: ex.run_onnx(data, x), 'onnxruntime') if check \
        else ['not checked (--skip-check)']
    with atomic_output(out, overwrite=overwrite) as tmp:
        with open(tmp, 'wb') as f:
            f.write(data)
    ins = ', '.join(i.name for i in model.graph.input)
    return [f'Exported {G.resolution}x{G.resolution} {type(G).__name__} ({part}: {ins} -> {ex.OUTPUTS[part]}, '
            f'noise {noise_mode}, opset {opset}) to {out} ({len(data) / 2**20:.1f} MiB)',
            'onnxruntime check: ' + '; '.join(notes)]


def main(argv=None) -> int:
    doc = __doc__.split('\n')
    ap = argparse.ArgumentParser(description=doc[0], formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog='\n'.join(doc[1:]))
    ap.add_argument('--out', required=True, help='output .onnx file')
    ap.add_argument('--opset', type=int, default=DEFAULT_OPSET, help=f'ONNX opset (default {DEFAULT_OPSET})')
    ex.add_common_args(ap)
    return ex.main_common(ap, argv, lambda G, a: export_onnx(G, a.out, a.part, a.opset, a.noise_mode,
                                                              a.trunc_cutoff, a.overwrite, not a.skip_check))


if __name__ == '__main__':
    sys.exit(main())
