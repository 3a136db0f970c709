"""Run an exported SavedModel's signatures in a fresh process that never imports sg2tf (used by test_export).

    python -I tests/savedmodel_runner.py MODEL_DIR INPUTS.npz OUTPUTS.npz

INPUTS: z, psi, w, optional labels. OUTPUTS: serving_default, serving_default_again, mapping, synthesis,
synthesis_again, synthesis_one (w's first sample alone), chained (synthesis of mapping's w), plus `bad_z_error`
(the message of a call with a z one column short), `big_batch_error` (65 samples), `nan_psi_error` and
`sg2tf_imported`.
"""
import os
import sys

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '3')
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402


def main(model_dir, inputs_path, outputs_path):
    inp = dict(np.load(inputs_path))
    model = tf.saved_model.load(model_dir)
    sigs = model.signatures
    common = {'truncation_psi': tf.constant(inp['psi'], tf.float32)}
    if 'labels' in inp:
        common['labels'] = tf.constant(inp['labels'])
    out = {'signatures': np.array(sorted(k for k in sigs.keys()))}
    out['serving_default'] = sigs['serving_default'](z=tf.constant(inp['z']), **common)['images'].numpy()
    out['serving_default_again'] = sigs['serving_default'](z=tf.constant(inp['z']), **common)['images'].numpy()
    out['mapping'] = sigs['mapping'](z=tf.constant(inp['z']), **common)['w'].numpy()
    out['chained'] = sigs['synthesis'](w=tf.constant(out['mapping']))['images'].numpy()
    out['synthesis'] = sigs['synthesis'](w=tf.constant(inp['w']))['images'].numpy()
    out['synthesis_again'] = sigs['synthesis'](w=tf.constant(inp['w']))['images'].numpy()
    out['synthesis_one'] = sigs['synthesis'](w=tf.constant(inp['w'][:1]))['images'].numpy()  # the batch-1 graph
    try:
        sigs['serving_default'](z=tf.constant(inp['z'][:, :-1]), **common)
        out['bad_z_error'] = np.array('')
    except tf.errors.InvalidArgumentError as e:
        out['bad_z_error'] = np.array(e.message)
    for key, call in (('big_batch_error', lambda: sigs['serving_default'](z=tf.zeros([65, inp['z'].shape[1]]),
                                                                            **common)),
                      ('nan_psi_error', lambda: sigs['mapping'](z=tf.constant(inp['z']),
                                                                **{**common, 'truncation_psi': tf.constant(np.nan)}))):
        try:
            call()
            out[key] = np.array('')
        except tf.errors.InvalidArgumentError as e:
            out[key] = np.array(e.message)
    out['sg2tf_imported'] = np.array(any(m == 'sg2tf' or m.startswith(('sg2tf.', 'legacy')) for m in sys.modules))
    np.savez(outputs_path, **out)


if __name__ == '__main__':
    main(*sys.argv[1:4])
