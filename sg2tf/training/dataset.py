"""NVIDIA's multi-resolution TFRecord datasets: making them, reading them, and the data path into D.

Mirrors NVIDIA's `dataset_tool.py` (TFRecordExporter, create_from_images) for writing and `training/dataset.py`
(TFRecordDataset) for reading. On disk, a dataset is a directory `D/` holding `D/<basename(D)>-rXX.tfrecords`
for every level from the full resolution `2**XX` down to 4x4 (uncompressed; each record a `tf.train.Example`
with `shape` = int64 `[C, H, W]` and `data` = the uint8 CHW image bytes) and optionally
`D/<basename(D)>-rxx.labels` (`np.save` of float32 `[num_images, label_size]`, rows in record order).
"""
from __future__ import annotations

import glob
import io
import json
import math
import os
import stat
import struct
import zipfile

import numpy as np
import tensorflow as tf

from sg2tf.fileio import OutputError, atomic_write

__all__ = ['DatasetError', 'TFRecordDataset', 'DatasetExporter', 'make_levels', 'shuffled_order',
           'convert_reals_from_uint8', 'random_mirror', 'create_from_arrays', 'create_from_source',
           'create_sklearn_digits', 'sklearn_digits', 'load_labels', 'IMAGE_EXTENSIONS']

SHUFFLE_SEED = 123  # NVIDIA's dataset_tool shuffles with np.random.RandomState(123)


class DatasetError(ValueError):
    """A dataset that cannot be read or written; the message is one line."""


def _one_line(e: BaseException) -> str:
    text = getattr(e, 'message', None) or str(e) or type(e).__name__
    return text.strip().splitlines()[0] if text.strip() else type(e).__name__


# ----------------------------------------------------------------------------------------------------------------
# Format rules


def shuffled_order(num_images: int) -> np.ndarray:
    """The record order of NVIDIA's dataset_tool with shuffling on: record i holds source image `order[i]`."""
    order = np.arange(num_images)
    np.random.RandomState(SHUFFLE_SEED).shuffle(order)
    return order


def make_levels(image: np.ndarray) -> list[np.ndarray]:
    """All levels of one uint8 CHW image, full resolution first, down to 4x4.

    Level k+1 is the 2x2 box average, in float32, of level k's *unquantised* values (summed in the order
    (0,0), (0,1), (1,0), (1,1), then times 0.25); every level is stored as `rint(x).clip(0, 255)` in uint8.
    """
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[0] not in (1, 3) or image.shape[1] != image.shape[2]:
        raise DatasetError(f'expected a CHW image with 1 or 3 channels and H == W, got shape {list(image.shape)}')
    res = image.shape[1]
    if res < 4 or res & (res - 1):
        raise DatasetError(f'image resolution {res} is not a power of two >= 4')
    levels = []
    x = image
    while True:
        levels.append(np.rint(x).clip(0, 255).astype(np.uint8) if x.dtype != np.uint8 else x.copy())
        if x.shape[1] == 4:
            return levels
        x = x.astype(np.float32)
        x = (x[:, 0::2, 0::2] + x[:, 0::2, 1::2] + x[:, 1::2, 0::2] + x[:, 1::2, 1::2]) * np.float32(0.25)


def _example(level: np.ndarray) -> bytes:
    feature = {
        'shape': tf.train.Feature(int64_list=tf.train.Int64List(value=list(level.shape))),
        'data': tf.train.Feature(bytes_list=tf.train.BytesList(value=[np.ascontiguousarray(level).tobytes()])),
    }
    return tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()


