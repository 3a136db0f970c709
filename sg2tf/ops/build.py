"""Build the C++ (and, where nvcc exists, CUDA) custom ops against the installed TensorFlow.

    python -m sg2tf.ops.build [--cuda auto|yes|no] [--force] [--verbose]

Libraries go to a per-user cache, `$SG2TF_OPS_CACHE` or `~/.cache/sg2tf/ops/<tf-version>-<source-hash>/`:
`libsg2tf_ops.so` (op definitions + CPU kernels) and, with CUDA, `libsg2tf_ops_cuda.so` (GPU kernels only).
Nothing is built at import time; `sg2tf.ops` builds on first use of the custom implementation.
"""
from __future__ import annotations

import argparse
import contextlib
import functools
import hashlib
import os
import platform
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from sg2tf.fileio import atomic_write

SRC_DIR = Path(__file__).resolve().parent / 'cc'
CPU_SOURCES = ('sg2_ops.cc',)
CUDA_SOURCES = ('sg2_kernels.cu',)
GPU_WRAPPER_SOURCES = ('sg2_ops_gpu.cc',)
CPU_LIB = 'libsg2tf_ops.so'
CUDA_LIB = 'libsg2tf_ops_cuda.so'


class BuildError(RuntimeError):
    """The custom ops could not be compiled (message says which step and why)."""


def source_hash() -> str:
    """Hash of every source file, the compiler flags and the machine (-march=native binaries are per CPU)."""
    h = hashlib.sha256()
    for path in sorted(SRC_DIR.iterdir()):
        if path.suffix in ('.cc', '.h', '.cu', '.cuh'):
            h.update(path.name.encode() + b'\0' + path.read_bytes())
    h.update(' '.join(_cxx_flags()).encode() + platform.machine().encode() + _cpu_id().encode())
    return h.hexdigest()[:12]


def _cpu_id() -> str:
    try:
        for line in Path('/proc/cpuinfo').read_text().splitlines():
            if line.startswith('flags'):
                return hashlib.sha256(line.encode()).hexdigest()[:8]
    except OSError:
        pass
    return platform.processor()


def _cxx_flags() -> list[str]:
    # -mno-avx512fp16: on CPUs with AVX512-FP16 (Sapphire Rapids) -march=native turns on Eigen's
    # PacketMathFP16.h, which TF 2.21's bundled Eigen fails to compile with g++ 12; the ops use no float16.
    return ['-O3', '-march=native', *_if_accepted('-mno-avx512fp16'), '-fPIC', '-shared', '-w']


@functools.lru_cache(maxsize=None)
def _if_accepted(flag: str) -> tuple[str, ...]:
    """(flag,) if the C++ compiler accepts it (older compilers do not know -mno-avx512fp16), else ()."""
    cxx = find_cxx()
    if cxx is None:
        return ()
    res = subprocess.run([cxx, flag, '-x', 'c++', '-fsyntax-only', '-'], input='', capture_output=True, text=True)
    return (flag,) if res.returncode == 0 else ()


def cache_dir() -> Path:
    import tensorflow as tf
    root = os.environ.get('SG2TF_OPS_CACHE') or os.path.join(os.path.expanduser('~'), '.cache', 'sg2tf', 'ops')
    return Path(root) / f'{tf.__version__}-{source_hash()}'


def find_cxx() -> str | None:
    """The C++ compiler to use ($CXX, g++, c++, clang++), or None."""
    for name in (os.environ.get('CXX'), 'g++', 'c++', 'clang++'):
        if name and shutil.which(name):
            return shutil.which(name)
    return None


def find_nvcc() -> str | None:
    for cand in (os.environ.get('NVCC'), shutil.which('nvcc'), '/usr/local/cuda/bin/nvcc'):
        if cand and os.path.exists(cand):
            return cand
    return None


def _tf_flags() -> tuple[list[str], list[str]]:
    import tensorflow as tf
    return list(tf.sysconfig.get_compile_flags()), list(tf.sysconfig.get_link_flags())


def _run(cmd: list[str], verbose: bool) -> None:
    if verbose:
        print('+', ' '.join(cmd), flush=True)
    res = subprocess.run(cmd, capture_output=True, text=True)
    if res.returncode != 0:
        tail = '\n'.join((res.stderr or res.stdout).strip().splitlines()[-25:])
        raise BuildError(f'command failed ({os.path.basename(cmd[0])}, exit {res.returncode}):\n{tail}')


@contextlib.contextmanager
def _lock(directory: Path):
    """Inter-process lock so parallel test workers build once."""
    directory.mkdir(parents=True, exist_ok=True)
    with open(directory / '.lock', 'w') as fh:
        try:
            import fcntl
            fcntl.flock(fh, fcntl.LOCK_EX)
        except ImportError:  # non-POSIX: no locking
            pass
        yield


