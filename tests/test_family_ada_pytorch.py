"""stylegan2-ada-pytorch snapshots read without torch: parity with ADA-PT's own outputs (adapt32cond), the
container's safety and errors, and snapshots written in its format from sg2tf networks."""
import ast
import json
import os
import subprocess
import sys

import numpy as np
import pytest

import legacy
import sg2tf
from sg2tf.nvidia import NetworkPickleError
import torch_snapshot as ts
from conftest import DATA, rel_err

TOL = 1e-4
FP16_TOL = 1e-2  # ADA-PT's float16 blocks (CPU half precision) against sg2tf's (fp16=True): both round in float16
NAME = 'adapt32cond'


@pytest.fixture(scope='module')
def adapt():
    nets = legacy.load_network_pkl(os.path.join(DATA, f'{NAME}.pkl'))
    ref = dict(np.load(os.path.join(DATA, f'{NAME}.npz')))
    with open(os.path.join(DATA, f'{NAME}.json')) as f:
        calls = json.load(f)['arrays']
    return nets, ref, calls


def _call(nets, ref, spec):
    """Recompute an ADA-PT call (`G_ema(latents, labels, truncation_psi=0.5, noise_mode='const')`, ...) with the
    Keras API: NHWC inside, NCHW out as ADA-PT returns. ADA-PT computes its float16 blocks in float16 unless
    `force_fp32=True`; sg2tf's opt-in `fp16=True` is that mode."""
    call = ast.parse(spec['call'], mode='eval').body
    args = [ref[a.id] for a in call.args]
    kwargs = {k.arg: ast.literal_eval(k.value) for k in call.keywords}
    fp16 = not kwargs.pop('force_fp32', False)
    net = spec['network']
    labels = args[1] if len(args) > 1 else None
    if net == 'G_ema.mapping':
        _, ws = nets['G_ema'](args[0], labels, truncation_psi=kwargs.get('truncation_psi', 1),
                              truncation_cutoff=kwargs.get('truncation_cutoff'), return_dlatents=True)
        return ws.numpy()
    if net == 'G_ema.synthesis':
        img = nets['G_ema'].synthesis(args[0], noise_mode=kwargs['noise_mode'], fp16=fp16)
        return np.transpose(img.numpy(), [0, 3, 1, 2])
    if net in ('G', 'G_ema'):
        img = nets[net](args[0], labels, truncation_psi=kwargs.get('truncation_psi', 1),
                        truncation_cutoff=kwargs.get('truncation_cutoff'), noise_mode=kwargs.get('noise_mode', 'const'),
                        fp16=fp16)
        return np.transpose(img.numpy(), [0, 3, 1, 2])
    assert net == 'D'
    return nets['D'](np.transpose(args[0], [0, 2, 3, 1]), labels, fp16=fp16).numpy()


def _cases():
    with open(os.path.join(DATA, f'{NAME}.json')) as f:
        return [k for k, v in json.load(f)['arrays'].items() if v['kind'] == 'output']


@pytest.mark.parametrize('key', _cases())
def test_reference_array(adapt, key):
    nets, ref, calls = adapt
    spec = calls[key]
    expected = ref[key]
    if spec['call'] == 'as generate.py':  # (img.permute(0, 2, 3, 1) * 127.5 + 128).clamp(0, 255).to(uint8)
        x = np.transpose(_call(nets, ref, calls['images_psi1']), [0, 2, 3, 1])
        out = sg2tf.convert_images_to_uint8(x)
        diff = np.abs(out.astype(int) - expected.astype(int))
        near = np.abs(x.astype(np.float64) * 127.5 + 128 - np.round(x.astype(np.float64) * 127.5 + 128)) <= 1e-4 * 127.5
        assert out.dtype == np.uint8 and diff.max() <= 1 and np.all(near[diff == 1])
        return
    out = _call(nets, ref, spec)
    tol = FP16_TOL if key.endswith('_fp16') else TOL
    assert out.shape == expected.shape
    assert rel_err(out, expected) <= tol, f'{key}: relative error {rel_err(out, expected):.2e} > {tol}'