class DatasetExporter:
    """Writes a dataset directory, as NVIDIA's dataset_tool.py: TFRecordExporter, atomically.

    Everything goes to a temporary sibling directory (`sg2tf.fileio.atomic_write`) that `close()` renames to
    `dest`; on error (or `abort()`, or leaving a `with` block by an exception) it is deleted.

        with DatasetExporter(dest, num_images) as ex:
            for img in images_chw_uint8: ex.add_image(img)
            ex.add_labels(labels)          # optional, float32 [num_images, label_size], record order
    """

    def __init__(self, dest: str, expected_images: int, overwrite: bool = False):
        self.dest = os.path.abspath(dest)
        self.name = os.path.basename(self.dest)
        if not self.name:
            raise DatasetError(f'bad destination {dest!r}')
        if expected_images < 1:
            raise DatasetError('a dataset needs at least one image')
        if os.path.exists(self.dest) and not (os.path.isdir(self.dest) and (overwrite or not os.listdir(self.dest))):
            raise DatasetError(f'destination {dest} already exists (remove it or pass --overwrite)')
        if overwrite and os.path.isdir(self.dest):
            foreign = [n for n in os.listdir(self.dest) if not n.endswith(DATASET_FILES)]
            if foreign:
                raise DatasetError(f'--overwrite replaces only a dataset directory (*.tfrecords, *.labels); {dest} '
                                   f'also holds {foreign[0]!r}: remove it yourself or choose another --dest')
        parent = os.path.dirname(self.dest)
        if not os.path.isdir(parent):
            raise DatasetError(f'parent directory of {dest} does not exist')
        self.expected_images = expected_images
        self.overwrite = overwrite
        self._output = atomic_write(self.dest, directory=True, overwrite=overwrite)
        try:
            self.tmp = self._output.__enter__()
        except OutputError as e:
            raise DatasetError(str(e)) from None
        self._pending = True  # the temporary directory exists and is neither renamed nor removed yet
        self.shape: tuple[int, int, int] | None = None
        self.num_images = 0
        self._writers: list[tf.io.TFRecordWriter] = []
        self._has_labels = False

    def _prefix(self) -> str:
        return os.path.join(self.tmp, self.name)

    def add_image(self, image: np.ndarray):
        """Append one uint8 CHW image (C = 1 or 3, square, power-of-two side >= 4); writes every level."""
        image = np.asarray(image)
        if image.dtype != np.uint8:
            raise DatasetError(f'images must be uint8, got {image.dtype}')
        if self.shape is None:
            levels = make_levels(image)
            self.shape = tuple(image.shape)
            for lvl in levels:
                path = f'{self._prefix()}-r{int(math.log2(lvl.shape[1])):02d}.tfrecords'
                self._writers.append(tf.io.TFRecordWriter(path, options=''))
        elif tuple(image.shape) != self.shape:
            raise DatasetError(f'image {self.num_images} has shape {list(image.shape)} (CHW), the first image '
                               f'{list(self.shape)}')
        else:
            levels = make_levels(image)
        if self.num_images >= self.expected_images:
            raise DatasetError(f'more images than the {self.expected_images} expected')
        for writer, lvl in zip(self._writers, levels):
            writer.write(_example(lvl))
        self.num_images += 1

    def add_labels(self, labels: np.ndarray):
        """Write `<name>-rxx.labels`: float32 `[num_images, label_size]`, rows in record order."""
        labels = np.asarray(labels, np.float32)
        if labels.ndim != 2 or labels.shape[0] != self.expected_images:
            raise DatasetError(f'labels must have shape [{self.expected_images}, label_size], got '
                               f'{list(labels.shape)}')
        with open(f'{self._prefix()}-rxx.labels', 'wb') as f:
            np.save(f, labels)
        self._has_labels = True

    def _close_writers(self):
        for w in self._writers:
            w.close()
        self._writers = []

    def abort(self):
        """Delete the temporary directory; `dest` is left as it was."""
        self._close_writers()
        if self._pending:
            self._pending = False
            self._output.__exit__(DatasetError, DatasetError('export aborted'), None)  # removes the temporary

    def close(self):
        """Check the image count, then move the finished dataset into place."""
        try:
            self._close_writers()
            if self.num_images != self.expected_images:
                raise DatasetError(f'got {self.num_images} images, expected {self.expected_images}')
        except BaseException:
            self.abort()
            raise
        if self._pending:
            self._pending = False
            try:
                self._output.__exit__(None, None, None)  # rename; on failure the temporary is removed
            except OutputError as e:
                raise DatasetError(str(e)) from None

    def __enter__(self) -> 'DatasetExporter':
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            self.close()
        else:
            self.abort()
        return False


# ----------------------------------------------------------------------------------------------------------------
# Making datasets from images, arrays and scikit-learn's digits (NVIDIA dataset_tool.py: create_from_images)


