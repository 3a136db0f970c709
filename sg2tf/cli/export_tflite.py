"""Export a generator (or its mapping / synthesis network) as a TensorFlow Lite model, checked in LiteRT.

    sg2tf-export-tflite --network stylegan2-ffhq-config-f.pkl --out G.tflite [--part synthesis] [--float16]

One signature per file, named as in the SavedModel export (N is dynamic; `labels` only if conditional):
  --part full      (serving_default): z [N, z_dim], labels [N, label_size], truncation_psi [] -> images uint8
  --part mapping   (mapping):         z, labels, truncation_psi -> w [N, num_ws, w_dim] float32
  --part synthesis (synthesis):       w [N, num_ws, w_dim] -> images [N, R, R, C] float32 (nominally [-1, 1])
Run it with the LiteRT interpreter (pip install ai-edge-litert):
  runner = Interpreter(model_path='G.tflite').get_signature_runner('serving_default')
  images = runner(z=z, truncation_psi=np.array(0.7, np.float32))['images']
Builtin TFLite ops only. Before writing, the model runs in the interpreter on probe inputs and must match
TensorFlow (float rel err <= 1e-4, uint8 within 1; with --float16 weights: rel err <= 1e-2), else nothing is
written.
"""
from __future__ import annotations

import argparse
import sys

from sg2tf import export as ex
from sg2tf.cli._common import atomic_output

FLOAT16_TOL = 1e-2  # float16 weights: the export-time check's relative error bound


def export_tflite(G, out: str, part: str = 'full', noise_mode: str = 'const', truncation_cutoff: int | None = None,
                  float16: bool = False, overwrite: bool = False, check: bool = True) -> list[str]:
    """Write `G`'s `part` to `out` as TFLite, atomically, after checking it in the interpreter; summary lines."""
    fn = ex.endpoint(G, part, noise_mode, truncation_cutoff)
    sig = ex.SIGNATURES[part]
    data = ex.to_tflite(fn, sig, float16)
    runtime = ex.tflite_interpreter(data)[1]
    notes = ['not checked (--skip-check)']
    if check:
        notes = ex.check_export(G, fn, part, noise_mode, lambda x: ex.run_tflite(data, sig, x), runtime,
                                tol=FLOAT16_TOL if float16 else ex.CHECK_TOL)
    with atomic_output(out, overwrite=overwrite) as tmp:
        with open(tmp, 'wb') as f:
            f.write(data)
    return [f'Exported {G.resolution}x{G.resolution} {type(G).__name__} ({part}: signature {sig!r} -> '
            f'{ex.OUTPUTS[part]}, noise {noise_mode}, weights {"float16" if float16 else "float32"}) to {out} '
            f'({len(data) / 2**20:.1f} MiB)', f'{runtime} check: ' + '; '.join(notes)]


def main(argv=None) -> int:
    doc = __doc__.split('\n')
    ap = argparse.ArgumentParser(description=doc[0], formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog='\n'.join(doc[1:]))
    ap.add_argument('--out', required=True, help='output .tflite file')
    ap.add_argument('--float16', action='store_true', help='store the weights as float16 (about half the size)')
    ex.add_common_args(ap)
    return ex.main_common(ap, argv, lambda G, a: export_tflite(G, a.out, a.part, a.noise_mode, a.trunc_cutoff,
                                                                a.float16, a.overwrite, not a.skip_check))


if __name__ == '__main__':
    sys.exit(main())
