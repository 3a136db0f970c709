"""NVIDIA-format datasets: sg2tf.training.dataset (writing, reading, data path to D) and sg2tf-dataset-tool."""
import json
import os
import zipfile

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from sg2tf.training import DatasetError, TFRecordDataset, convert_reals_from_uint8, make_levels, shuffled_order
from sg2tf.cli import dataset_tool
from sg2tf.training.dataset import create_from_arrays, create_from_source, sklearn_digits

NVIDIA_ORDER_SEED = 123


def nvidia_order(n):
    order = np.arange(n)
    np.random.RandomState(NVIDIA_ORDER_SEED).shuffle(order)
    return order


def expected_levels(img_chw):
    """Reference for SPEC 5.1: float32 2x2 box average of the unquantised previous level, rint per level."""
    out, x = [], img_chw.astype(np.float32)
    while True:
        out.append(np.rint(x).clip(0, 255).astype(np.uint8))
        if x.shape[1] == 4:
            return out
        c, h, w = x.shape
        x = x.reshape(c, h // 2, 2, w // 2, 2).mean(axis=(2, 4), dtype=np.float32)


def random_images(n, res, c, seed=0):
    return np.random.RandomState(seed).randint(0, 256, size=(n, res, res, c)).astype(np.uint8)


def assert_one_line(e):
    msg = str(e.value) if hasattr(e, 'value') else str(e)
    assert msg and '\n' not in msg, repr(msg)
    return msg


def listing(path):
    return sorted(os.listdir(path))


# ----------------------------------------------------------------------------------------------------------------
# Writing + reading round trip


def test_round_trip_every_level_and_labels(tmp_path):
    n, res = 12, 32
    imgs = random_images(n, res, 3)
    classes = np.arange(n) % 5
    dest = tmp_path / 'ds'
    info = create_from_arrays(imgs, classes, str(dest))
    assert info['num_images'] == n and info['resolution'] == res and info['label_size'] == 5
    assert listing(dest) == ['ds-r02.tfrecords', 'ds-r03.tfrecords', 'ds-r04.tfrecords', 'ds-r05.tfrecords',
                             'ds-rxx.labels']
    order = nvidia_order(n)
    assert np.array_equal(order, shuffled_order(n))
    exp = [expected_levels(imgs[i].transpose(2, 0, 1)) for i in order]
    for k, r in enumerate([32, 16, 8, 4]):
        ds = TFRecordDataset(str(dest), resolution=r, max_label_size='full')
        assert (ds.resolution, ds.num_channels, ds.num_images, ds.label_size) == (r, 3, n, 5)
        got, labels = ds.read_all()
        assert got.shape == (n, r, r, 3) and got.dtype == np.uint8
        assert np.array_equal(got, np.stack([e[k] for e in exp]).transpose(0, 2, 3, 1)), r
        assert np.array_equal(labels, np.eye(5, dtype=np.float32)[classes[order]])
    assert np.array_equal(np.load(dest / 'ds-rxx.labels'), np.eye(5, dtype=np.float32)[classes[order]])
    assert np.load(dest / 'ds-rxx.labels').dtype == np.float32


def test_box_average_uses_unquantised_values_and_rint(tmp_path):
    img = random_images(1, 32, 1, seed=3)[0].transpose(2, 0, 1)
    levels = make_levels(img)
    ref = expected_levels(img)
    assert [lv.shape for lv in levels] == [(1, 32, 32), (1, 16, 16), (1, 8, 8), (1, 4, 4)]
    for a, b in zip(levels, ref):
        assert np.array_equal(a, b)
    # The data discriminate: averaging the *quantised* level gives a different answer somewhere, and the
    # first level has exact .5 ties where rint (half to even) differs from round-half-up.
    requant = [img]
    for _ in range(3):
        x = requant[-1].astype(np.float32)
        requant.append(np.rint(x.reshape(1, x.shape[1] // 2, 2, -1, 2).mean(axis=(2, 4))).astype(np.uint8))
    assert any(not np.array_equal(a, b) for a, b in zip(levels, requant))
    x1 = img.astype(np.float32).reshape(1, 16, 2, 16, 2).mean(axis=(2, 4))
    assert not np.array_equal(levels[1], np.floor(x1 + 0.5).astype(np.uint8))


def test_records_are_nvidia_examples(tmp_path):
    imgs = random_images(3, 8, 1)
    create_from_arrays(imgs, None, str(tmp_path / 'g'), shuffle=False)
    rec = next(iter(tf.data.TFRecordDataset(str(tmp_path / 'g' / 'g-r03.tfrecords'))))
    ex = tf.train.Example.FromString(rec.numpy())
    assert sorted(ex.features.feature) == ['data', 'shape']
    assert list(ex.features.feature['shape'].int64_list.value) == [1, 8, 8]
    assert ex.features.feature['data'].bytes_list.value[0] == imgs[0].transpose(2, 0, 1).tobytes()
    assert not os.path.exists(tmp_path / 'g' / 'g-rxx.labels')


def test_array_layouts_agree(tmp_path):
    imgs = random_images(4, 8, 1)
    create_from_arrays(imgs, None, str(tmp_path / 'nhwc'), shuffle=False)
    create_from_arrays(imgs.transpose(0, 3, 1, 2), None, str(tmp_path / 'nchw'), shuffle=False)
    create_from_arrays(imgs[..., 0], None, str(tmp_path / 'nhw'), shuffle=False)
    for name in ('nhwc', 'nchw', 'nhw'):
        got, labels = TFRecordDataset(str(tmp_path / name)).read_all()
        assert np.array_equal(got, imgs) and labels.shape == (4, 0)


def _write_images(folder, arrays, names):
    os.makedirs(folder, exist_ok=True)
    for a, nm in zip(arrays, names):
        os.makedirs(os.path.dirname(os.path.join(folder, nm)) or folder, exist_ok=True)
        Image.fromarray(a).save(os.path.join(folder, nm))


def test_folder_and_zip_sources_with_labels(tmp_path):
    rgb = random_images(5, 16, 3, seed=1)
    rgba = random_images(1, 16, 4, seed=2)[0]
    names = ['b.png', 'a.png', 'sub/c.png', 'd.bmp', 'e.png']
    src = tmp_path / 'src'
    _write_images(src, list(rgb[:4]) + [rgba], names)
    (src / 'notes.txt').write_text('ignored')
    sorted_names = sorted(names)  # a.png b.png d.bmp e.png sub/c.png
    by_name = dict(zip(names, list(rgb[:4]) + [rgba[..., :3]]))
    labels = {nm: i for i, nm in enumerate(sorted_names)}
    (tmp_path / 'labels.json').write_text(json.dumps(labels))
    create_from_source(str(src), str(tmp_path / 'fromdir'), labels=str(tmp_path / 'labels.json'))
    ds = TFRecordDataset(str(tmp_path / 'fromdir'), max_label_size='full')
    got, lab = ds.read_all()
    order = nvidia_order(5)
    assert np.array_equal(got, np.stack([by_name[sorted_names[i]] for i in order]))  # alpha dropped
    assert np.array_equal(lab.argmax(1), order)

    with zipfile.ZipFile(tmp_path / 'src.zip', 'w') as z:
        for nm in names:
            z.write(src / nm, nm)
    np.save(tmp_path / 'labels.npy', np.arange(5))
    create_from_source(str(tmp_path / 'src.zip'), str(tmp_path / 'fromzip'), labels=str(tmp_path / 'labels.npy'))
    for f in ('r02.tfrecords', 'r03.tfrecords', 'r04.tfrecords', 'rxx.labels'):
        assert (tmp_path / 'fromdir' / f'fromdir-{f}').read_bytes() == (tmp_path / 'fromzip' / f'fromzip-{f}').read_bytes()


def test_grayscale_center_crop_resize_and_no_shuffle(tmp_path):
    gray = np.random.RandomState(4).randint(0, 256, size=(3, 20, 24)).astype(np.uint8)
    _write_images(tmp_path / 'g', gray, ['0.png', '1.png', '2.png'])
    create_from_source(str(tmp_path / 'g'), str(tmp_path / 'out'), shuffle=False, center_crop=True, resize=8)
    ds = TFRecordDataset(str(tmp_path / 'out'))
    got, _ = ds.read_all()
    assert ds.num_channels == 1 and ds.resolution == 8
    exp = [np.asarray(Image.fromarray(g[:, 2:22]).resize((8, 8), Image.Resampling.LANCZOS)) for g in gray]
    assert np.array_equal(got[..., 0], np.stack(exp))


# ----------------------------------------------------------------------------------------------------------------
# Data path into D


def test_conversion_to_minus_one_one_is_bit_exact(tmp_path):
    img = np.arange(256, dtype=np.uint8).reshape(1, 16, 16)
    create_from_arrays(img, None, str(tmp_path / 'ramp'), layout='NCHW', shuffle=False)
    ds = TFRecordDataset(str(tmp_path / 'ramp'))
    (x, c), = list(ds.make_dataset(1, repeat=False, shuffle_buffer=0).as_numpy_iterator())
    ref = np.arange(256, dtype=np.uint8).astype(np.float32) * (np.float32(2) / np.float32(255)) - np.float32(1)
    assert x.dtype == np.float32 and x.shape == (1, 16, 16, 1) and c.shape == (1, 0)
    assert np.array_equal(x.reshape(-1).view(np.uint32), ref.view(np.uint32))
    assert x.min() == -1 and x.max() == 1
    direct = convert_reals_from_uint8(tf.constant(np.arange(256, dtype=np.uint8))).numpy()
    assert np.array_equal(direct.view(np.uint32), ref.view(np.uint32))


def test_labels_stay_with_images_through_shuffling(tmp_path):
    n = 40
    imgs = np.repeat(np.arange(n, dtype=np.uint8)[:, None, None, None] * 5, 8, 1).repeat(8, 2)  # [n, 8, 8, 1]
    vec = np.stack([np.arange(n), np.arange(n) * 2], 1).astype(np.float32)
    create_from_arrays(imgs, vec, str(tmp_path / 'd'))
    ds = TFRecordDataset(str(tmp_path / 'd'), max_label_size='full')
    seen = []
    for x, c in ds.make_dataset(8, repeat=False, seed=1).as_numpy_iterator():
        idx = np.rint((x[:, 0, 0, 0] + 1) * 127.5 / 5).astype(int)
        assert np.array_equal(c[:, 0], idx) and np.array_equal(c[:, 1], 2 * idx)
        seen.extend(idx)
    assert sorted(seen) == list(range(n))
    assert seen != list(nvidia_order(n))  # shuffled again by the pipeline
    # max_label_size: N columns, 0 = unconditional
    assert TFRecordDataset(str(tmp_path / 'd'), max_label_size=1).labels.shape == (n, 1)
    ds0 = TFRecordDataset(str(tmp_path / 'd'))
    assert ds0.label_size == 0
    x, c = next(iter(ds0.make_dataset(4)))
    assert x.shape == (4, 8, 8, 1) and c.shape == (4, 0)


def test_mirror_augment_flips_about_half(tmp_path):
    n = 400
    imgs = random_images(n, 8, 1, seed=5)
    create_from_arrays(imgs, None, str(tmp_path / 'm'), shuffle=False)
    ds = TFRecordDataset(str(tmp_path / 'm'))
    ref = convert_reals_from_uint8(imgs).numpy()

    def run(seed, mirror=True):
        return np.concatenate([x for x, _ in ds.make_dataset(32, mirror_augment=mirror, shuffle_buffer=0,
                                                              repeat=False, seed=seed).as_numpy_iterator()])

    out = run(0)
    same = np.all(out == ref, axis=(1, 2, 3))
    flipped = np.all(out == ref[:, :, ::-1], axis=(1, 2, 3))
    assert np.all(same ^ flipped)  # each image is either untouched or flipped along W (random data: never both)
    assert 0.4 * n < flipped.sum() < 0.6 * n
    assert np.array_equal(run(0), out)  # seeded
    assert not np.array_equal(run(1), out)
    assert np.array_equal(run(0, mirror=False), ref)


def test_get_random_labels(tmp_path):
    create_from_arrays(random_images(6, 4, 3), np.arange(6), str(tmp_path / 'c'))
    ds = TFRecordDataset(str(tmp_path / 'c'), max_label_size='full')
    a = ds.get_random_labels(50, np.random.RandomState(0))
    assert a.shape == (50, 6) and a.dtype == np.float32
    assert np.array_equal(a, ds.labels[np.random.RandomState(0).randint(0, 6, size=50)])
    assert len(set(a.argmax(1))) > 1
    assert ds.get_random_labels(5, np.random.default_rng(0)).shape == (5, 6)
    assert TFRecordDataset(str(tmp_path / 'c')).get_random_labels(7, np.random.RandomState(0)).shape == (7, 0)


# ----------------------------------------------------------------------------------------------------------------
# Errors: one line, nothing half-written


def _write_records(path, shapes_and_bytes):
    with tf.io.TFRecordWriter(str(path)) as w:
        for shape, data in shapes_and_bytes:
            ex = tf.train.Example(features=tf.train.Features(feature={
                'shape': tf.train.Feature(int64_list=tf.train.Int64List(value=shape)),
                'data': tf.train.Feature(bytes_list=tf.train.BytesList(value=[data]))}))
            w.write(ex.SerializeToString())


def test_reader_errors_are_one_line(tmp_path):
    def err(*args, **kw):
        with pytest.raises(DatasetError) as e:
            TFRecordDataset(*args, **kw)
        return assert_one_line(e)

    assert 'does not exist' in err(str(tmp_path / 'nope'))
    (tmp_path / 'file').write_text('x')
    assert 'not a directory' in err(str(tmp_path / 'file'))
    (tmp_path / 'empty').mkdir()
    assert 'no *.tfrecords' in err(str(tmp_path / 'empty'))

    create_from_arrays(random_images(3, 16, 3), np.arange(3), str(tmp_path / 'ok'))
    os.remove(tmp_path / 'ok' / 'ok-r03.tfrecords')
    assert 'missing levels [8]' in err(str(tmp_path / 'ok'))

    bad = tmp_path / 'bad'
    bad.mkdir()
    _write_records(bad / 'bad-r02.tfrecords', [([2, 4, 4], bytes(32))])
    assert 'bad image shape [2, 4, 4]' in err(str(bad))
    _write_records(bad / 'bad-r02.tfrecords', [([1, 4, 8], bytes(32))])
    assert 'bad image shape' in err(str(bad))
    _write_records(bad / 'bad-r02.tfrecords', [([1, 4, 4], bytes(15))])
    assert '15 data bytes' in err(str(bad))
    _write_records(bad / 'bad-r02.tfrecords', [])
    assert 'no records' in err(str(bad))
    (bad / 'bad-r02.tfrecords').write_bytes(b'this is not a tfrecord file at all')
    assert 'cannot read' in err(str(bad))

    create_from_arrays(random_images(3, 8, 1), np.arange(3), str(tmp_path / 'lab'))
    assert 'resolution 32 is not stored' in err(str(tmp_path / 'lab'), resolution=32)
    np.save(tmp_path / 'short.npy', np.zeros([2, 3], np.float32))
    assert '2 label rows for 3 images' in err(str(tmp_path / 'lab'), max_label_size='full',
                                              label_file=str(tmp_path / 'short.npy'))
    np.save(tmp_path / 'flat.npy', np.zeros([3], np.float32))
    assert 'must be 2-D' in err(str(tmp_path / 'lab'), max_label_size='full', label_file=str(tmp_path / 'flat.npy'))


def _fails(tmp_path, fn, *args, **kw):
    """fn raises a one-line DatasetError and leaves the destination's parent as it was."""
    before = listing(tmp_path)
    with pytest.raises(DatasetError) as e:
        fn(*args, **kw)
    assert listing(tmp_path) == before, 'half-written output left behind'
    return assert_one_line(e)


def test_tool_errors_are_one_line_and_leave_nothing(tmp_path):
    dest = str(tmp_path / 'out')
    imgs = random_images(4, 8, 3)
    _write_images(tmp_path / 'mixed', list(imgs) + [random_images(1, 16, 3)[0]], [f'{i}.png' for i in range(5)])
    # The 16x16 image is the 5th file, but NVIDIA's order writes other images first: a late failure.
    assert nvidia_order(5)[0] != 4
    msg = _fails(tmp_path, create_from_source, str(tmp_path / 'mixed'), dest)
    assert '4.png' in msg and '16x16' in msg
    _write_images(tmp_path / 'chan', [imgs[0], imgs[1, ..., 0]], ['a.png', 'b.png'])
    assert 'channel' in _fails(tmp_path, create_from_source, str(tmp_path / 'chan'), dest)
    _write_images(tmp_path / 'junk', [imgs[0]], ['a.png'])
    (tmp_path / 'junk' / 'b.png').write_bytes(b'not a png')
    assert 'b.png' in _fails(tmp_path, create_from_source, str(tmp_path / 'junk'), dest)
    _write_images(tmp_path / 'rect', [np.zeros((8, 16), np.uint8)], ['a.png'])
    assert '--center-crop' in _fails(tmp_path, create_from_source, str(tmp_path / 'rect'), dest)
    _write_images(tmp_path / 'npot', [np.zeros((12, 12), np.uint8)], ['a.png'])
    assert '--resize' in _fails(tmp_path, create_from_source, str(tmp_path / 'npot'), dest)
    _write_images(tmp_path / 'rect12', [np.zeros((12, 16), np.uint8)], ['a.png'])
    assert '--resize' in _fails(tmp_path, create_from_source, str(tmp_path / 'rect12'), dest, center_crop=True)
    (tmp_path / 'none').mkdir()
    assert 'no images' in _fails(tmp_path, create_from_source, str(tmp_path / 'none'), dest)
    assert 'does not exist' in _fails(tmp_path, create_from_source, str(tmp_path / 'missing'), dest)
    (tmp_path / 'lab.json').write_text(json.dumps({'0.png': 1}))
    assert 'no label for 1.png' in _fails(tmp_path, create_from_source, str(tmp_path / 'mixed'), dest,
                                          labels=str(tmp_path / 'lab.json'))
    (tmp_path / 'lab.json').write_text(json.dumps([0, 1]))
    assert '2 labels for 5 images' in _fails(tmp_path, create_from_source, str(tmp_path / 'mixed'), dest,
                                             labels=str(tmp_path / 'lab.json'))
    assert 'uint8' in _fails(tmp_path, create_from_arrays, imgs.astype(np.float32), None, dest)
    assert 'power-of-two' in _fails(tmp_path, create_from_arrays, np.zeros([2, 6, 6, 3], np.uint8), None, dest)
    # An existing dataset is refused, and a failed overwrite keeps it intact.
    create_from_arrays(imgs, None, dest)
    old = {f: (tmp_path / 'out' / f).read_bytes() for f in listing(tmp_path / 'out')}
    assert 'already exists' in _fails(tmp_path, create_from_arrays, imgs, None, dest)
    _fails(tmp_path, create_from_source, str(tmp_path / 'mixed'), dest, overwrite=True)
    assert {f: (tmp_path / 'out' / f).read_bytes() for f in listing(tmp_path / 'out')} == old
    create_from_arrays(imgs[:2], None, dest, overwrite=True)
    assert TFRecordDataset(dest).num_images == 2 and listing(tmp_path).count('out') == 1


def test_cli(tmp_path, capsys):
    _write_images(tmp_path / 'src', list(random_images(3, 8, 3)), ['a.png', 'b.png', 'c.png'])
    dest = str(tmp_path / 'ds')
    assert dataset_tool.main(['create', '--source', str(tmp_path / 'src'), '--dest', dest, '--shuffle', '0']) == 0
    assert '3 images, 8x8, 3 channel(s)' in capsys.readouterr().out
    assert dataset_tool.main(['info', dest]) == 0
    assert 'levels [4, 8]' in capsys.readouterr().out
    assert dataset_tool.main(['create', '--source', str(tmp_path / 'src'), '--dest', dest]) == 1
    err = capsys.readouterr().err
    assert err.startswith('error: ') and err.count('\n') == 1 and '--overwrite' in err
    assert dataset_tool.main(['info', str(tmp_path / 'nope')]) == 1
    assert capsys.readouterr().err.count('\n') == 1


def test_sklearn_digits(tmp_path):
    pytest.importorskip('sklearn', reason='scikit-learn not installed: the sklearn-digits source is optional')
    from sklearn.datasets import load_digits
    dest = str(tmp_path / 'digits')
    assert dataset_tool.main(['create', '--source', 'sklearn-digits', '--resolution', '32', '--dest', dest]) == 0
    ds = TFRecordDataset(dest, max_label_size='full')
    assert (ds.num_images, ds.resolution, ds.num_channels, ds.label_size) == (1797, 32, 1, 10)
    order = nvidia_order(1797)
    assert np.array_equal(ds.labels.argmax(1), load_digits().target[order])
    images, _ = sklearn_digits(32)
    got, _ = ds.read_all(max_images=5)
    assert np.array_equal(got[..., 0], images[order[:5]])
    assert got.max() > 200 and got.min() == 0