def test_snapshot_keys_and_dnnlib_api(adapt):
    nets, ref, _ = adapt
    assert set(nets) == {'G', 'D', 'G_ema', 'Gs', 'augment_pipe', 'training_set_kwargs'}
    assert nets['Gs'] is nets['G_ema']
    assert nets['augment_pipe']['class_name'] == 'AugmentPipe' and abs(nets['augment_pipe']['p'] - 0.123) < 1e-6
    assert nets['augment_pipe']['init_kwargs']['xflip'] == 1
    assert nets['training_set_kwargs']['resolution'] == 32
    img = nets['Gs'].run(ref['latents'], ref['labels'], truncation_psi=1, randomize_noise=False)
    assert rel_err(img, ref['images_psi1']) <= TOL
    assert rel_err(nets['D'].run(ref['reals'], ref['labels']), ref['scores_reals']) <= TOL


def test_no_torch_imported():
    code = ('import sys, legacy; nets = legacy.load_network_pkl(sys.argv[1]); '
            'assert "torch" not in sys.modules and not any(m.startswith("torch_utils") for m in sys.modules); '
            'print(sorted(nets))')
    res = subprocess.run([sys.executable, '-c', code, os.path.join(DATA, f'{NAME}.pkl')], capture_output=True,
                         text=True, env={**os.environ, 'TF_CPP_MIN_LOG_LEVEL': '3'})
    assert res.returncode == 0, res.stderr[-2000:]


def test_converts_to_an_ada_tf_pickle(adapt, tmp_path):
    """The loaded networks write as an NVIDIA ADA-TF pickle that loads back with the same outputs."""
    nets, ref, _ = adapt
    legacy.save_network_pkl(tmp_path / 'ada_tf.pkl', nets['G'], nets['D'], nets['G_ema'], protocol=3)
    again = legacy.load_network_pkl(str(tmp_path / 'ada_tf.pkl'))
    for key in ('G', 'Gs'):
        np.testing.assert_array_equal(again[key].run(ref['latents'], ref['labels'], truncation_psi=1,
                                                     randomize_noise=False),
                                      nets[key].run(ref['latents'], ref['labels'], truncation_psi=1,
                                                    randomize_noise=False))
    np.testing.assert_array_equal(again['D'].run(ref['reals'], ref['labels']), nets['D'].run(ref['reals'], ref['labels']))


def _snapshot(**nets):
    return ts.dumps({'training_set_kwargs': {'resolution': 32}, **nets, 'augment_pipe': None})


def _write(tmp_path, data, name='snap.pkl'):
    path = tmp_path / name
    path.write_bytes(data)
    return str(path)


G_KWARGS = {'z_dim': 64, 'c_dim': 3, 'w_dim': 64, 'img_resolution': 32, 'img_channels': 3,
            'mapping_kwargs': {'num_layers': 2},
            'synthesis_kwargs': {'channel_base': 1024, 'channel_max': 32, 'num_fp16_res': 2, 'conv_clamp': 4}}


def test_written_snapshot_round_trips(adapt, tmp_path):
    """A snapshot written from sg2tf's network in ADA-PT's format (no torch) loads back to the same network."""
    nets, ref, _ = adapt
    path = _write(tmp_path, _snapshot(G_ema=ts.generator_module(nets['G_ema'], G_KWARGS)))
    again = legacy.load_network_pkl(path)
    assert set(again) == {'G_ema', 'Gs', 'augment_pipe', 'training_set_kwargs'}  # stripped snapshots load
    for name, value in nets['G_ema'].vars.items():
        np.testing.assert_array_equal(again['G_ema'].get_var(name), value, err_msg=name)


def test_module_src_never_runs(tmp_path):
    marker = tmp_path / 'pwned'
    src = f"open({str(marker)!r}, 'w').write('ran')\n"
    obj = ts.persistent('Generator', G_KWARGS, module_src=src)
    with pytest.raises(NetworkPickleError):
        legacy.load_network_pkl(_write(tmp_path, _snapshot(G_ema=obj)))
    assert not marker.exists()


