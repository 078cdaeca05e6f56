"""configctl, the configd admin CLI (`configctl --help`)."""

from configd_client.cli.app import cli, main

__all__ = ["cli", "main"]
