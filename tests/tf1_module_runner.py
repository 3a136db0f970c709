"""Subprocess for test_tf1_module: rebuilds pickled networks from sg2tf's TF1 module in TF1 graph mode.

    python tf1_module_runner.py JOBS.json REPORT.json

JOBS.json: a list of {"name", "pkl", "npz", "json", "src", "only"}; `src` is the path of the module text to exec,
or null to exec the pickle's own `build_module_src`; `only` (optional) restricts the evaluation to those output
arrays. Each job mimics NVIDIA's `Network.__setstate__`: exec the module, build G, D and Gs with the pickled static
kwargs through the mock `dnnlib.tflib.Network` (tests/mock_dnnlib), assign the stored values by name, and evaluate
the fixture's calls. REPORT.json gets, per job, the variable lists (name, shape, trainable) and input names/shapes
of every network and component, ||a-b||/||b|| against the reference arrays, uint8 differences, a training-mode
check and timings.
"""
import importlib.util
import json
import os
import sys
import time
import types

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, 'mock_dnnlib'))

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

import dnnlib.tflib as tflib  # noqa: E402  (the mock)

tf1 = tf.compat.v1
tf1.disable_v2_behavior()


def _load_unpickler():
    """sg2tf/nvidia/unpickler.py alone (importing the `sg2tf` package would pull in Keras)."""
    path = os.path.join(HERE, '..', 'sg2tf', 'nvidia', 'unpickler.py')
    spec = importlib.util.spec_from_file_location('_sg2tf_unpickler', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _exec_module(src, tag):
    """What dnnlib does with `build_module_src`: a fresh module registered in sys.modules, the source exec'd."""
    name = '_tflib_network_import_' + tag
    module = types.ModuleType(name)
    sys.modules[name] = module
    exec(compile(src, '<build_module_src>', 'exec'), module.__dict__)
    return module


def _rel_err(a, b):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.linalg.norm(a - b) / max(np.linalg.norm(b), 1e-30))


def _var_list(net):
    trainable = set(id(v) for v in tf1.trainable_variables())
    return [[n, v.shape.as_list(), id(v) in trainable] for n, v in net.own_vars.items()]


def _net_report(net):
    return {'variables': _var_list(net), 'input_names': net.input_names, 'input_shapes': net.input_shapes,
            'components': {k: _net_report(c) for k, c in net.components.items()}}


def _assign(net, state, sess):
    values = dict(state['variables'])
    assert list(values) == list(net.own_vars), (net.name, list(values), list(net.own_vars))
    for name, var in net.own_vars.items():
        var.load(np.asarray(values[name], np.float32), sess)  # rank 0: NumPy scalars in the pickle
    for key, comp in net.components.items():
        _assign(comp, state['components'][key].state, sess)


def _resolve(nets, path):
    parts = path.split('.')
    net = nets[parts[0]]
    for i in range(1, len(parts), 2):
        assert parts[i] == 'components'
        net = net.components[parts[i + 1]]
    return net


def _to_nhwc(images, nchw_to_nhwc):
    x = tf.cast(images, tf.float32)
    return tf.transpose(x, [0, 2, 3, 1]) if nchw_to_nhwc else x


def _to_uint8(images, nchw_to_nhwc):
    """dnnlib.tflib.convert_images_to_uint8: saturate_cast(x * 127.5 + 128) to uint8 (drange [-1, 1])."""
    return tf.saturate_cast(_to_nhwc(images, nchw_to_nhwc) * 127.5 + (0.5 + 1.0 * 127.5), tf.uint8)


