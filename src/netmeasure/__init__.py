"""netmeasure: measure 5G and broadband speed and quality, and prove it against a standard."""

#: The one place of the version (pyproject.toml reads it): importlib.metadata would cost every
#: command 50 ms of imports and a search of the installed distributions.
__version__ = "0.1.0"

#: The distribution's name on the package index (pyproject.toml's [project] name): "netmeasure"
#: there is an unrelated project, which installing by that name would bring. The import
#: package and the command stay `netmeasure`.
DISTRIBUTION = "netmeasure-qos"

__all__ = ["DISTRIBUTION", "__version__"]