DATASET_FILES = ('.tfrecords', '.labels')  # what a dataset directory holds (what --overwrite may replace)
MAX_IMAGE_BYTES = 256 << 20  # one source image file (a 16k x 16k RGB PNG is far smaller)
IMAGE_EXTENSIONS = {'.png', '.jpg', '.jpeg', '.bmp', '.gif', '.webp', '.ppm', '.pgm', '.pbm', '.tif', '.tiff'}


class _ImageSource:
    """Sorted image names (relative, '/'-separated) of a folder or a zip, and a way to read each."""

    def __init__(self, source: str):
        self.source = source
        self._zip = None
        if not os.path.exists(source):
            raise DatasetError(f'source {source} does not exist')
        if os.path.isdir(source):
            names = []
            for root, dirs, files in os.walk(source):
                dirs[:] = [d for d in dirs if not d.startswith('.')]
                for f in files:
                    if not f.startswith('.') and os.path.splitext(f)[1].lower() in IMAGE_EXTENSIONS:
                        full = os.path.join(root, f)
                        try:
                            regular = stat.S_ISREG(os.stat(full).st_mode)
                        except OSError:
                            regular = False
                        if not regular:  # a FIFO or device would block or never end
                            raise DatasetError(f'{full}: not a regular file (only image files are read)')
                        names.append(os.path.relpath(full, source).replace(os.sep, '/'))
        elif zipfile.is_zipfile(source):
            self._zip = zipfile.ZipFile(source)
            names = [n for n in self._zip.namelist()
                     if not n.endswith('/') and not n.startswith('__MACOSX/')
                     and not os.path.basename(n).startswith('.')
                     and os.path.splitext(n)[1].lower() in IMAGE_EXTENSIONS]
        else:
            raise DatasetError(f'source {source} is neither a directory nor a zip file')
        self.names = sorted(names)
        if not self.names:
            raise DatasetError(f'no images ({", ".join(sorted(IMAGE_EXTENSIONS))}) in {source}')

    def describe(self, name: str) -> str:
        return f'{self.source}:{name}' if self._zip is not None else os.path.join(self.source, name)

    def load(self, name: str):
        """The image as a PIL image in mode 'L' or 'RGB' (alpha dropped)."""
        from PIL import Image
        try:
            if self._zip is not None:
                if self._zip.getinfo(name).file_size > MAX_IMAGE_BYTES:
                    raise DatasetError(f'image {self.describe(name)} expands to '
                                       f'{self._zip.getinfo(name).file_size:,} bytes (at most {MAX_IMAGE_BYTES:,})')
                with self._zip.open(name) as member:  # streamed: a member lying about its size stops at the cap
                    data = member.read(MAX_IMAGE_BYTES + 1)
                if len(data) > MAX_IMAGE_BYTES:
                    raise DatasetError(f'image {self.describe(name)} expands to more than {MAX_IMAGE_BYTES:,} bytes')
                img = Image.open(io.BytesIO(data))
            else:
                img = Image.open(os.path.join(self.source, name))
            img.load()
        except DatasetError:
            raise
        except Exception as e:  # noqa: BLE001 - PIL raises many types; the message names the file
            raise DatasetError(f'cannot read image {self.describe(name)}: {_one_line(e)}') from None
        if img.mode in ('L', 'RGB'):
            return img
        if img.mode in ('1', 'LA', 'La'):
            return img.convert('L')
        if img.mode in ('RGBA', 'RGBa', 'RGBX', 'P', 'PA', 'CMYK', 'YCbCr', 'LAB', 'HSV'):
            return img.convert('RGB')
        raise DatasetError(f'image {self.describe(name)} has unsupported mode {img.mode} '
                           f'(8-bit grayscale or colour images only)')

    def close(self):
        if self._zip is not None:
            self._zip.close()


def _to_chw(img, describe: str, center_crop: bool, resize: int | None) -> np.ndarray:
    from PIL import Image
    w, h = img.size
    if center_crop and w != h:
        s = min(w, h)
        left, top = (w - s) // 2, (h - s) // 2
        img = img.crop((left, top, left + s, top + s))
    if resize is not None and img.size != (resize, resize):
        img = img.resize((resize, resize), Image.Resampling.LANCZOS)
    w, h = img.size
    if w != h:
        raise DatasetError(f'image {describe} is {w}x{h}, not square: pass --center-crop or --resize N')
    if w < 4 or w & (w - 1):
        raise DatasetError(f'image {describe} is {w}x{h}, not a power of two >= 4: pass --resize N')
    arr = np.asarray(img, np.uint8)
    return arr[None] if arr.ndim == 2 else arr.transpose(2, 0, 1)


