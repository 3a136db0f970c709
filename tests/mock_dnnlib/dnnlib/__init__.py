"""Test-only stand-in for NVIDIA's `dnnlib` package: just enough to run sg2tf's TF1 build functions."""


class EasyDict(dict):
    """A dict whose items are also attributes."""

    def __getattr__(self, name):
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None

    def __setattr__(self, name, value):
        self[name] = value

    def __delattr__(self, name):
        del self[name]
