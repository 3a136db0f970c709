"""Test-only stand-in for `dnnlib.tflib`."""
from dnnlib.tflib.network import Network  # noqa: F401
