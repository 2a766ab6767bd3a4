"""netmeasure: measure 5G and broadband speed and quality, and prove it against a standard."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("netmeasure")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]