def _one_line(path, match):
    with pytest.raises(NetworkPickleError, match=match) as e:
        legacy.load_network_pkl(path)
    assert '\n' not in str(e.value)


def test_bad_snapshots_get_one_line(tmp_path):
    w = np.zeros([4, 4], np.float32)
    _one_line(_write(tmp_path, b'PK\x03\x04' + b'\0' * 100, 'zip.pkl'), 'torch.save zip checkpoint')
    sg3 = ts.persistent('Generator', G_KWARGS, modules={'synthesis': ts.persistent('SynthesisNetwork', {}, modules={
        'input': ts.persistent('SynthesisInput', {})})})
    _one_line(_write(tmp_path, _snapshot(G_ema=sg3), 'sg3.pkl'), 'StyleGAN3')
    _one_line(_write(tmp_path, _snapshot(G_ema=ts.persistent('Wobbler', {})), 'unknown.pkl'),
              "class\\(es\\) sg2tf does not know: Wobbler")
    for name, kwargs, match in (('trunc.pkl', dict(truncate=8), 'truncated'),
                                ('count.pkl', dict(numel_header=3), 'disagrees'),
                                ('cuda.pkl', dict(location='cuda:0'), "device 'cuda:0'")):
        obj = ts.persistent('Generator', G_KWARGS, {'x': ts.tensor(w, **kwargs)})
        _one_line(_write(tmp_path, _snapshot(G_ema=obj), name), match)
    evil = ts.dumps({'G_ema': ts.Global('os', 'system')})
    _one_line(_write(tmp_path, b'torch_utils.persistence' + evil[0:0] + evil, 'evil.pkl'), 'refused|not a pickle')
    missing = ts.persistent('Generator', G_KWARGS, {}, {}, {})
    _one_line(_write(tmp_path, _snapshot(G_ema=missing), 'missing.pkl'), "lacks parameter 'mapping")


# Snapshots written in ADA-PT's format from random sg2tf ADA networks, against the same networks' ADA-TF pickles.
SNAPSHOT_CASES = {
    # unconditional grayscale, G orig / D orig, 8 mapping layers
    'gray_orig': dict(
        G=dict(resolution=16, num_channels=1, latent_size=16, dlatent_size=16,
               mapping_kwargs=dict(mapping_layers=8, mapping_fmaps=16),
               synthesis_kwargs=dict(fmap_base=64, fmap_max=16, architecture='orig', conv_clamp=256)),
        D=dict(resolution=16, num_channels=1, fmap_base=64, fmap_max=16, architecture='orig', mbstd_group_size=4),
        pt_G={'z_dim': 16, 'c_dim': 0, 'w_dim': 16, 'img_resolution': 16, 'img_channels': 1,
              'mapping_kwargs': {'num_layers': 8, 'layer_features': 16},
              'synthesis_kwargs': {'channel_base': 128, 'channel_max': 16, 'architecture': 'orig', 'conv_clamp': 256}},
        pt_D={'c_dim': 0, 'img_resolution': 16, 'img_channels': 1, 'channel_base': 128, 'channel_max': 16,
              'architecture': 'orig', 'epilogue_kwargs': {'mbstd_group_size': 4}}),
    # conditional RGB, G resnet / D skip, label mapping in D
    'cond_resnet_skip': dict(
        G=dict(resolution=16, num_channels=3, label_size=4, latent_size=12, dlatent_size=12,
               mapping_kwargs=dict(mapping_layers=2, mapping_fmaps=12, label_fmaps=12),
               synthesis_kwargs=dict(fmap_base=64, fmap_max=16, architecture='resnet', conv_clamp=4)),
        D=dict(resolution=16, num_channels=3, label_size=4, fmap_base=64, fmap_max=16, architecture='skip',
               mapping_layers=2, mapping_fmaps=16, mapping_lrmul=0.01, mbstd_group_size=2, conv_clamp=1),
        pt_G={'z_dim': 12, 'c_dim': 4, 'w_dim': 12, 'img_resolution': 16, 'img_channels': 3,
              'mapping_kwargs': {'num_layers': 2},
              'synthesis_kwargs': {'channel_base': 128, 'channel_max': 16, 'architecture': 'resnet', 'conv_clamp': 4}},
        pt_D={'c_dim': 4, 'img_resolution': 16, 'img_channels': 3, 'channel_base': 128, 'channel_max': 16,
              'architecture': 'skip', 'conv_clamp': 1, 'mapping_kwargs': {'num_layers': 2},
              'epilogue_kwargs': {'mbstd_group_size': 2}}),
    # the 1024 config's widths (z = w = 512, channel_base 32768 = 2 x fmap_base 16384, channel_max 512, 8 layers)
    'config_f_widths': dict(
        G=dict(resolution=8, num_channels=3, mapping_kwargs=dict(mapping_layers=8),
               synthesis_kwargs=dict(fmap_base=16384, fmap_max=512)),
        D=dict(resolution=8, num_channels=3, fmap_base=16384, fmap_max=512, mbstd_group_size=4),
        pt_G={'z_dim': 512, 'c_dim': 0, 'w_dim': 512, 'img_resolution': 8, 'img_channels': 3,
              'mapping_kwargs': {'num_layers': 8}, 'synthesis_kwargs': {'channel_base': 32768, 'channel_max': 512}},
        pt_D={'c_dim': 0, 'img_resolution': 8, 'img_channels': 3, 'channel_base': 32768, 'channel_max': 512}),
}


