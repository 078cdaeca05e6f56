"""The command group: help, completion, connection errors, exit codes."""

from __future__ import annotations

import importlib.metadata
import os
import socket
import subprocess
from pathlib import Path

import click
import pytest
from cli_helpers import CONFIGCTL, Configctl
from click.testing import CliRunner

from configd_client.cli import cli


def _commands(group: click.Group, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    found = []
    for name, command in sorted(group.commands.items()):
        found.append((*prefix, name))
        if isinstance(command, click.Group):
            found.extend(_commands(command, (*prefix, name)))
    return found


ALL_COMMANDS = _commands(cli)


def test_every_verb_of_the_design_is_there() -> None:
    assert set(ALL_COMMANDS) >= {
        ("ns",), ("ns", "create"), ("ns", "list"), ("ns", "delete"),
        ("schema",), ("schema", "get"), ("schema", "set"),
        ("get",), ("put",), ("delete",), ("apply",), ("diff",), ("history",),
        ("rollback",), ("watch",), ("export",), ("import",),
    }  # fmt: skip


@pytest.mark.parametrize("path", ALL_COMMANDS, ids=" ".join)
def test_every_command_has_help_with_an_example(path: tuple[str, ...]) -> None:
    result = CliRunner().invoke(cli, [*path, "--help"])
    assert result.exit_code == 0
    assert "Example" in result.stdout
    assert "configctl " in result.stdout


def test_group_help_documents_completion_and_exit_codes() -> None:
    result = CliRunner().invoke(cli, ["--help"])
    assert "_CONFIGCTL_COMPLETE=bash_source configctl" in result.stdout
    assert "Exit codes:" in result.stdout
    assert "9  not confirmed" in result.stdout


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_unreachable_server_is_one_line_without_traceback() -> None:
    addr = f"127.0.0.1:{_free_port()}"
    run = Configctl(addr).script("ns", "list")
    assert run.code == 3
    assert len(run.errors) == 1
    assert run.errors[0].startswith(f"Error: cannot reach configd at {addr}: ")
    assert "Traceback" not in run.stderr
    assert run.stdout == ""


def test_unreachable_server_in_process_too() -> None:
    run = Configctl(f"127.0.0.1:{_free_port()}")("get", "some/ns", "key")
    assert run.code == 3
    assert run.errors[0].startswith("Error: cannot reach configd at 127.0.0.1:")


def test_address_comes_from_the_environment(configctl: Configctl, ns: str) -> None:
    # `script` passes the address only as CONFIGD_ADDR.
    assert configctl.script("ns", "create", ns).code == 0
    run = configctl.script("-o", "json", "ns", "list", ns)
    assert run.code == 0
    assert f'"name": "{ns}"' in run.stdout


def test_shell_completion_script_is_generated() -> None:
    env = dict(os.environ, _CONFIGCTL_COMPLETE="bash_source")
    done = subprocess.run([CONFIGCTL], env=env, capture_output=True, text=True, check=False)
    assert done.returncode == 0
    assert "_configctl_completion" in done.stdout


def test_usage_errors_exit_2() -> None:
    result = CliRunner().invoke(cli, ["put", "only-namespace"])
    assert result.exit_code == 2
    result = CliRunner().invoke(cli, ["--tls-server-name", "x", "--bogus"])
    assert result.exit_code == 2


def test_tls_cert_needs_key(tmp_path: Path) -> None:
    cert = tmp_path / "cert.pem"
    cert.write_text("x")
    result = CliRunner().invoke(cli, ["--tls-cert", str(cert), "ns", "list"])
    assert result.exit_code == 2
    assert "--tls-cert and --tls-key go together" in result.stderr


def test_tls_against_a_plaintext_server_fails_cleanly(configctl: Configctl) -> None:
    run = Configctl(configctl.addr)("--tls", "--timeout", "5", "ns", "list")
    assert run.code == 3
    assert run.errors[0].startswith(f"Error: cannot reach configd at {configctl.addr}")


def test_version_is_the_client_distributions() -> None:
    run = CliRunner().invoke(cli, ["--version"])
    assert (run.exit_code, run.stdout) == (
        0,
        f"configctl, version {importlib.metadata.version('configd-client')}\n",
    )
