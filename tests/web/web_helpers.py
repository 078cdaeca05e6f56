"""Helpers shared by the browser tests and their fixtures (a module with a unique name, so
test files can import it whatever conftest module is loaded)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from configd.testing import ConfigdProcess

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def require_browser() -> None:
    """Skip without Chromium/Playwright locally; in CI (CI=true) their absence is a failure."""
    missing = []
    if not Path(CHROMIUM).exists():
        missing.append(CHROMIUM)
    try:
        import playwright  # noqa: F401
    except ImportError:
        missing.append("the playwright package")
    if missing:
        message = f"{' and '.join(missing)} missing: run bash scripts/setup_system.sh"
        if os.environ.get("CI"):
            pytest.fail(message, pytrace=False)
        pytest.skip(message, allow_module_level=True)


def configctl(server: ConfigdProcess, *args: str) -> str:
    """Run the real configctl against `server`; returns its standard output."""
    done = subprocess.run(
        [sys.executable, "-m", "configd_client.cli", "--addr", server.grpc_addr, *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, f"configctl {' '.join(args)} failed: {done.stderr}"
    return done.stdout


def npm_available() -> bool:
    return shutil.which("npm") is not None and shutil.which("node") is not None