def _labels_array(values, n: int, what: str) -> np.ndarray:
    """Class indices (ints) -> one-hot float32; label vectors -> float32 [n, label_size]."""
    try:
        arr = np.asarray(values)
    except ValueError:
        arr = np.asarray(None, object)
    if arr.dtype == object:
        raise DatasetError(f'{what}: labels must all be class indices or all vectors of one length')
    if arr.shape[:1] != (n,):
        raise DatasetError(f'{what}: {arr.shape[0] if arr.ndim else 0} labels for {n} images')
    if arr.ndim == 1 and (np.issubdtype(arr.dtype, np.integer) or arr.dtype == bool):
        arr = arr.astype(np.int64)
        if arr.min() < 0:
            raise DatasetError(f'{what}: negative class index {arr.min()}')
        return np.eye(int(arr.max()) + 1, dtype=np.float32)[arr]
    if arr.ndim == 1 and np.issubdtype(arr.dtype, np.number):
        return arr.astype(np.float32)[:, None]
    if arr.ndim != 2 or not np.issubdtype(arr.dtype, np.number):
        raise DatasetError(f'{what}: labels must be class indices [n] or vectors [n, label_size], got '
                           f'shape {list(arr.shape)} of {arr.dtype}')
    return arr.astype(np.float32)


def load_labels(path: str, names: list[str]) -> np.ndarray:
    """Labels for `names` (sorted source order) from `.npy` or `.json`, as float32 `[len(names), label_size]`.

    `.npy`: 1-D integer class indices (stored one-hot) or 2-D label vectors. `.json`: a list in sorted source
    order, an object `{relative path: label}`, or `{"labels": [[relative path, label], ...]}` (StyleGAN2-ADA's
    dataset.json); a label is a class index or a list of numbers.
    """
    if not os.path.isfile(path):
        raise DatasetError(f'labels file {path} does not exist')
    try:
        if path.endswith('.npy'):
            return _labels_array(np.load(path, allow_pickle=False), len(names), path)
        with open(path) as f:
            data = json.load(f)
    except DatasetError:
        raise
    except (OSError, ValueError) as e:
        raise DatasetError(f'cannot read labels {path}: {_one_line(e)}') from None
    if isinstance(data, dict) and set(data) == {'labels'}:
        data = data['labels']
        if data is None:
            raise DatasetError(f'{path}: "labels" is null')
        if isinstance(data, list):
            if not all(isinstance(p, list) and len(p) == 2 and isinstance(p[0], str) for p in data):
                raise DatasetError(f'{path}: "labels" must be a list of [relative path, label] pairs')
            data = dict(data)
    if isinstance(data, dict):
        missing = [n for n in names if n not in data]
        if missing:
            raise DatasetError(f'{path}: no label for {missing[0]} ({len(missing)} image(s) without a label)')
        data = [data[n] for n in names]
    if not isinstance(data, list):
        raise DatasetError(f'{path}: expected a list, an object {{path: label}} or {{"labels": [...]}}')
    return _labels_array(data, len(names), path)


def _summary(dest: str) -> dict:
    ds = TFRecordDataset(dest, max_label_size='full')
    return dict(dest=dest, num_images=ds.num_images, resolution=ds.resolution, num_channels=ds.num_channels,
                label_size=ds.label_size)


