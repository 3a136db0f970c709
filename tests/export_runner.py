"""Run exported ONNX / TFLite models in a fresh process that imports neither sg2tf nor TensorFlow (used by
tests/test_export_onnx.py and tests/test_export_tflite.py).

    python -I tests/export_runner.py onnx|tflite JOBS.json OUTPUTS.npz

JOBS: [{"key": ..., "model": path, "signature": name (tflite), "inputs": path of an .npz}, ...]; each job runs the
model once per batch size B in "batches" on the first B rows of every batched input. OUTPUTS: `<key>/b<B>` per job
and batch, `<key>/b<B>/again` (a second run), plus `<key>/metadata` (ONNX: metadata_props as JSON),
`<key>/inputs`, `<key>/outputs` (names), `runtime`, `imported` (sg2tf / tensorflow modules loaded, if any).
"""
import json
import sys

import numpy as np


def _onnx(job, inputs, batch):
    import onnxruntime as ort
    sess = _onnx.cache.get(job['model'])
    if sess is None:
        sess = _onnx.cache[job['model']] = ort.InferenceSession(job['model'], providers=['CPUExecutionProvider'])
    feed = {i.name: inputs[i.name][:batch] if inputs[i.name].ndim else inputs[i.name] for i in sess.get_inputs()}
    return sess.run(None, feed)[0], sess


_onnx.cache = {}


def _tflite(job, inputs, batch):
    from ai_edge_litert.interpreter import Interpreter
    interp = Interpreter(model_path=job['model'])  # fresh per call: signature runners resize the inputs
    runner = interp.get_signature_runner(job['signature'])
    feed = {k: v[:batch] if v.ndim else v for k, v in inputs.items() if k in runner.get_input_details()}
    out = runner(**feed)
    return next(iter(out.values())), runner


def main(runtime, jobs_path, outputs_path):
    with open(jobs_path) as f:
        jobs = json.load(f)
    run = {'onnx': _onnx, 'tflite': _tflite}[runtime]
    out = {}
    for job in jobs:
        inputs = dict(np.load(job['inputs']))
        for batch in job['batches']:
            out[f"{job['key']}/b{batch}"], handle = run(job, inputs, batch)
            out[f"{job['key']}/b{batch}/again"] = run(job, inputs, batch)[0]
        if runtime == 'onnx':
            meta = handle.get_modelmeta().custom_metadata_map
            out[f"{job['key']}/metadata"] = np.array(json.dumps(meta))
            out[f"{job['key']}/inputs"] = np.array([i.name for i in handle.get_inputs()])
            out[f"{job['key']}/outputs"] = np.array([o.name for o in handle.get_outputs()])
        else:
            out[f"{job['key']}/inputs"] = np.array(sorted(handle.get_input_details()))
            out[f"{job['key']}/outputs"] = np.array(sorted(handle.get_output_details()))
    out['runtime'] = np.array(runtime)
    out['imported'] = np.array(sorted(m for m in sys.modules
                                      if m.split('.')[0] in ('sg2tf', 'legacy', 'tensorflow', 'keras')))
    np.savez(outputs_path, **out)


if __name__ == '__main__':
    main(*sys.argv[1:4])
