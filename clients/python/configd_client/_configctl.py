"""`configctl`: configd_client.cli when the [cli] extra is installed, else how to get it.

The console script is installed with the SDK whatever the extras, so it must not import click
before knowing that it is there.
"""

from __future__ import annotations

import importlib.util
import sys

_EXTRA = ("click", "yaml")


def main() -> None:
    missing = [name for name in _EXTRA if importlib.util.find_spec(name) is None]
    if missing:
        sys.exit(
            f"configctl needs the [cli] extra ({', '.join(missing)} not installed): "
            "pip install 'configd-client[cli]'"
        )
    from configd_client.cli import main as run

    run()