@pytest.mark.parametrize('case', SNAPSHOT_CASES)
def test_snapshot_agrees_with_ada_tf_pickle(case, tmp_path):
    cfg = SNAPSHOT_CASES[case]
    G, D = sg2tf.AdaGenerator(**cfg['G'], name='G_ema'), sg2tf.AdaDiscriminator(**cfg['D'], name='D')
    rng = np.random.RandomState(0)
    for model in (G, D):
        model.build()
        for v in model.weights:
            v.assign((rng.standard_normal(v.shape) * 0.3).astype(np.float32))
    legacy.save_network_pkl(tmp_path / 'tf.pkl', G, D, G, protocol=3)
    path = _write(tmp_path, ts.dumps({'G': ts.generator_module(G, cfg['pt_G']), 'D': ts.discriminator_module(D, cfg['pt_D']),
                                      'G_ema': ts.generator_module(G, cfg['pt_G']), 'augment_pipe': None,
                                      'training_set_kwargs': None}))
    from_pt, from_tf = legacy.load_network_pkl(path), legacy.load_network_pkl(str(tmp_path / 'tf.pkl'))
    z = rng.standard_normal([4, G.latent_size]).astype(np.float32)
    c = np.eye(G.label_size, dtype=np.float32)[[0, 1, 2, 3]] if G.label_size else None
    img = rng.uniform(-1, 1, [4, G.resolution, G.resolution, G.num_channels]).astype(np.float32)
    for key in ('G_ema', 'D'):
        assert from_pt[key].vars.keys() == from_tf[key].vars.keys()
        for name, value in from_tf[key].vars.items():
            got = from_pt[key].get_var(name)
            if name.endswith('/mod_bias'):  # ADA-PT stores b + 1: (b + 1) - 1 is b up to float32 rounding near 1
                np.testing.assert_allclose(got, value, rtol=0, atol=2 ** -23, err_msg=f'{case}/{key}/{name}')
            else:
                np.testing.assert_array_equal(got, value, err_msg=f'{case}/{key}/{name}')
    assert rel_err(from_pt['G_ema'](z, c, noise_mode='const'), from_tf['Gs'](z, c, noise_mode='const')) <= 1e-5
    np.testing.assert_array_equal(from_pt['D'](img, c).numpy(), from_tf['D'](img, c).numpy())