def run_job(job, unpickler):
    t0 = time.time()
    states = unpickler.restricted_load(job['pkl'])
    ref = dict(np.load(job['npz']))
    with open(job['json']) as f:
        calls = json.load(f)['arrays']
    src = states[0].state['build_module_src']
    if job['src'] is not None:
        with open(job['src']) as f:
            src = f.read()
    report = {'name': job['name']}
    graph = tf1.Graph()
    with graph.as_default(), tf1.Session(graph=graph) as sess:
        module = _exec_module(src, job['name'])
        report['functions'] = sorted(n for n in ('G_main', 'G_mapping', 'G_synthesis_stylegan2', 'D_stylegan2')
                                     if callable(getattr(module, n, None)))
        nets = {}
        for key, stub in zip(('G', 'D', 'Gs'), states):
            s = stub.state
            nets[key] = tflib.Network(s['name'], func_name=getattr(module, s['build_func_name']),
                                      **s['static_kwargs'])
        report['build_s'] = time.time() - t0
        report['networks'] = {key: _net_report(net) for key, net in nets.items()}
        sess.run(tf1.global_variables_initializer())
        for key, stub in zip(('G', 'D', 'Gs'), states):
            _assign(nets[key], stub.state, sess)

        used = {'latents', 'labels'} | {i for c in calls.values() for i in c.get('inputs') or [] if i is not None}
        inputs = {k: tf1.placeholder(tf.float32, [None] + list(ref[k].shape[1:]), name=k) for k in sorted(used)}
        inputs[None] = None  # NVIDIA's get_output_for feeds zeros for a None input
        feed = {inputs[k]: ref[k] for k in used}
        exprs, built = {}, {}
        for key, call in calls.items():
            if call['kind'] != 'output' or (job.get('only') is not None and key not in job['only']):
                continue
            kwargs = dict(call['kwargs'])
            transform = kwargs.pop('output_transform', None)
            signature = json.dumps([call['network'], call['inputs'], kwargs], sort_keys=True)
            if signature not in built:  # the uint8 arrays reuse the graph of the same call
                net = _resolve(nets, call['network'])
                built[signature] = net.get_output_for(*(inputs[i] for i in call['inputs']), **kwargs)
            out = built[signature]
            if 'output_index' in call:
                out = out[call['output_index']]
            if transform is not None:
                assert transform['func'] == 'dnnlib.tflib.convert_images_to_uint8'
                exprs[key + '/float'] = _to_nhwc(out, transform.get('nchw_to_nhwc', False))  # what each byte came from
                out = _to_uint8(out, transform.get('nchw_to_nhwc', False))
            exprs[key] = out
        if job.get('only') is not None:  # a reduced run: the listed calls only
            got = {k: v for k, v in sess.run(exprs, feed).items() if not k.endswith('/float')}
            report['rel_err'] = {key: _rel_err(value, ref[key]) for key, value in got.items()}
            report['total_s'] = time.time() - t0
            return report
        # is_validation: truncation_psi_val defaults to None, so no truncation (= the psi 1 images)
        exprs['validation'] = nets['Gs'].get_output_for(inputs['latents'], inputs['labels'], is_validation=True,
                                                        randomize_noise=False)
        report['graph_s'] = time.time() - t0
        got = sess.run(exprs, feed)
        report['eval_s'] = time.time() - t0
        errors, uint8 = {}, {}
        floats = {key[:-len('/float')]: got.pop(key) for key in [k for k in got if k.endswith('/float')]}
        for key, value in got.items():
            want = ref['images_psi1' if key == 'validation' else key]
            assert value.shape == want.shape and value.dtype == want.dtype, (key, value.shape, want.shape)
            if value.dtype == np.uint8:
                diff = np.abs(value.astype(int) - want.astype(int))
                # The rounding-boundary rule of tests/test_parity.py: a byte may differ by 1 only where the module's
                # own float output lies within 1e-4 (relative to the [-1, 1] range) of a rounding boundary.
                x = floats[key].astype(np.float64) * 127.5 + 128.0
                near_boundary = np.abs(x - np.round(x)) <= 1e-4 * 127.5
                uint8[key] = {'max_abs_diff': int(diff.max()), 'num_diff': int(np.count_nonzero(diff)),
                              'size': int(diff.size), 'diffs_near_boundary': bool(np.all(near_boundary[diff == 1]))}
            else:
                errors[key] = _rel_err(value, want)
        report['rel_err'], report['uint8'] = errors, uint8

        # Training mode on G: one evaluation updates dlatent_avg with beta 0.995 from the un-mixed W of the batch.
        G = nets['G']
        avg_before, w = sess.run([G.own_vars['dlatent_avg'],
                                  G.components.mapping.get_output_for(inputs['latents'], inputs['labels'])], feed)
        images, dlatents = sess.run(G.get_output_for(inputs['latents'], inputs['labels'], is_training=True,
                                                     return_dlatents=True), feed)
        batch_avg = w[:, 0].astype(np.float64).mean(axis=0)
        expected = batch_avg + (avg_before - batch_avg) * 0.995
        report['training'] = {
            'dlatent_avg_rel_err': _rel_err(sess.run(G.own_vars['dlatent_avg']), expected),
            'images_shape': list(images.shape), 'dlatents_shape': list(dlatents.shape),
            'finite': bool(np.all(np.isfinite(images)) and np.all(np.isfinite(dlatents))),
        }
        # randomize_noise=True (the static default): fresh noise per call
        rnd = nets['Gs'].get_output_for(inputs['latents'], inputs['labels'], truncation_psi=1.0)
        a, b = sess.run(rnd, feed), sess.run(rnd, feed)
        report['random_noise_differs'] = bool(np.any(a != b))
    report['total_s'] = time.time() - t0
    return report


def main(argv):
    with open(argv[1]) as f:
        jobs = json.load(f)
    unpickler = _load_unpickler()
    reports = [run_job(job, unpickler) for job in jobs]
    with open(argv[2], 'w') as f:
        json.dump(reports, f, indent=1)


if __name__ == '__main__':
    main(sys.argv)
