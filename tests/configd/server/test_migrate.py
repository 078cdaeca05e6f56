"""`configd migrate`: a SQLite data directory moved to PostgreSQL, whole and verified."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import grpc
import grpc.aio
import pytest

from configd.testing import ConfigdProcess
from configd_client.wire import admin_pb2, admin_pb2_grpc
from configd_client.wire import config_pb2 as pb
from configd_client.wire import config_pb2_grpc as pb_grpc
from tests.configd.storage.test_backup import populate, populate_releases, releases_of, state_at


def migrate(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "configd", "migrate", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def bearer(token: str) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {token}"),)


async def test_a_data_directory_moves_with_history_compaction_and_tokens(
    tmp_path: Path, pg_dsn: str
) -> None:
    source_dir = tmp_path / "sqlite"
    source = ConfigdProcess(source_dir, auth=True)
    source.start()
    try:
        admin = bearer(source.admin_token)
        async with grpc.aio.insecure_channel(source.grpc_addr) as channel:
            stub = pb_grpc.ConfigServiceStub(channel)
            admin_stub = admin_pb2_grpc.AdminServiceStub(channel)

            await populate(_Authorized(stub, admin))  # type: ignore[arg-type]
            await populate_releases(channel, admin)
            await admin_stub.Compact(admin_pb2.CompactRequest(revision=10), metadata=admin)
            reader = await admin_stub.CreateToken(
                admin_pb2.CreateTokenRequest(
                    name="reader",
                    grants=[admin_pb2.Grant(prefix="svc/", role=admin_pb2.ROLE_READ)],
                ),
                metadata=admin,
            )
            await admin_stub.RevokeToken(
                admin_pb2.RevokeTokenRequest(name="reader"), metadata=admin
            )
            head = await stub.GetNamespace(pb.GetNamespaceRequest(name="svc/a"), metadata=admin)
            revision = head.current_revision
            original = await state_at(_Authorized(stub, admin), revision)  # type: ignore[arg-type]
            original_releases = await releases_of(channel, admin)

        # Refused while the source is served: the copy could miss writes.
        served = migrate("--from", str(source_dir), "--to", pg_dsn)
        assert served.returncode == 1
        assert "is serving" in served.stderr
        assert "stop it" in served.stderr
    finally:
        source.stop()

    result = migrate("--from", str(source_dir), "--to", pg_dsn)
    assert result.returncode == 0, result.stderr
    assert f"revision {revision}" in result.stdout
    assert "matches" in result.stdout

    replica = ConfigdProcess(tmp_path / "runtime", "--store", pg_dsn, auth=True)
    replica.start()
    try:
        async with grpc.aio.insecure_channel(replica.grpc_addr) as channel:
            stub = pb_grpc.ConfigServiceStub(channel)
            assert await state_at(_Authorized(stub, admin), revision) == original  # type: ignore[arg-type]
            assert await releases_of(channel, admin) == original_releases
            status = await admin_pb2_grpc.AdminServiceStub(channel).GetStatus(
                admin_pb2.GetStatusRequest(), metadata=admin
            )
            assert status.compact_revision == 10
            # The revoked token stays revoked; the admin token still works; writes go on
            # from the migrated revision.
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await stub.GetNamespace(
                    pb.GetNamespaceRequest(name="svc/a"), metadata=bearer(reader.secret)
                )
            assert refused.value.code() is grpc.StatusCode.UNAUTHENTICATED
            reply = await stub.Put(
                pb.PutRequest(namespace="svc/a", key="port", value_json="1"), metadata=admin
            )
            assert reply.revision == revision + 1
    finally:
        replica.stop()

    again = migrate("--from", str(source_dir), "--to", pg_dsn)
    assert again.returncode == 1
    assert "already holds configd data" in again.stderr


class _Authorized:
    """A stub whose unary calls carry `metadata` (state_at takes a bare stub)."""

    def __init__(self, stub: pb_grpc.ConfigServiceStub, metadata: tuple[tuple[str, str], ...]):
        self._stub = stub
        self._metadata = metadata

    def __getattr__(self, name: str) -> object:
        method = getattr(self._stub, name)
        return lambda request: method(request, metadata=self._metadata)


def test_bad_arguments_are_refused_naming_the_flag(tmp_path: Path) -> None:
    not_a_dsn = migrate("--from", str(tmp_path), "--to", "/var/lib/configd")
    assert not_a_dsn.returncode == 2
    assert "--to must be a PostgreSQL connection string" in not_a_dsn.stderr
    empty = migrate("--from", str(tmp_path / "nothing"), "--to", "postgresql://127.0.0.1:1/x")
    assert empty.returncode == 1
    assert "holds no configd database" in empty.stderr
    assert "--from" in empty.stderr