def create_from_source(source: str, dest: str, labels: str | None = None, shuffle: bool = True,
                       center_crop: bool = False, resize: int | None = None, overwrite: bool = False,
                       progress: bool = False) -> dict:
    """Folder or zip of images -> dataset at `dest`; returns a summary dict (num_images, resolution, ...).

    As NVIDIA's dataset_tool.py: create_from_images: images in sorted path order (recursively), records in
    NVIDIA's shuffled order unless `shuffle=False`; grayscale gives one channel, colour three (alpha dropped).
    Also reads zips, crops/resizes on request and takes labels from `labels` (see `load_labels`).
    """
    if resize is not None and (resize < 4 or resize & (resize - 1)):
        raise DatasetError(f'--resize {resize}: must be a power of two >= 4')
    src = _ImageSource(source)
    try:
        names = src.names
        label_array = load_labels(labels, names) if labels is not None else None
        order = shuffled_order(len(names)) if shuffle else np.arange(len(names))
        first = None
        with DatasetExporter(dest, len(names), overwrite=overwrite) as ex:
            for i, idx in enumerate(order):
                name = names[idx]
                chw = _to_chw(src.load(name), src.describe(name), center_crop, resize)
                if first is None:
                    first = (name, chw.shape)
                elif chw.shape != first[1]:
                    c, h, w = chw.shape
                    c0, h0, w0 = first[1]
                    raise DatasetError(
                        f'image {src.describe(name)} is {w}x{h} with {c} channel(s), but '
                        f'{src.describe(first[0])} is {w0}x{h0} with {c0}: all images must match '
                        f'(--resize N makes the sizes equal)')
                ex.add_image(chw)
                if progress and (i + 1) % 1000 == 0:
                    print(f'{i + 1}/{len(names)} images', flush=True)
            if label_array is not None:
                ex.add_labels(label_array[order])
    finally:
        src.close()
    return _summary(dest)


def create_from_arrays(images: np.ndarray, labels: np.ndarray | None, dest: str, shuffle: bool = True,
                       layout: str | None = None, overwrite: bool = False) -> dict:
    """uint8 images `[N, H, W]`, `[N, H, W, C]` or `[N, C, H, W]` (C = 1 or 3; `layout` 'NHWC'/'NCHW', default
    detected) and labels (None, class indices `[N]` -> one-hot, or float `[N, label_size]`) -> dataset at `dest`.

    With `shuffle`, records are in NVIDIA's shuffled order (record i = `images[shuffled_order(N)[i]]`).
    """
    images = np.asarray(images)
    given = list(images.shape)
    if images.dtype != np.uint8:
        raise DatasetError(f'images must be uint8, got {images.dtype}')
    if images.ndim == 3:
        images = images[:, None]
        layout = 'NCHW'
    if images.ndim != 4:
        raise DatasetError(f'images must be [N, H, W], [N, H, W, C] or [N, C, H, W], got shape '
                           f'{list(images.shape)}')
    if layout is None:
        layout = 'NCHW' if images.shape[1] in (1, 3) and images.shape[3] not in (1, 3) else 'NHWC'
    if layout == 'NHWC':
        images = images.transpose(0, 3, 1, 2)
    elif layout != 'NCHW':
        raise DatasetError(f"layout must be 'NHWC' or 'NCHW', got {layout!r}")
    n, c, h, w = images.shape
    if n == 0:
        raise DatasetError('no images')
    if c not in (1, 3) or h != w or h < 4 or h & (h - 1):
        raise DatasetError(f'images must have 1 or 3 channels and a square power-of-two size >= 4, got shape '
                           f'{given} ({layout})')
    label_array = None if labels is None else _labels_array(labels, n, 'labels')
    order = shuffled_order(n) if shuffle else np.arange(n)
    with DatasetExporter(dest, n, overwrite=overwrite) as ex:
        for idx in order:
            ex.add_image(images[idx])
        if label_array is not None:
            ex.add_labels(label_array[order])
    return _summary(dest)


def sklearn_digits(resolution: int = 32) -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's 1797 8x8 digits as uint8 `[N, resolution, resolution]` (0..16 scaled to 0..255, then
    bilinear resize with PIL) and their class indices `[N]`."""
    from PIL import Image
    if resolution < 4 or resolution & (resolution - 1):
        raise DatasetError(f'--resolution {resolution}: must be a power of two >= 4')
    try:
        from sklearn.datasets import load_digits
    except ImportError:
        raise DatasetError('--source sklearn-digits needs scikit-learn (pip install scikit-learn)') from None
    digits = load_digits()
    small = np.rint(digits.images * (255.0 / 16.0)).clip(0, 255).astype(np.uint8)
    images = np.stack([np.asarray(Image.fromarray(im).resize((resolution, resolution), Image.Resampling.BILINEAR))
                       for im in small])
    return images, digits.target.astype(np.int64)


def create_sklearn_digits(dest: str, resolution: int = 32, shuffle: bool = True, overwrite: bool = False) -> dict:
    """scikit-learn's digits upscaled to `resolution` (one channel, one-hot labels of size 10) -> dataset."""
    images, labels = sklearn_digits(resolution)
    return create_from_arrays(images, labels, dest, shuffle=shuffle, overwrite=overwrite)


