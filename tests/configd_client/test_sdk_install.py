"""The SDK installs alone: a fresh venv gets configd-client and a handful of packages, nothing
of the server's; configctl comes with the [cli] extra and says how to get it otherwise.

pip resolves the SDK's dependencies from the configured registry (through its cache) and the
SDK itself from its folder, never by name.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

ROOT = Path(__file__).resolve().parents[2]
CLIENT_DIR = ROOT / "clients" / "python"
# The server's own dependencies (and the server), as distribution names and as modules.
SERVER_ONLY = {
    "aiohttp": "aiohttp",
    "aiosqlite": "aiosqlite",
    "uvloop": "uvloop",
    "prometheus-client": "prometheus_client",
    "configd": "configd",
}
# "A handful": grpcio, grpcio-status, protobuf, googleapis-common-protos, jsonschema-rs and
# what they pull in. A new transitive dependency past this is worth a look before it ships.
MAX_SDK_PACKAGES = 10

PROBE = """\
import importlib.metadata, json, sys
import configd_client
from configd_client import AsyncConfigClient, ConfigClient
print(json.dumps({
    "modules": sorted(sys.modules),
    "dists": sorted(d.metadata["Name"] for d in importlib.metadata.distributions()),
    "version": configd_client.__version__,
}))
"""


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _run(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    # Away from the repository, whose folders would otherwise be importable from the cwd.
    return subprocess.run(
        [str(a) for a in args], capture_output=True, text=True, check=False, timeout=600, cwd=cwd
    )


def _dists(python: Path) -> set[str]:
    result = _run(
        python,
        "-m",
        "pip",
        "list",
        "--format=json",
        "--disable-pip-version-check",
        cwd=python.parent,
    )
    assert result.returncode == 0, result.stderr
    return {_normal(d["name"]) for d in json.loads(result.stdout)}


def _install(python: Path, requirement: str) -> set[str]:
    before = _dists(python)
    result = _run(
        python,
        "-m",
        "pip",
        "install",
        "--quiet",
        "--disable-pip-version-check",
        requirement,
        cwd=python.parent,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return _dists(python) - before


def test_the_sdk_installs_alone_and_configctl_comes_with_the_cli_extra(tmp_path: Path) -> None:
    # A copy: pip builds a local folder in place, which would leave build/ in the worktree.
    source = tmp_path / "configd-client"
    shutil.copytree(
        CLIENT_DIR, source, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info", "build")
    )
    venv = tmp_path / "venv"
    created = _run(sys.executable, "-m", "venv", venv, cwd=tmp_path)
    assert created.returncode == 0, created.stderr
    python = venv / "bin" / "python"

    installed = _install(python, str(source))
    print(f"pip install clients/python: {len(installed)} packages: {sorted(installed)}")
    assert "configd-client" in installed
    assert not installed & set(SERVER_ONLY), sorted(installed)
    assert len(installed) <= MAX_SDK_PACKAGES, sorted(installed)

    probe = _run(python, "-I", "-c", PROBE, cwd=tmp_path)
    assert probe.returncode == 0, probe.stderr
    seen = json.loads(probe.stdout)
    assert not {_normal(d) for d in seen["dists"]} & set(SERVER_ONLY)
    imported = {module.partition(".")[0] for module in seen["modules"]}
    assert not imported & set(SERVER_ONLY.values()), sorted(imported & set(SERVER_ONLY.values()))
    version = tomllib.loads((CLIENT_DIR / "pyproject.toml").read_text())["project"]["version"]
    assert seen["version"] == version

    configctl = venv / "bin" / "configctl"
    bare = _run(configctl, "--version", cwd=tmp_path)
    assert bare.returncode == 1
    assert "pip install 'configd-client[cli]'" in bare.stderr, bare.stderr
    assert "Traceback" not in bare.stderr

    added = _install(python, f"{source}[cli]")
    print(f"pip install clients/python[cli]: {len(added)} more: {sorted(added)}")
    assert added == {"click", "pyyaml"}
    with_cli = _run(configctl, "--version", cwd=tmp_path)
    assert with_cli.returncode == 0, with_cli.stderr
    assert with_cli.stdout.strip() == f"configctl, version {version}"
