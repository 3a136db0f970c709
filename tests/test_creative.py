"""Creative tools (sg2tf.creative, sg2tf.projector, sg2tf-style-mix/-interpolate/-edit/-project) on the shipped
digits network: the maths of each tool, the commands' outputs, and bad inputs (one-line errors, no output)."""
import math
import os

import numpy as np
import pytest

from sg2tf import creative, projector
from sg2tf.cli import edit as edit_cli
from sg2tf.cli import interpolate as interpolate_cli
from sg2tf.cli import project as project_cli
from sg2tf.cli import style_mix as style_mix_cli
from sg2tf.cli.generate import DEFAULT_NETWORK
from sg2tf.images import convert_images_to_uint8


@pytest.fixture(scope='module')
def G():
    from sg2tf.cli._common import load_generator
    return load_generator(DEFAULT_NETWORK)


@pytest.fixture(scope='module')
def synth(G):
    return creative.Synthesizer(G, 'const')


def read_png(path):
    from PIL import Image
    a = np.asarray(Image.open(path))
    return a[:, :, None] if a.ndim == 2 else a


def one_error_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith('error: '), err
    return err[0]


# --------------------------------------------------------------------------------------------------------------
# Style mixing


def test_seed_z_is_run_generator_draw():
    assert np.array_equal(creative.seed_z(7, 64), np.random.RandomState(7).randn(1, 64)[0])


def test_style_mix_cell_w(G):
    w_avg = G.dlatent_avg.numpy()
    w_rows = creative.truncate(creative.map_seeds(G, [85, 100]), w_avg, 0.5)
    w_cols = creative.truncate(creative.map_seeds(G, [55, 821, 1789]), w_avg, 0.5)
    mixed = creative.style_mix(w_rows, w_cols, range(0, 7))
    assert mixed.shape == (2, 3, G.num_layers, G.dlatent_size)
    for r in range(2):
        for c in range(3):
            np.testing.assert_array_equal(mixed[r, c, :7], w_cols[c, :7])
            np.testing.assert_array_equal(mixed[r, c, 7:], w_rows[r, 7:])
    # truncation on every layer toward dlatent_avg
    raw = creative.map_seeds(G, [85])
    np.testing.assert_allclose(creative.truncate(raw, w_avg, 0.5), w_avg + 0.5 * (raw - w_avg), rtol=0, atol=1e-6)
    with pytest.raises(ValueError, match='out of range'):
        creative.style_mix(w_rows, w_cols, [0, G.num_layers])


def test_style_mix_command_grid(G, synth, tmp_path, capsys):
    out = tmp_path / 'mix'
    assert style_mix_cli.main(['--row-seeds', '85,100', '--col-seeds', '55,821,1789', '--col-styles', '0-3',
                               '--outdir', str(out)]) == 0
    grid = read_png(out / 'grid.png')
    H = G.resolution
    assert grid.shape == (3 * H, 4 * H, G.num_channels)
    assert not grid[:H, :H].any()  # empty corner
    w_avg = G.dlatent_avg.numpy()
    w_rows = creative.truncate(creative.map_seeds(G, [85, 100]), w_avg, 0.5)
    w_cols = creative.truncate(creative.map_seeds(G, [55, 821, 1789]), w_avg, 0.5)
    want = creative.style_mix(w_rows, w_cols, range(4))
    cell = lambda r, c: grid[r * H:(r + 1) * H, c * H:(c + 1) * H]  # noqa: E731
    np.testing.assert_array_equal(cell(0, 2), synth(w_cols[1:2])[0])              # column source on top
    np.testing.assert_array_equal(cell(2, 0), synth(w_rows[1:2])[0])              # row source on the left
    np.testing.assert_array_equal(cell(2, 3), synth(want[1, 2][None])[0])         # row 100, column 1789
    np.testing.assert_array_equal(read_png(out / '100-1789.png'), cell(2, 3))     # NVIDIA's file names
    np.testing.assert_array_equal(read_png(out / '55-55.png'), cell(0, 1))
    # existing outputs are refused before any work, and nothing changes
    before = (out / 'grid.png').read_bytes()
    capsys.readouterr()
    assert style_mix_cli.main(['--row-seeds', '85', '--col-seeds', '55', '--outdir', str(out)]) == 1
    assert 'file exists' in one_error_line(capsys)
    assert (out / 'grid.png').read_bytes() == before


# --------------------------------------------------------------------------------------------------------------
# Interpolation


