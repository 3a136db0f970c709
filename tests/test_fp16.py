"""Opt-in float16 mode of ADA networks (`num_fp16_res`): float32 unless asked; asked, the declared top resolutions
run in float16 as ADA does, matching stylegan2-ada-pytorch's own float16 outputs (adapt32cond `*_fp16`) to its
half-precision round-off; the dnnlib `num_fp16_res` keyword, the network setting, `.keras` and the tools."""
import os
import warnings

import keras
import numpy as np
import pytest
import tensorflow as tf

import legacy
from conftest import DATA, rel_err
from sg2tf import arch
from sg2tf.layers import modulated_conv2d

TOL = 1e-4         # float32 parity
FP16_TOL = 1e-2    # float16 against float16 / float32 references (both sides round in half precision: ~1e-3)
FP16_MIN = 1e-5    # float16 really ran: its output is further than float32 round-off from the float32 reference
NO_GPU = not tf.config.list_logical_devices('GPU')


@pytest.fixture(scope='module')
def adapt():
    nets = legacy.load_network_pkl(os.path.join(DATA, 'adapt32cond.pkl'))
    return nets, dict(np.load(os.path.join(DATA, 'adapt32cond.npz')))


@pytest.fixture(scope='module')
def ada():
    nets = legacy.load_network_pkl(os.path.join(DATA, 'ada64.pkl'))
    return nets, dict(np.load(os.path.join(DATA, 'ada64.npz')))


def _nchw(x):
    return np.transpose(np.asarray(x), [0, 3, 1, 2])


def test_fp16_resolutions_rule():
    assert arch.fp16_resolutions(1024, 4) == [128, 256, 512, 1024]
    assert arch.fp16_resolutions(32, 2) == [16, 32]
    assert arch.fp16_resolutions(32, 0) == []
    assert arch.fp16_resolutions(32, 9) == [8, 16, 32]  # 4x4 stays float32 (stylegan2-ada-pytorch's floor)


def test_keras_call_matches_ada_pytorch_float16(adapt):
    nets, ref = adapt
    G, D = nets['G_ema'], nets['D']
    z, c = ref['latents'], ref['labels']
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        for key, kwargs in [('images_psi1', {}), ('images_psi07_cutoff', dict(truncation_psi=0.7, truncation_cutoff=4)),
                            ('images_psi1_nonoise', dict(noise_mode='none'))]:
            out16 = _nchw(G(z, c, fp16=True, **kwargs))
            assert rel_err(out16, ref[key + '_fp16']) <= FP16_TOL
            assert FP16_MIN < rel_err(out16, ref[key]) <= FP16_TOL
            assert rel_err(_nchw(G(z, c, **kwargs)), ref[key]) <= TOL  # default stays float32
        for key, img in [('scores_reals', ref['reals']), ('scores_fakes', ref['images_psi1'])]:
            nhwc = np.transpose(img, [0, 2, 3, 1])
            s16 = D(nhwc, c, fp16=True).numpy()
            assert rel_err(s16, ref[key + '_fp16']) <= FP16_TOL and rel_err(s16, ref[key]) > FP16_MIN
            assert rel_err(D(nhwc, c).numpy(), ref[key]) <= TOL


def test_float16_runs_in_the_declared_blocks_only(adapt):
    nets, ref = adapt
    syn = nets['G_ema'].synthesis
    ws = tf.constant(ref['ws'])
    noises = [None, None]
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        x, img = None, None
        dtypes = {}
        k = 0
        for block in syn.blocks:
            count = 1 if block.res == 4 else 2
            x, img = block(x, img, ws, noises[:count], fp16=block.res in arch.fp16_resolutions(32, 2))
            dtypes[block.res] = (x.dtype, img.dtype)
            k += count
    assert dtypes == {4: (tf.float32, tf.float32), 8: (tf.float32, tf.float32),
                      16: (tf.float16, tf.float32), 32: (tf.float16, tf.float32)}
    assert np.all(np.isfinite(img.numpy()))


@pytest.mark.skipif(not NO_GPU, reason='checks the message printed when float16 runs without a GPU')
def test_says_what_it_does_on_cpu(adapt):
    nets, ref = adapt
    with pytest.warns(UserWarning, match='float16 requested without a GPU.*16x16 and up'):
        nets['G_ema'](ref['latents'], ref['labels'], fp16=True)


def test_dnnlib_run_keyword_and_network_setting(ada):
    """ADA-TF `Gs.run(..., num_fp16_res=k)`: k > 0 is float16 for the top k resolutions, 0 float32; without it the
    network's setting (default float32) decides. The fixture's arrays are NVIDIA's float32 (num_fp16_res=0)."""
    nets, ref = ada
    Gs, D = nets['Gs'], nets['D']
    z = ref['latents']
    kw = dict(truncation_psi=1.0, truncation_cutoff=None, randomize_noise=False)
    expected = ref['images_psi1']
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        assert rel_err(Gs.run(z, None, **kw), expected) <= TOL
        assert rel_err(Gs.run(z, None, num_fp16_res=0, **kw), expected) <= TOL
        two = Gs.run(z, None, num_fp16_res=2, **kw)
        one = Gs.run(z, None, num_fp16_res=1, **kw)
        assert FP16_MIN < rel_err(two, expected) <= FP16_TOL and FP16_MIN < rel_err(one, expected) <= FP16_TOL
        assert rel_err(one, two) > 0
        assert not Gs.fp16
        Gs.fp16 = True
        try:
            assert Gs.fp16 and Gs.synthesis.fp16
            assert np.array_equal(Gs.run(z, None, **kw), two)
            assert rel_err(Gs.run(z, None, num_fp16_res=0, **kw), expected) <= TOL
            synth = Gs.components.synthesis
            assert np.array_equal(synth.run(ref['dlatents'], randomize_noise=False),
                                  synth.run(ref['dlatents'], randomize_noise=False, num_fp16_res=2))
            assert rel_err(synth.run(ref['dlatents'], randomize_noise=False, num_fp16_res=0), expected) <= TOL
        finally:
            Gs.fp16 = False
        assert rel_err(Gs.run(z, None, **kw), expected) <= TOL  # the compiled cache follows the setting
        scores = D.run(ref['reals'], None, num_fp16_res=2)
        assert FP16_MIN < rel_err(scores, ref['scores_reals']) <= FP16_TOL
        assert rel_err(D.run(ref['reals'], None), ref['scores_reals']) <= TOL


