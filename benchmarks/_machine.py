"""What every benchmark prints beside its numbers: the CPU model (lscpu) and peak memory."""
from __future__ import annotations

import resource
import subprocess


def cpu_model() -> str:
    """lscpu's 'Model name', or 'unknown'."""
    try:
        out = subprocess.run(['lscpu'], capture_output=True, text=True).stdout
    except OSError:
        return 'unknown'
    return next((ln.split(':', 1)[1].strip() for ln in out.splitlines() if ln.startswith('Model name')), 'unknown')


def peak_rss_mib() -> float:
    """Peak resident memory of this process so far, MiB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
