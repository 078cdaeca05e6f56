"""`configctl token create|list|revoke` against a real configd with authentication on."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from cli_helpers import Configctl, Watcher

from configd.testing import ConfigdProcess


@pytest.fixture(scope="module")
def auth_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ConfigdProcess]:
    server = ConfigdProcess(tmp_path_factory.mktemp("cli-auth") / "data", auth=True)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def test_token_lifecycle(auth_server: ConfigdProcess) -> None:
    configctl = Configctl(auth_server.grpc_addr)
    admin = ("--token", auth_server.admin_token)
    assert configctl("ns", "list").code != 0  # no token
    configctl.ok(*admin, "ns", "create", "payments/db")
    created = configctl.ok(
        *admin,
        "-o",
        "json",
        "token",
        "create",
        "ci",
        "--grant",
        "write:payments/",
        "--expires-in",
        "1h",
    )
    data = json.loads(created.stdout)
    assert data["grants"] == [{"role": "write", "prefix": "payments/"}]
    assert data["expires_at"]
    secret = data["secret"]
    configctl.ok("--token", secret, "put", "payments/db", "pool", "5")
    history = json.loads(
        configctl.ok("--token", secret, "-o", "json", "history", "payments/db").stdout
    )
    # The write is recorded under the token's name, the namespace's creation under the admin's.
    assert [(e["kind"], e["author"]) for e in history["entries"]] == [
        ("put", "ci"),
        ("create-namespace", "admin"),
    ]
    denied = configctl("--token", secret, "ns", "create", "payments/other")
    assert denied.code != 0
    assert "does not have the admin role" in denied.stderr
    table = configctl.ok(*admin, "token", "list").stdout
    assert "ci" in table
    assert "write:payments/" in table
    assert secret not in table
    configctl.ok(*admin, "token", "revoke", "ci")
    revoked = configctl("--token", secret, "get", "payments/db", "pool")
    assert revoked.code != 0
    assert "revoked" in revoked.stderr
    bad = configctl(*admin, "token", "create", "x", "--grant", "owner:")
    assert bad.code != 0
    assert "ROLE[:PREFIX]" in bad.stderr


def test_watch_streams_with_a_token(auth_server: ConfigdProcess) -> None:
    """Streaming calls carry the token too (not only unary ones)."""
    configctl = Configctl(auth_server.grpc_addr)
    admin = ("--token", auth_server.admin_token)
    configctl.ok(*admin, "ns", "create", "streamed/app")
    configctl.ok(*admin, "put", "streamed/app", "k", "1")
    watcher = Watcher(
        configctl,
        "streamed/app",
        "--from-revision",
        "1",
        "-o",
        "json",
        token=auth_server.admin_token,
    )
    try:
        kinds = [json.loads(watcher.read_line())["kind"] for _ in range(2)]
        assert kinds == ["create-namespace", "put"]
        assert watcher.interrupt() == 0
    finally:
        watcher.close()
