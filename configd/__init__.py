"""configd: a lightweight dynamic configuration center."""

__version__ = "0.1.0"