def test_slerp_endpoints_and_sphere():
    rnd = np.random.RandomState(0)
    a, b = rnd.randn(512), rnd.randn(512)
    b_same = b / np.linalg.norm(b) * np.linalg.norm(a)
    np.testing.assert_allclose(creative.slerp(a, b, 0.0), a, rtol=0, atol=1e-12)
    np.testing.assert_allclose(creative.slerp(a, b, 1.0), b, rtol=0, atol=1e-12)
    omega = math.acos(np.dot(a, b_same) / np.dot(a, a))
    for t in np.linspace(0, 1, 11):
        z = creative.slerp(a, b_same, t)
        assert abs(np.linalg.norm(z) - np.linalg.norm(a)) < 1e-9 * np.linalg.norm(a)    # on the sphere
        assert abs(math.acos(np.dot(z, a) / np.dot(a, a)) - t * omega) < 1e-7          # along the great circle
        zg = creative.slerp(a, b, t)                                                    # unequal lengths
        assert abs(np.linalg.norm(zg) - ((1 - t) * np.linalg.norm(a) + t * np.linalg.norm(b))) < 1e-9 * 30
    np.testing.assert_allclose(creative.lerp(a, b, 0.25), 0.75 * a + 0.25 * b, rtol=0, atol=1e-12)


def test_walk_endpoints(G, synth):
    seeds = [1, 2, 3]
    zs = np.stack([creative.seed_z(s, G.latent_size) for s in seeds])
    walk = creative.walk(zs, frames=5, loop=False, space='z')
    assert walk.shape == (11, G.latent_size)
    for i in range(3):
        np.testing.assert_allclose(walk[5 * i], zs[i], rtol=0, atol=1e-6)
    looped = creative.walk(zs, frames=5, loop=True, space='z')
    assert looped.shape == (15, G.latent_size)
    np.testing.assert_allclose(looped[-1], creative.slerp(zs[2], zs[0], 0.8).astype(np.float32), atol=1e-6)
    # endpoint frames are the endpoint images
    imgs = synth(creative.map_z(G, walk))
    np.testing.assert_array_equal(imgs[0], synth(creative.map_seeds(G, [1]))[0])
    np.testing.assert_array_equal(imgs[-1], synth(creative.map_seeds(G, [3]))[0])
    with pytest.raises(ValueError, match='at least 2 keys'):
        creative.walk(zs[:1], 5)


def test_interpolate_command_gif_and_mp4(G, synth, tmp_path):
    import imageio.v2 as imageio
    gif = tmp_path / 'walk.gif'
    assert interpolate_cli.main(['--seeds', '1,2', '--seeds', '3,4', '--frames', '4', '--out', str(gif)]) == 0
    frames = np.asarray(imageio.mimread(gif))
    H = G.resolution
    assert frames.shape[:3] == (5, H, 2 * H)  # 2 walks side by side, 4 frames per segment + the last key
    first = frames[0][..., None] if frames.ndim == 3 else frames[0][..., :1]
    np.testing.assert_array_equal(first[:, :H], synth(creative.map_seeds(G, [1]))[0])
    last = frames[-1][..., None] if frames.ndim == 3 else frames[-1][..., :1]
    np.testing.assert_array_equal(last[:, H:], synth(creative.map_seeds(G, [4]))[0])
    if creative.find_mp4_encoder():
        mp4 = tmp_path / 'walk.mp4'
        assert interpolate_cli.main(['--seeds', '1,2', '--frames', '3', '--loop', '--out', str(mp4)]) == 0
        reader = imageio.get_reader(str(mp4), format='FFMPEG')
        assert reader.count_frames() == 6
        reader.close()


