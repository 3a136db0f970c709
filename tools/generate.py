"""Script form of `sg2tf-generate` (sg2tf/cli/generate.py): `python tools/generate.py --outdir out --seeds 0-7`."""
import sys

from sg2tf.cli.generate import main

if __name__ == '__main__':
    sys.exit(main())
