"""Make NVIDIA-format multi-resolution TFRecord datasets (SPEC 5.1) from images or arrays.

    sg2tf-dataset-tool create --source images/ --dest datasets/mine                # folder of images
    sg2tf-dataset-tool create --source images.zip --dest datasets/mine --labels labels.json
    sg2tf-dataset-tool create --source photos/ --dest datasets/faces --center-crop --resize 256
    sg2tf-dataset-tool create --source sklearn-digits --resolution 32 --dest datasets/digits32
    sg2tf-dataset-tool info datasets/mine

Images are taken in sorted order of their paths (recursively; files with an image extension), shuffled into
NVIDIA's record order (`np.random.RandomState(123).shuffle`) unless `--shuffle 0`. Grayscale images give one
channel, colour images three (alpha is dropped). Output is written to a temporary directory and renamed into
place at the end, so a failure never leaves a half-written dataset.

Labels (`--labels`): a `.npy` array in sorted source order (1-D integer = class indices, stored one-hot; 2-D =
label vectors), or a `.json` file holding a list in sorted source order, an object `{relative path: label}`, or
`{"labels": [[relative path, label], ...]}` (StyleGAN2-ADA's dataset.json). A label is a class index (int) or
a list of numbers.
"""
from __future__ import annotations

import argparse
import io
import json
import os
import sys
import zipfile

import numpy as np

IMAGE_EXTENSIONS = {'.png', '.jpg', '.jpeg', '.bmp', '.gif', '.webp', '.ppm', '.pgm', '.pbm', '.tif', '.tiff'}
SKLEARN_DIGITS = 'sklearn-digits'


def _ds():
    os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
    from sg2tf.training import dataset
    return dataset


def _one_line(e: BaseException) -> str:
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__


# ----------------------------------------------------------------------------------------------------------------
# Sources


class _ImageSource:
    """Sorted image names (relative, '/'-separated) of a folder or a zip, and a way to read each."""

    def __init__(self, source: str):
        DatasetError = _ds().DatasetError
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
                        names.append(os.path.relpath(os.path.join(root, f), source).replace(os.sep, '/'))
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
                img = Image.open(io.BytesIO(self._zip.read(name)))
            else:
                img = Image.open(os.path.join(self.source, name))
            img.load()
        except Exception as e:  # noqa: BLE001 - PIL raises many types; the message names the file
            raise _ds().DatasetError(f'cannot read image {self.describe(name)}: {_one_line(e)}') from None
        if img.mode in ('L', 'RGB'):
            return img
        if img.mode in ('1', 'LA', 'La'):
            return img.convert('L')
        if img.mode in ('RGBA', 'RGBa', 'RGBX', 'P', 'PA', 'CMYK', 'YCbCr', 'LAB', 'HSV'):
            return img.convert('RGB')
        raise _ds().DatasetError(f'image {self.describe(name)} has unsupported mode {img.mode} '
                                     f'(8-bit grayscale or colour images only)')

    def close(self):
        if self._zip is not None:
            self._zip.close()


def _to_chw(img, describe: str, center_crop: bool, resize: int | None) -> np.ndarray:
    from PIL import Image
    DatasetError = _ds().DatasetError
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


# ----------------------------------------------------------------------------------------------------------------
# Labels


def _labels_array(values, n: int, what: str) -> np.ndarray:
    """Class indices (ints) -> one-hot float32; label vectors -> float32 [n, label_size]."""
    DatasetError = _ds().DatasetError
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
    """Labels for `names` (sorted source order) from `.npy` or `.json`, as float32 `[len(names), label_size]`."""
    DatasetError = _ds().DatasetError
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


# ----------------------------------------------------------------------------------------------------------------
# Creation


def _summary(dest: str) -> dict:
    ds = _ds().TFRecordDataset(dest, max_label_size='full')
    return dict(dest=dest, num_images=ds.num_images, resolution=ds.resolution, num_channels=ds.num_channels,
                label_size=ds.label_size)