# ----------------------------------------------------------------------------------------------------------------
# Data path into D


def convert_reals_from_uint8(images) -> tf.Tensor:
    """uint8 [0, 255] -> float32 [-1, 1], NVIDIA's float32 rule `float32(x) * (float32(2)/float32(255)) - 1`.

    Values only, so any layout works.
    """
    scale = np.float32(2) / np.float32(255)
    return tf.cast(images, tf.float32) * tf.constant(scale, tf.float32) - tf.constant(1, tf.float32)


def random_mirror(images: tf.Tensor, seed) -> tf.Tensor:
    """Flip each NHWC image along W independently with probability 0.5; `seed` is a stateless seed, shape [2]."""
    flip = tf.random.stateless_uniform([tf.shape(images)[0]], seed=seed) < 0.5
    return tf.where(flip[:, None, None, None], tf.reverse(images, axis=[2]), images)


# ----------------------------------------------------------------------------------------------------------------
# Reading


def check_record_framing(path: str) -> int:
    """The number of records of a .tfrecords file, after checking that every record header (uint64 length,
    uint32 CRC; data; uint32 CRC) lies inside the file: TensorFlow's reader trusts the length and would
    allocate whatever a corrupt or hostile header claims."""
    try:
        size = os.path.getsize(path)
        count, offset = 0, 0
        with open(path, 'rb') as f:
            while offset < size:
                header = f.read(12)
                if len(header) < 12:
                    raise DatasetError(f'{path}: cannot read: truncated record header at byte {offset}')
                (length,) = struct.unpack('<Q', header[:8])
                if offset + 16 + length > size:
                    raise DatasetError(f'{path}: cannot read: record at byte {offset} claims {length:,} bytes but '
                                       f'the file has {size - offset - 16:,} left')
                offset += 16 + length
                f.seek(offset)
                count += 1
    except OSError as e:
        raise DatasetError(f'{path}: cannot read: {e.strerror or e}') from None
    return count


def _first_record_shape(path: str) -> list[int]:
    if not os.path.isfile(path):
        raise DatasetError(f'{path}: not a regular file')
    check_record_framing(path)
    try:
        records = list(tf.data.TFRecordDataset(path).take(1).as_numpy_iterator())
    except tf.errors.OpError as e:
        raise DatasetError(f'{path}: cannot read: {_one_line(e)}') from None
    if not records:
        raise DatasetError(f'{path}: no records')
    try:
        ex = tf.train.Example.FromString(records[0])
        shape = list(ex.features.feature['shape'].int64_list.value)
        data = ex.features.feature['data'].bytes_list.value
    except Exception as e:  # noqa: BLE001 - protobuf raises its own DecodeError
        raise DatasetError(f'{path}: first record is not a tf.train.Example: {_one_line(e)}') from None
    if len(shape) != 3 or len(data) != 1:
        raise DatasetError(f'{path}: first record lacks the int64 [C, H, W] "shape" and bytes "data" features')
    c, h, w = shape
    if c not in (1, 3) or h != w or h < 4 or h & (h - 1):
        raise DatasetError(f'{path}: bad image shape {shape} (expected [C, H, W] with C in (1, 3), H == W a '
                           f'power of two >= 4)')
    if len(data[0]) != c * h * w:
        raise DatasetError(f'{path}: first record has {len(data[0])} data bytes, shape {shape} needs {c * h * w}')
    return shape


