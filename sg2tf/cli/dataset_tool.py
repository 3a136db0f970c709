"""Make NVIDIA-format multi-resolution TFRecord datasets from images, or describe one (sg2tf-dataset-tool).

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

The work is done by sg2tf.training.dataset (create_from_source, create_from_arrays, create_sklearn_digits).
"""
from __future__ import annotations

import argparse
import os
import sys

SKLEARN_DIGITS = 'sklearn-digits'


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
    cr.add_argument('--overwrite', action='store_true',
                    help='delete the existing --dest directory and everything in it, then write the new dataset '
                         '(refused unless it holds only *.tfrecords / *.labels files, i.e. an earlier dataset)')
    info = sub.add_parser('info', help='describe a dataset directory')
    info.add_argument('path')
    args = ap.parse_args(argv)

    os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
    from sg2tf.training import dataset
    try:
        if args.cmd == 'info':
            ds = dataset.TFRecordDataset(args.path, max_label_size='full')
            print(f'{args.path}: {ds.num_images} images, {ds.resolution}x{ds.resolution}, {ds.num_channels} '
                  f'channel(s), label_size {ds.label_size}, levels {sorted(ds.levels)}')
            return 0
        if args.source == SKLEARN_DIGITS:
            if args.labels or args.center_crop or args.resize:
                raise dataset.DatasetError(f'--labels, --center-crop and --resize do not apply to {SKLEARN_DIGITS}')
            info = dataset.create_sklearn_digits(args.dest, args.resolution or 32, bool(args.shuffle),
                                                 args.overwrite)
        else:
            if args.resolution is not None:
                raise dataset.DatasetError(f'--resolution is for {SKLEARN_DIGITS}; use --resize N for images')
            info = dataset.create_from_source(args.source, args.dest, args.labels, bool(args.shuffle),
                                              args.center_crop, args.resize, args.overwrite, progress=True)
    except (dataset.DatasetError, OSError) as e:
        text = str(e).strip()
        print(f'error: {text.splitlines()[0] if text else type(e).__name__}', file=sys.stderr)
        return 1
    print(f"{info['dest']}: {info['num_images']} images, {info['resolution']}x{info['resolution']}, "
          f"{info['num_channels']} channel(s), label_size {info['label_size']}")
    return 0


if __name__ == '__main__':
    sys.exit(main())