def create_from_source(source: str, dest: str, labels: str | None = None, shuffle: bool = True,
                       center_crop: bool = False, resize: int | None = None, overwrite: bool = False,
                       progress: bool = False) -> dict:
    """Folder or zip of images -> dataset at `dest`; returns a summary dict (num_images, resolution, ...)."""
    dataset = _ds()
    if resize is not None and (resize < 4 or resize & (resize - 1)):
        raise dataset.DatasetError(f'--resize {resize}: must be a power of two >= 4')
    src = _ImageSource(source)
    try:
        names = src.names
        label_array = load_labels(labels, names) if labels is not None else None
        order = dataset.shuffled_order(len(names)) if shuffle else np.arange(len(names))
        first = None
        with dataset.DatasetExporter(dest, len(names), overwrite=overwrite) as ex:
            for i, idx in enumerate(order):
                name = names[idx]
                chw = _to_chw(src.load(name), src.describe(name), center_crop, resize)
                if first is None:
                    first = (name, chw.shape)
                elif chw.shape != first[1]:
                    c, h, w = chw.shape
                    c0, h0, w0 = first[1]
                    raise dataset.DatasetError(
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
    dataset = _ds()
    DatasetError = dataset.DatasetError
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
    order = dataset.shuffled_order(n) if shuffle else np.arange(n)
    with dataset.DatasetExporter(dest, n, overwrite=overwrite) as ex:
        for idx in order:
            ex.add_image(images[idx])
        if label_array is not None:
            ex.add_labels(label_array[order])
    return _summary(dest)


def sklearn_digits(resolution: int = 32) -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's 1797 8x8 digits as uint8 `[N, resolution, resolution]` (0..16 scaled to 0..255, then
    bilinear resize with PIL) and their class indices `[N]`."""
    from PIL import Image
    DatasetError = _ds().DatasetError
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
# Command line


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog='sg2tf-dataset-tool', description=__doc__.split('\n')[0])
    sub = ap.add_subparsers(dest='cmd', required=True)
    cr = sub.add_parser('create', help='make a dataset from a folder or zip of images, or sklearn-digits')
    cr.add_argument('--source', required=True, help=f'folder, .zip, or {SKLEARN_DIGITS!r}')
    cr.add_argument('--dest', required=True, help='dataset directory to create')
    cr.add_argument('--labels', default=None, help='labels .json or .npy (sorted source order)')
    cr.add_argument('--shuffle', type=int, choices=[0, 1], default=1, help="NVIDIA's shuffled order (default 1)")
    cr.add_argument('--center-crop', action='store_true', help='crop non-square images to their centre square')
    cr.add_argument('--resize', type=int, default=None, help='resize to NxN (PIL Lanczos)')
    cr.add_argument('--resolution', type=int, default=None, help=f'output size for {SKLEARN_DIGITS} (default 32)')
    cr.add_argument('--overwrite', action='store_true', help='replace an existing dataset directory')
    info = sub.add_parser('info', help='describe a dataset directory')
    info.add_argument('path')
    args = ap.parse_args(argv)

    dataset = _ds()
    try:
        if args.cmd == 'info':
            ds = dataset.TFRecordDataset(args.path, max_label_size='full')
            print(f'{args.path}: {ds.num_images} images, {ds.resolution}x{ds.resolution}, {ds.num_channels} '
                  f'channel(s), label_size {ds.label_size}, levels {sorted(ds.levels)}')
            return 0
        if args.source == SKLEARN_DIGITS:
            if args.labels or args.center_crop or args.resize:
                raise dataset.DatasetError(f'--labels, --center-crop and --resize do not apply to {SKLEARN_DIGITS}')
            info = create_sklearn_digits(args.dest, args.resolution or 32, bool(args.shuffle), args.overwrite)
        else:
            if args.resolution is not None:
                raise dataset.DatasetError(f'--resolution is for {SKLEARN_DIGITS}; use --resize N for images')
            info = create_from_source(args.source, args.dest, args.labels, bool(args.shuffle), args.center_crop,
                                      args.resize, args.overwrite, progress=True)
    except (dataset.DatasetError, OSError) as e:
        print(f'error: {_one_line(e)}', file=sys.stderr)
        return 1
    print(f"{info['dest']}: {info['num_images']} images, {info['resolution']}x{info['resolution']}, "
          f"{info['num_channels']} channel(s), label_size {info['label_size']}")
    return 0


if __name__ == '__main__':
    sys.exit(main())