def test_other_families_have_no_float16_resolutions():
    nets = legacy.load_network_pkl(os.path.join(DATA, 'f32.pkl'), networks=('Gs',))
    Gs = nets['Gs']
    z = np.random.RandomState(0).randn(2, Gs.latent_size).astype(np.float32)
    assert np.array_equal(Gs(z, fp16=True).numpy(), Gs(z).numpy())
    assert np.array_equal(Gs.run(z, None, num_fp16_res=4, randomize_noise=False), Gs.run(z, None, randomize_noise=False))
    Gs.fp16 = True
    assert not Gs.fp16


def test_keras_file_keeps_the_declared_resolutions_not_the_setting(ada, tmp_path):
    """The setting is a run option (like NVIDIA's dynamic kwargs): a saved network loads in float32."""
    nets, ref = ada
    Gs = nets['Gs']
    Gs.fp16 = True
    try:
        path = str(tmp_path / 'gs.keras')
        Gs.save(path)
    finally:
        Gs.fp16 = False
    back = keras.models.load_model(path)
    assert not back.fp16 and back.synthesis.num_fp16_res == 2
    z = ref['latents']
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        assert np.array_equal(back(z, fp16=True).numpy(), Gs(z, fp16=True).numpy())
        assert rel_err(_nchw(back(z)), ref['images_psi1']) <= TOL


def test_float16_kernels_stay_finite_for_large_styles():
    """The activation-scaling path pre-normalises weight and styles (ADA's guard against float16 overflow): styles
    of 1e4 would overflow float16 products otherwise."""
    rnd = np.random.RandomState(1)
    x = tf.constant(rnd.randn(12, 8, 8, 16).astype(np.float16))
    w = tf.constant(rnd.randn(3, 3, 16, 8).astype(np.float32) * 30)
    s = tf.constant(rnd.randn(12, 16).astype(np.float32) * 1e4)
    ref = modulated_conv2d(tf.cast(x, tf.float32), w, s)  # batch 12 > 8: the activation-scaling path
    out = modulated_conv2d(x, w, s)
    assert out.dtype == tf.float16 and np.all(np.isfinite(out.numpy()))
    assert rel_err(tf.cast(out, tf.float32).numpy(), ref.numpy()) <= FP16_TOL


def test_tools_fp16_flag(tmp_path, capsys):
    """`--fp16` on sg2tf-generate / the creative tools / sg2tf-export-savedmodel: one line saying what it did; the
    image is the float16 one; a network without float16 resolutions says so and computes in float32."""
    from PIL import Image
    import sg2tf
    from sg2tf.cli import export_savedmodel, generate, style_mix
    pkl = os.path.join(DATA, 'ada64.pkl')
    assert generate.main(['--network', pkl, '--seeds', '3', '--trunc', '1', '--outdir', str(tmp_path / 'a'),
                          '--fp16']) == 0
    out = capsys.readouterr().out
    where = 'on the CPU (no GPU visible' if NO_GPU else 'on the GPU'
    assert f'--fp16: resolutions 32x32 to 64x64 in float16 {where}' in out
    Gs = legacy.load_network_pkl(pkl, networks=('Gs',))['Gs']
    z = np.random.RandomState(3).randn(1, Gs.latent_size).astype(np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        x16, x32 = Gs(z, fp16=True).numpy()[0], Gs(z).numpy()[0]
    img = np.asarray(Image.open(tmp_path / 'a' / 'seed0003.png'))
    assert np.abs(img.astype(int) - sg2tf.convert_images_to_uint8(x16).astype(int)).max() <= 1
    assert not np.array_equal(x16, x32)

    assert generate.main(['--network', os.path.join(DATA, 'f32.pkl'), '--seeds', '0', '--outdir',
                          str(tmp_path / 'b'), '--fp16']) == 0
    assert 'declares no float16 resolutions (num_fp16_res=0); computing in float32' in capsys.readouterr().out

    assert style_mix.main(['--network', pkl, '--row-seeds', '1', '--col-seeds', '2', '--outdir',
                           str(tmp_path / 'c'), '--fp16']) == 0
    assert '--fp16: resolutions 32x32' in capsys.readouterr().out

    assert export_savedmodel.main(['--network', pkl, '--out', str(tmp_path / 'sm'), '--fp16']) == 0
    assert '--fp16: resolutions 32x32' in capsys.readouterr().out
    served = tf.saved_model.load(str(tmp_path / 'sm' / '1')).signatures['synthesis']
    ws = Gs.mapping(z).numpy()
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        expected = Gs.synthesis(ws, fp16=True).numpy()
    # Graph and eager float16 round differently (TensorFlow's graph optimiser fuses ops): 4e-4 measured.
    assert rel_err(served(w=tf.constant(ws))['images'].numpy(), expected) <= 1e-3