class TFRecordDataset:
    """A dataset directory written by NVIDIA's dataset_tool.py (or `sg2tf-dataset-tool`).

    Args:
        path: the dataset directory.
        resolution: the level to read (default: the full resolution); must be one of the stored levels.
        max_label_size: 0 (default, NVIDIA's) = unconditional, labels of size 0; 'full' = all label columns;
            N > 0 = the first N columns.
        label_file: labels `.npy` to use instead of the first `*.labels` file in `path`.

    Attributes: `resolution`, `num_channels`, `label_size`, `num_images`, `shape` ([C, H, W] of `resolution`),
    `max_resolution`, `levels` ({resolution: tfrecords path}), `labels` (float32 [num_images, label_size]).
    """

    def __init__(self, path: str, resolution: int | None = None, max_label_size: int | str = 0,
                 label_file: str | None = None):
        self.path = path
        if not os.path.isdir(path):
            raise DatasetError(f'dataset directory {path} does not exist' if not os.path.exists(path)
                               else f'dataset path {path} is not a directory')
        files = sorted(glob.glob(os.path.join(glob.escape(path), '*.tfrecords')))
        if not files:
            raise DatasetError(f'no *.tfrecords files in {path}')
        self.levels: dict[int, str] = {}
        channels = set()
        for f in files:
            c, h, _ = _first_record_shape(f)
            if h in self.levels:
                raise DatasetError(f'two files hold {h}x{h} images: {self.levels[h]} and {f}')
            self.levels[h] = f
            channels.add(c)
        if len(channels) != 1:
            raise DatasetError(f'levels disagree on the channel count: {sorted(channels)}')
        self.num_channels = channels.pop()
        self.max_resolution = max(self.levels)
        missing = [2 ** k for k in range(2, int(math.log2(self.max_resolution)) + 1) if 2 ** k not in self.levels]
        if missing:
            raise DatasetError(f'{path}: missing levels {missing} (every power of two from 4 to '
                               f'{self.max_resolution} is needed)')
        if resolution is None:
            resolution = self.max_resolution
        if resolution not in self.levels:
            raise DatasetError(f'resolution {resolution} is not stored in {path} (levels: {sorted(self.levels)})')
        self.resolution = int(resolution)
        self.shape = [self.num_channels, self.resolution, self.resolution]
        self._num_images: int | None = None

        # Labels.
        if label_file is None:
            found = sorted(glob.glob(os.path.join(glob.escape(path), '*.labels')))
            label_file = found[0] if found else None
        self.label_file = label_file
        use_labels = max_label_size == 'full' or (not isinstance(max_label_size, str) and max_label_size > 0)
        if isinstance(max_label_size, str) and max_label_size != 'full':
            raise DatasetError(f"max_label_size must be an int >= 0 or 'full', got {max_label_size!r}")
        labels = None
        if use_labels and label_file is not None:
            try:
                labels = np.load(label_file, allow_pickle=False)
            except (OSError, ValueError) as e:
                raise DatasetError(f'{label_file}: cannot read labels: {_one_line(e)}') from None
            if labels.ndim != 2:
                raise DatasetError(f'{label_file}: labels must be 2-D [num_images, label_size], got shape '
                                   f'{list(labels.shape)}')
            if labels.shape[0] != self.num_images:
                raise DatasetError(f'{label_file}: {labels.shape[0]} label rows for {self.num_images} images')
            labels = labels.astype(np.float32)
            if max_label_size != 'full':
                labels = labels[:, :max_label_size]
        self._labels = labels
        self.label_size = 0 if labels is None else int(labels.shape[1])

    @property
    def num_images(self) -> int:
        """Number of records, counted once in the 4x4 file (the cheapest to scan; every level has the same)."""
        if self._num_images is None:
            try:
                self._num_images = int(tf.data.TFRecordDataset(self.levels[4]).reduce(
                    np.int64(0), lambda n, _: n + 1).numpy())
            except tf.errors.OpError as e:
                raise DatasetError(f'{self.levels[4]}: cannot read: {_one_line(e)}') from None
        return self._num_images

    @property
    def labels(self) -> np.ndarray:
        """float32 `[num_images, label_size]` in record order (`[num_images, 0]` when unconditional)."""
        if self._labels is None:
            return np.zeros([self.num_images, 0], np.float32)
        return self._labels

    def get_random_labels(self, n: int, rng: np.random.RandomState | np.random.Generator | None = None
                          ) -> np.ndarray:
        """`n` uniformly random rows of the label array (float32 `[n, label_size]`; `[n, 0]` if unconditional)."""
        if self._labels is None:
            return np.zeros([n, 0], np.float32)
        rng = np.random if rng is None else rng
        draw = rng.integers if isinstance(rng, np.random.Generator) else rng.randint
        return self._labels[draw(0, self._labels.shape[0], size=n)]

    def _parse(self, record):
        c, h, w = self.shape
        feats = tf.io.parse_single_example(record, {'shape': tf.io.FixedLenFeature([3], tf.int64),
                                                    'data': tf.io.FixedLenFeature([], tf.string)})
        tf.debugging.assert_equal(feats['shape'], tf.constant([c, h, w], tf.int64),
                                  message=f'record shape differs from {self.shape}')
        data = tf.io.decode_raw(feats['data'], tf.uint8)
        return tf.reshape(data, [c, h, w])

    def make_raw_dataset(self) -> tf.data.Dataset:
        """`(image uint8 [C, H, W], label float32 [label_size])` pairs in record order, unbatched, one pass."""
        images = tf.data.TFRecordDataset(self.levels[self.resolution], buffer_size=256 << 20)
        images = images.map(self._parse, num_parallel_calls=tf.data.AUTOTUNE)
        if self._labels is None:
            labels = tf.data.Dataset.from_tensors(tf.zeros([0], tf.float32)).repeat()
        else:
            labels = tf.data.Dataset.from_tensor_slices(self._labels)
        return tf.data.Dataset.zip((images, labels))

    def default_shuffle_buffer(self) -> int:
        """NVIDIA's shuffle buffer, as many images as fit in 4096 MB (ceil), capped at the dataset size."""
        return int(min(math.ceil((4096 << 20) / int(np.prod(self.shape))), self.num_images))

    def make_dataset(self, batch_size: int, mirror_augment: bool = False, shuffle_buffer: int | None = None,
                     repeat: bool = True, seed: int | None = None, drop_remainder: bool | None = None
                     ) -> tf.data.Dataset:
        """Batches `(images, labels)` ready for D: images float32 NHWC in [-1, 1], labels float32
        `[batch, label_size]`.

        Labels are zipped with images in record order, then: shuffle (`shuffle_buffer` images; None = NVIDIA's
        4096 MB worth, 0 = no shuffling) -> repeat -> batch -> uint8 to [-1, 1] -> optional mirror augmentation
        (each image flipped along W with probability 0.5) -> prefetch. `seed` makes shuffling and mirroring
        reproducible. `drop_remainder` defaults to `repeat` (an endless stream has full batches only).
        """
        if batch_size < 1:
            raise DatasetError(f'batch_size must be >= 1, got {batch_size}')
        ds = self.make_raw_dataset()
        buf = self.default_shuffle_buffer() if shuffle_buffer is None else int(shuffle_buffer)
        if buf > 1:
            ds = ds.shuffle(buf, seed=seed, reshuffle_each_iteration=True)
        if repeat:
            ds = ds.repeat()
        ds = ds.batch(batch_size, drop_remainder=repeat if drop_remainder is None else drop_remainder)

        def to_reals(images, labels):
            return convert_reals_from_uint8(tf.transpose(images, [0, 2, 3, 1])), labels

        ds = ds.map(to_reals, num_parallel_calls=tf.data.AUTOTUNE)
        if mirror_augment:
            seeds = tf.data.Dataset.random(seed=seed).batch(2)
            ds = tf.data.Dataset.zip((ds, seeds)).map(lambda b, s: (random_mirror(b[0], s), b[1]),
                                                      num_parallel_calls=tf.data.AUTOTUNE)
        return ds.prefetch(tf.data.AUTOTUNE)

    def read_all(self, max_images: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Images uint8 NHWC and labels float32, in record order (for tests, metrics, small datasets)."""
        ds = self.make_raw_dataset()
        if max_images is not None:
            ds = ds.take(max_images)
        images, labels = [], []
        for img, lab in ds.as_numpy_iterator():
            images.append(img.transpose(1, 2, 0))
            labels.append(lab)
        c, h, w = self.shape
        return (np.stack(images) if images else np.zeros([0, h, w, c], np.uint8),
                np.stack(labels) if labels else np.zeros([0, self.label_size], np.float32))

    def __repr__(self) -> str:
        return (f'TFRecordDataset({self.path!r}, resolution={self.resolution}, num_channels={self.num_channels}, '
                f'label_size={self.label_size})')
