"""Convert networks between NVIDIA's pickle format and native Keras files, chosen by extension.

    sg2tf-convert --in stylegan2-ffhq-config-f.pkl --out Gs.keras                 # one network (--net, default Gs)
    sg2tf-convert --in stylegan2-ffhq-config-f.pkl --net D --out D.weights.h5     # weights only
    sg2tf-convert --in G.keras D.keras Gs.keras --out snapshot.pkl                # (G, D, Gs) NVIDIA snapshot
    sg2tf-convert --in Gs.keras --out Gs.pkl                                      # a single-network pickle
    sg2tf-convert --in X.pkl --out Y.pkl --nvidia-src training/networks_stylegan2.py   # embed NVIDIA's module
    sg2tf-convert --in stylegan2-ffhq-config-f.pkl --out Gs.safetensors          # pickle-free sharing
    sg2tf-convert --in Gs.safetensors --out Gs.pkl                                # and back

Written pickles load in NVIDIA's TF1 code as they are: by default they carry sg2tf's clean-room TF1 build
module (sg2tf/nvidia/tf1_networks.py.txt); `--nvidia-src` stores the given module text instead.

A `.weights.h5` file holds no architecture: load it with `model.load_weights()` into a network built from
the same configuration (e.g. the `.keras` file or pickle it came from); it is not accepted as `--in`.

A `.safetensors` file holds one network with no pickle and no code: every weight under its NVIDIA name
(`Gs.vars`), the Keras config and class name in the file's metadata; its header is checked before any data
is read.
"""
from __future__ import annotations

import argparse
import os
import re
import sys

from sg2tf.cli._common import ToolError, atomic_output, fail, is_discriminator, is_generator, load_any

NETS = ('G', 'D', 'Gs')


def _kind(path: str) -> str:
    for ext in ('.weights.h5', '.keras', '.pkl', '.safetensors'):
        if path.endswith(ext):
            return ext
    raise ToolError(f'{path}: unknown extension, expected .pkl, .keras, .weights.h5 or .safetensors')


def _load(path: str):
    """`load_any`, plus one network from a `.safetensors` file."""
    if not path.endswith('.safetensors'):
        return load_any(path)
    from sg2tf.safetensors_io import SafetensorsError, load_safetensors
    if not os.path.isfile(path):
        raise ToolError(f'{path}: no such file')
    try:
        return load_safetensors(path)
    except SafetensorsError as e:
        raise ToolError(str(e)) from None


def convert(inputs: list[str], out: str, net: str = 'Gs', overwrite: bool = False,
            nvidia_src: str | None = None) -> str:
    """Convert `inputs` (one pickle, or one / three `.keras` files as G, D, Gs) to `out`; returns a summary.

    `nvidia_src`: path of a module (NVIDIA's `training/networks_stylegan2.py`) to embed as `build_module_src`
    in a written pickle, so NVIDIA's TF1 code can load it unaided.
    """
    out_kind = _kind(out)
    kinds = [_kind(p) for p in inputs]
    if '.weights.h5' in kinds:
        raise ToolError(f'{inputs[kinds.index(".weights.h5")]}: a .weights.h5 file holds no architecture; '
                        f'convert from the .pkl or .keras file instead')
    if len(inputs) not in (1, 3) or (len(inputs) == 3 and set(kinds) != {'.keras'}):
        raise ToolError('--in takes one file, or three .keras files in the order G D Gs')
    if net not in NETS:
        raise ToolError(f'--net must be one of {list(NETS)}, got {net!r}')
    src = None
    if nvidia_src is not None:
        if out_kind != '.pkl':
            raise ToolError('--nvidia-src only applies to a .pkl output')
        try:
            with open(nvidia_src, encoding='utf-8') as f:
                src = f.read()
        except (OSError, UnicodeDecodeError) as e:
            raise ToolError(f'{nvidia_src}: cannot read ({getattr(e, "strerror", None) or e})') from None
        if not re.search(r'^def (G_main|G_style)\b', src, re.M):
            raise ToolError(f'{nvidia_src}: does not define G_main or G_style (expected NVIDIA\'s module: '
                            f'training/networks_stylegan2.py, networks_stylegan.py, or ADA\'s training/networks.py)')
    loaded = [_load(p) for p in inputs]
    if len(loaded) == 3:
        for path, model, (check, what) in zip(inputs, loaded, ((is_generator, 'generator'),
                                                               (is_discriminator, 'discriminator'),
                                                               (is_generator, 'generator'))):
            if not check(model):
                raise ToolError(f'{path}: holds a {type(model).__name__}, expected a {what} (order: G D Gs)')
    with atomic_output(out, overwrite=overwrite) as tmp:  # same extension: Keras picks the format by it
        if out_kind == '.pkl':
            from sg2tf.nvidia import save_network_pkl
            if len(loaded) == 3:
                save_network_pkl(tmp, *loaded, build_module_src=src)
                what = '(G, D, Gs)'
            elif isinstance(loaded[0], dict) and all(k in loaded[0] for k in NETS):
                save_network_pkl(tmp, loaded[0]['G'], loaded[0]['D'], loaded[0]['Gs'], build_module_src=src)
                what = '(G, D, Gs)'
            elif isinstance(loaded[0], dict):  # a stripped stylegan2-ada-pytorch snapshot: its generator
                if 'Gs' not in loaded[0]:
                    raise ToolError(f'{inputs[0]}: holds no G_ema/Gs to write')
                save_network_pkl(tmp, loaded[0]['Gs'], build_module_src=src)
                what = 'Gs'
            else:
                save_network_pkl(tmp, loaded[0], build_module_src=src)
                what = loaded[0].name
        else:
            if len(loaded) != 1:
                raise ToolError(f'{out}: a {out_kind} file holds one network; pass one --in')
            if isinstance(loaded[0], dict) and net not in loaded[0]:
                raise ToolError(f'{inputs[0]}: holds no {net} (it has {", ".join(k for k in NETS if k in loaded[0])})')
            model = loaded[0][net] if isinstance(loaded[0], dict) else loaded[0]
            if out_kind == '.keras':
                model.save(tmp)
            elif out_kind == '.safetensors':
                from sg2tf.safetensors_io import SafetensorsError, save_safetensors
                try:
                    save_safetensors(model, tmp)
                except SafetensorsError as e:
                    raise ToolError(str(e)) from None
            else:
                model.save_weights(tmp)
            what = model.name
    return f'wrote {what} to {out}'


def main(argv=None) -> int:
    doc = __doc__.split('\n')
    ap = argparse.ArgumentParser(description=doc[0], formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog='\n'.join(doc[1:]))
    ap.add_argument('--in', dest='inputs', nargs='+', required=True,
                    help='an NVIDIA .pkl, an sg2tf .keras or .safetensors file, or three .keras files G D Gs')
    ap.add_argument('--out', required=True, help='.pkl (NVIDIA format), .keras, .weights.h5 or .safetensors')
    ap.add_argument('--net', choices=NETS, default='Gs', help='which network of a pickle to write to .keras/.h5/.safetensors')
    ap.add_argument('--nvidia-src', default=None, metavar='FILE',
                    help="embed this module (your copy of NVIDIA's training/networks_stylegan2.py) in a .pkl output "
                         "instead of sg2tf's own TF1 build module")
    ap.add_argument('--overwrite', action='store_true', help='replace OUT if it exists')
    args = ap.parse_args(argv)
    os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
    try:
        print(convert(args.inputs, args.out, args.net, args.overwrite, args.nvidia_src))
    except (ToolError, OSError) as e:
        return fail(e, args.out)
    return 0


if __name__ == '__main__':
    sys.exit(main())