def build_cpu(out_dir: Path, verbose: bool = False) -> Path:
    cxx = find_cxx()
    if cxx is None:
        raise BuildError('no C++ compiler found (set $CXX or install g++)')
    cflags, lflags = _tf_flags()
    with atomic_write(out_dir / CPU_LIB) as lib:  # a complete library or none: parallel processes load it
        _run([cxx, *_cxx_flags(), *cflags, f'-I{SRC_DIR}', *[str(SRC_DIR / s) for s in CPU_SOURCES],
              '-o', lib, *lflags], verbose)
    return out_dir / CPU_LIB


def cuda_home(nvcc: str) -> Path:
    """CUDA toolkit root: $CUDA_HOME/$CUDA_PATH, nvcc's parent, /usr/local/cuda, /usr/local/cuda-*."""
    import glob
    cands = [os.environ.get('CUDA_HOME'), os.environ.get('CUDA_PATH'), str(Path(os.path.realpath(nvcc)).parent.parent),
             '/usr/local/cuda', *sorted(glob.glob('/usr/local/cuda-*'), reverse=True)]
    for cand in cands:
        if cand and (Path(cand) / 'include' / 'cuda_runtime.h').exists():
            return Path(cand)
    raise BuildError('CUDA headers (include/cuda_runtime.h) not found; set $CUDA_HOME')


def _tf_cuda_include() -> list[str]:
    """The CUDA headers TensorFlow's wheel ships (match the CUDA version TF's Eigen GPU code expects)."""
    import tensorflow as tf
    inc = Path(tf.sysconfig.get_include()) / 'third_party' / 'gpus' / 'cuda' / 'include'
    return [f'-I{inc}'] if (inc / 'cuda_runtime.h').exists() else []


def build_cuda(out_dir: Path, verbose: bool = False) -> Path:
    """GPU kernels (nvcc) + their TF wrapper (C++ with -DGOOGLE_CUDA=1), linked into the CUDA library."""
    nvcc, cxx = find_nvcc(), find_cxx()
    if nvcc is None or cxx is None:
        raise BuildError('nvcc or a C++ compiler is missing')
    cflags, lflags = _tf_flags()
    home = cuda_home(nvcc)
    with tempfile.TemporaryDirectory(dir=out_dir) as tmp, atomic_write(out_dir / CUDA_LIB) as lib:
        objs = []
        for src in CUDA_SOURCES:
            obj = Path(tmp) / (src + '.o')
            _run([nvcc, '-c', '-O3', '-std=c++17', '--compiler-options', '-fPIC', f'-I{SRC_DIR}',
                  str(SRC_DIR / src), '-o', str(obj)], verbose)
            objs.append(str(obj))
        for src in GPU_WRAPPER_SOURCES:
            obj = Path(tmp) / (src + '.o')
            _run([cxx, '-c', '-O2', '-fPIC', '-w', '-DGOOGLE_CUDA=1', *cflags, f'-I{SRC_DIR}',
                  *(_tf_cuda_include() or [f'-I{home / "include"}']), str(SRC_DIR / src), '-o', str(obj)], verbose)
            objs.append(str(obj))
        libdir = home / 'lib64' if (home / 'lib64').exists() else home / 'lib'
        _run([cxx, '-shared', '-fPIC', *objs, '-o', lib, f'-L{libdir}', f'-Wl,-rpath,{libdir}', '-lcudart',
              *lflags], verbose)
    return out_dir / CUDA_LIB


def build(cuda: str = 'auto', force: bool = False, verbose: bool = False) -> dict[str, Path | str]:
    """Build into `cache_dir()` unless already there. Returns {'cpu': path, 'cuda': path or reason}.

    cuda: 'auto' (if nvcc is found; a CUDA failure is reported, not raised), 'yes' (raise on failure), 'no'.
    """
    out_dir = cache_dir()
    result: dict[str, Path | str] = {}
    with _lock(out_dir):
        cpu = out_dir / CPU_LIB
        result['cpu'] = cpu if cpu.exists() and not force else build_cpu(out_dir, verbose)
        if cuda == 'no':
            result['cuda'] = 'not requested'
        elif (out_dir / CUDA_LIB).exists() and not force:
            result['cuda'] = out_dir / CUDA_LIB
        elif find_nvcc() is None and cuda == 'auto':
            result['cuda'] = 'nvcc not found'
        else:
            try:
                result['cuda'] = build_cuda(out_dir, verbose)
            except BuildError as e:
                if cuda == 'yes':
                    raise
                result['cuda'] = f'CUDA build failed: {e}'
    return result


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog='python -m sg2tf.ops.build', description=__doc__.split('\n')[0])
    ap.add_argument('--cuda', choices=('auto', 'yes', 'no'), default='auto')
    ap.add_argument('--force', action='store_true', help='rebuild even if the cache has the libraries')
    ap.add_argument('--verbose', '-v', action='store_true')
    args = ap.parse_args(argv)
    try:
        res = build(args.cuda, args.force, args.verbose)
    except BuildError as e:
        print(f'sg2tf.ops.build: {e}', file=sys.stderr)
        return 1
    for key, value in res.items():
        print(f'{key}: {value}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
