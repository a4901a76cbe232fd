"""codefest: run a code fest of AI pilot projects for intellectual-property offices."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("codefest")
except PackageNotFoundError:  # running from a checkout that was never installed
    __version__ = "0.0.0+unknown"
