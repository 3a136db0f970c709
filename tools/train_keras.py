"""Script form of `sg2tf-train` (sg2tf/cli/train.py): `python tools/train_keras.py --data D --outdir RUN`."""
import sys

from sg2tf.cli.train import main

if __name__ == '__main__':
    sys.exit(main())
