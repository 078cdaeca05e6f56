"""One version for both distributions: the server requires the SDK of exactly its own version."""

from __future__ import annotations

import tomllib
from importlib.metadata import requires, version
from pathlib import Path

from click.testing import CliRunner
from packaging.requirements import Requirement

import configd
import configd_client
from configd.server.cli import main

ROOT = Path(__file__).resolve().parent.parent


def test_version_attributes_are_the_installed_versions() -> None:
    assert configd.__version__ == version("configd")
    assert configd_client.__version__ == version("configd-client")
    assert version("configd") == version("configd-client")


def test_the_server_requires_the_client_of_exactly_its_version() -> None:
    pins = [Requirement(line) for line in requires("configd") or []]
    client = [r for r in pins if r.name == "configd-client"]
    # The runtime requirement (no marker) and the dev extra's [cli] one, both pinned exactly.
    assert any(r.marker is None for r in client), client
    assert {str(r.specifier) for r in client} == {f"=={version('configd')}"}


def test_the_pyproject_files_agree() -> None:
    # The installed metadata above can lag behind an edit until the venv is reinstalled.
    server = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    client = tomllib.loads((ROOT / "clients" / "python" / "pyproject.toml").read_text())["project"]
    assert server["version"] == client["version"]
    pins = [
        Requirement(line)
        for line in [*server["dependencies"], *server["optional-dependencies"]["dev"]]
    ]
    assert {str(r.specifier) for r in pins if r.name == "configd-client"} == {
        f"=={client['version']}"
    }


def test_configd_version_reports_the_installed_version() -> None:
    result = CliRunner().invoke(main, ["--version"])
    assert result.exit_code == 0, result.output
    assert result.output == f"configd, version {version('configd')}\n"