def test_interpolate_missing_ffmpeg(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv('IMAGEIO_FFMPEG_EXE', str(tmp_path / 'no-ffmpeg'))
    assert creative.find_mp4_encoder() is None
    out = tmp_path / 'walk.mp4'
    assert interpolate_cli.main(['--seeds', '1,2', '--frames', '2', '--out', str(out), '--no-fallback']) == 1
    assert 'no MP4 encoder' in one_error_line(capsys)
    assert os.listdir(tmp_path) == []
    assert interpolate_cli.main(['--seeds', '1,2', '--frames', '2', '--out', str(out)]) == 0  # GIF fallback
    assert 'writing' in capsys.readouterr().err and sorted(os.listdir(tmp_path)) == ['walk.gif']


def test_interpolate_projected_latents(G, synth, tmp_path):
    w = creative.map_seeds(G, [5, 6])
    for i in range(2):
        np.savez(tmp_path / f'p{i}.npz', w=w[i:i + 1], **{f'noise{k}': v.numpy() for k, v in
                                                          enumerate(G.synthesis.noise_buffers)})
    keys = np.concatenate([creative.load_latent(str(tmp_path / f'p{i}.npz'), G.num_layers, G.dlatent_size)[0]
                           for i in range(2)])
    np.testing.assert_array_equal(keys, w)
    walk = creative.walk(keys, 4, space='w')
    np.testing.assert_allclose(walk[2], 0.5 * (w[0] + w[1]), rtol=0, atol=1e-6)  # lerp in W
    out = tmp_path / 'ab.gif'
    assert interpolate_cli.main(['--latents', str(tmp_path / 'p0.npz'), str(tmp_path / 'p1.npz'), '--frames', '2',
                                 '--out', str(out)]) == 0


# --------------------------------------------------------------------------------------------------------------
# Editing and PCA


def test_edit_strength_zero_and_layer_locality(G, synth):
    ws = creative.map_seeds(G, [0, 1])
    rnd = np.random.RandomState(1)
    d_w, _ = creative.direction_as_wplus(rnd.randn(G.dlatent_size), G.num_layers, G.dlatent_size)
    edited = creative.edit(ws, d_w, [0.0, 2.0], layers=[2, 3, 4])
    assert edited.shape == (2, 2, G.num_layers, G.dlatent_size)
    np.testing.assert_array_equal(edited[0], ws)                                # strength 0 = original
    np.testing.assert_array_equal(synth(edited[0]), synth(ws))
    off = [i for i in range(G.num_layers) if i not in (2, 3, 4)]
    np.testing.assert_array_equal(edited[1][:, off], ws[:, off])                # other layers untouched
    np.testing.assert_allclose(edited[1][:, 2:5], ws[:, 2:5] + 2.0 * d_w[2:5], rtol=0, atol=1e-5)
    assert np.all(np.abs(edited[1][:, 2:5] - ws[:, 2:5]) > 0)
    # W+ direction: row l goes to layer l
    d_plus = rnd.randn(G.num_layers, G.dlatent_size).astype(np.float32)
    d, is_plus = creative.direction_as_wplus(d_plus[None], G.num_layers, G.dlatent_size)
    assert is_plus and not creative.direction_as_wplus(d_plus[:1, None][0], G.num_layers, G.dlatent_size)[1]
    np.testing.assert_allclose(creative.edit(ws, d, [1.0], range(G.num_layers))[0], ws + d_plus, atol=1e-5)


def test_direction_wrong_shape(G, tmp_path, capsys):
    with pytest.raises(ValueError, match=r'shape \[3, 64\].*W direction \[64\].*W\+ direction \[8, 64\]'):
        creative.direction_as_wplus(np.zeros([3, 64]), G.num_layers, G.dlatent_size)
    np.save(tmp_path / 'bad.npy', np.zeros([3, G.dlatent_size], np.float32))
    out = tmp_path / 'out'
    assert edit_cli.main(['--direction', str(tmp_path / 'bad.npy'), '--seeds', '0', '--outdir', str(out)]) == 1
    line = one_error_line(capsys)
    assert '[3, 64]' in line and f'[{G.num_layers}, {G.dlatent_size}]' in line
    assert not out.exists()


def test_edit_command_strip(G, synth, tmp_path):
    d = np.random.RandomState(3).randn(1, G.dlatent_size).astype(np.float32)
    np.save(tmp_path / 'd.npy', d)
    out = tmp_path / 'out'
    assert edit_cli.main(['--direction', str(tmp_path / 'd.npy'), '--seeds', '0,1', '--strengths=-2,0,2',
                          '--layers', '0-3', '--outdir', str(out)]) == 0
    strip = read_png(out / 'strip.png')
    H = G.resolution
    assert strip.shape == (2 * H, 3 * H, G.num_channels)
    w1 = creative.truncate(creative.map_seeds(G, [1]), G.dlatent_avg.numpy(), 0.7)
    np.testing.assert_array_equal(strip[H:, H:2 * H], synth(w1)[0])             # strength 0 column
    want = creative.edit(w1, np.tile(d, [G.num_layers, 1]), [2.0], range(4))[0]
    np.testing.assert_array_equal(strip[H:, 2 * H:], synth(want)[0])


def test_pca_orthonormal(G, tmp_path):
    pca = creative.pca_directions(G, 6, num_samples=3000)
    comps = pca['components'].astype(np.float64)
    np.testing.assert_allclose(comps @ comps.T, np.eye(6), rtol=0, atol=1e-5)
    assert np.all(np.diff(pca['stddev']) <= 0) and pca['stddev'][-1] > 0
    out = tmp_path / 'pca'
    assert edit_cli.main(['--pca', '3', '--samples', '1000', '--seeds', '0', '--outdir', str(out)]) == 0
    saved = np.stack([np.load(out / f'pc{k:02d}.npy') for k in range(3)])
    assert saved.shape == (3, G.dlatent_size)
    np.testing.assert_allclose(saved @ saved.T, np.eye(3), rtol=0, atol=1e-5)
    np.testing.assert_array_equal(np.load(out / 'pca.npz')['components'], saved)


# --------------------------------------------------------------------------------------------------------------
# Projection


def test_schedule_and_noise_regularization():
    assert projector.learning_rate(0.0) == 0.0
    assert projector.learning_rate(0.05) == pytest.approx(0.1) and projector.learning_rate(0.5) == pytest.approx(0.1)
    assert projector.learning_rate(0.875) == pytest.approx(0.05) and projector.learning_rate(1.0) == 0.0
    assert projector.noise_strength(0.0, 2.0) == pytest.approx(0.1)
    assert projector.noise_strength(0.375, 2.0) == pytest.approx(0.025) and projector.noise_strength(0.8, 2.0) == 0
    import tensorflow as tf
    v = np.random.RandomState(0).randn(1, 16, 16, 1).astype(np.float32)

    def level(x):
        return np.mean(x * np.roll(x, 1, axis=2)) ** 2 + np.mean(x * np.roll(x, 1, axis=1)) ** 2
    half = v.reshape(1, 8, 2, 8, 2, 1).mean(axis=(2, 4))
    want = level(v) + level(half)  # 16x16, then 8x8 (the last level)
    assert float(projector.noise_regularization([tf.constant(v)])) == pytest.approx(want, rel=1e-5)


def test_projection_recovers_generated_image(G, synth):
    """An image the network generated (noise const) is recovered to PSNR >= 30 dB in the default 1000 steps."""
    w = creative.map_seeds(G, [5])
    target = synth.float_images(w)[0]
    proj = projector.Projector(G)
    assert proj.num_steps == 1000
    result = proj.run(target)
    value = projector.psnr(convert_images_to_uint8(target[None])[0], convert_images_to_uint8(result.image[None])[0])
    assert value >= 30.0, value
    assert result.w.shape == (1, G.num_layers, G.dlatent_size) and np.all(result.w == result.w[:, :1])
    for n in result.noise:  # renormalised after every step
        assert abs(n.mean()) < 1e-5 and abs(n.std() - 1) < 1e-4
    # the saved latent reproduces the projection
    np.testing.assert_allclose(synth.float_images(result.w, result.noise)[0], result.image, rtol=0, atol=1e-5)


def test_compiled_step_equals_eager(G, synth):
    target = synth.float_images(creative.map_seeds(G, [9]))[0]
    a = projector.Projector(G, num_steps=6, w_plus=True).run(target)
    b = projector.Projector(G, num_steps=6, w_plus=True, compiled=False).run(target)
    np.testing.assert_allclose([x['loss'] for x in a.losses], [x['loss'] for x in b.losses], rtol=1e-4)
    np.testing.assert_allclose(a.w, b.w, rtol=0, atol=1e-4)
    assert not np.all(a.w == a.w[:, :1])  # W+: layers move separately


def test_project_command_outputs(G, synth, tmp_path):
    target8 = synth(creative.map_seeds(G, [3]))[0]
    creative.save_png(target8, str(tmp_path / 't.png'))
    out = tmp_path / 'proj'
    assert project_cli.main(['--target', str(tmp_path / 't.png'), '--steps', '20', '--video', '--video-every', '5',
                             '--outdir', str(out)]) == 0
    video = 'proj.mp4' if creative.find_mp4_encoder() else 'proj.gif'
    assert sorted(os.listdir(out)) == sorted(['projected_w.npz', 'proj.png', 'target_proj.png', 'loss.csv', video])
    w, noise = creative.load_latent(str(out / 'projected_w.npz'), G.num_layers, G.dlatent_size)
    assert len(noise) == len(G.synthesis.noise_buffers)
    np.testing.assert_array_equal(read_png(out / 'proj.png'), synth(w, noise)[0])
    side = read_png(out / 'target_proj.png')
    np.testing.assert_array_equal(side[:, :G.resolution], target8)
    np.testing.assert_array_equal(side[:, G.resolution:], read_png(out / 'proj.png'))
    rows = (out / 'loss.csv').read_text().splitlines()
    assert rows[0] == 'step,lr,noise_strength,mse,lpips,noise_reg,loss' and len(rows) == 21


def test_project_bad_targets(G, tmp_path, capsys):
    from PIL import Image
    Image.new('L', (G.resolution * 2, G.resolution)).save(tmp_path / 'big.png')
    Image.new('RGB', (G.resolution, G.resolution)).save(tmp_path / 'rgb.png')
    (tmp_path / 'junk.png').write_bytes(b'not an image')
    out = tmp_path / 'proj'
    for name, words in (('big.png', 'is 32x64x1 (HxWxC); the network makes 32x32x1'),
                        ('rgb.png', '3-channel image (RGB); the network makes 1-channel'),
                        ('junk.png', 'not a readable image'), ('missing.png', 'no such file')):
        assert project_cli.main(['--target', str(tmp_path / name), '--steps', '2', '--outdir', str(out)]) == 1
        assert words in one_error_line(capsys), name
        assert not out.exists()


def test_vgg16_distance(G, synth, tmp_path, capsys):
    """--vgg16 with a Keras VGG16 weights file (random weights here: the real file cannot be downloaded)."""
    import keras
    keras.utils.set_random_seed(0)
    path = str(tmp_path / 'vgg16.weights.h5')
    keras.applications.VGG16(include_top=False, weights=None, input_shape=(32, 32, 3)).save_weights(path)
    target = synth.float_images(creative.map_seeds(G, [4]))[0]
    result = projector.Projector(G, num_steps=3, vgg16=path).run(target)
    assert all(np.isfinite(x['lpips']) and x['lpips'] > 0 for x in result.losses)
    with pytest.raises(ValueError, match='not Keras VGG16 weights'):
        projector.Projector(G, num_steps=3, vgg16=DEFAULT_NETWORK)
    assert project_cli.main(['--target', str(tmp_path / 'x.png'), '--vgg16', str(tmp_path / 'none.h5'),
                             '--outdir', str(tmp_path / 'o')]) == 1
    assert 'none.h5: no such file' in one_error_line(capsys)


@pytest.mark.parametrize('name', ['sg1_128cond', 'adapt32cond'])  # StyleGAN1 (a buffer per layer), ADA-PT snapshot
def test_other_families(name, tmp_path):
    from sg2tf.cli._common import load_generator
    from conftest import DATA, rel_err
    G = load_generator(os.path.join(DATA, f'{name}.pkl'))
    synth = creative.Synthesizer(G)
    ws = np.concatenate([creative.truncate(creative.map_seeds(G, [s], class_idx=1), G.dlatent_avg.numpy(), 0.5)
                         for s in (1, 2)])  # one seed per call, as the command maps them (round-off is per batch)
    mixed = creative.style_mix(ws[:1], ws[1:], range(3))
    np.testing.assert_array_equal(mixed[0, 0, :3], ws[1, :3])
    d, _ = creative.direction_as_wplus(np.ones(G.dlatent_size), G.num_layers, G.dlatent_size)
    np.testing.assert_array_equal(synth(creative.edit(ws, d, [0.0], range(2))[0]), synth(ws))
    result = projector.Projector(G, num_steps=2, class_idx=1).run(synth.float_images(ws[:1])[0])
    assert [n.shape for n in result.noise] == [tuple(v.shape) for v in G.synthesis.noise_buffers]
    # compiled (Synthesizer) vs eager (Projector's final image): float32 round-off only
    assert rel_err(synth.float_images(result.w, result.noise)[0], result.image) < 1e-5
    out = tmp_path / 'mix'
    assert style_mix_cli.main(['--network', os.path.join(DATA, f'{name}.pkl'), '--class', '1', '--row-seeds', '1',
                               '--col-seeds', '2', '--col-styles', '0-2', '--outdir', str(out)]) == 0
    diff = np.abs(read_png(out / '1-2.png').astype(int) - synth(mixed[0])[0])  # the cell is the mixed W's image
    assert diff.max() <= 1 and np.mean(diff > 0) < 1e-3  # (uint8 rounding of float32 round-off between runs)
