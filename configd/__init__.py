"""configd: a lightweight dynamic configuration center."""

from importlib.metadata import version as _version

# One source: the version in pyproject.toml, as installed.
__version__ = _version("configd")
