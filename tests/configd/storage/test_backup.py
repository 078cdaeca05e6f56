"""Online backup while writes continue, and restore (issue 8)."""

from __future__ import annotations

import asyncio
import hashlib
import json
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import grpc
import grpc.aio
import pytest

from configd.server.workers import read_all
from configd.storage.sqlite.backup import RestoreError, restore
from configd.storage.sqlite.migrations import MIGRATIONS
from configd.testing import ConfigdProcess
from configd_client.wire import admin_pb2, admin_pb2_grpc, release_pb2, release_pb2_grpc
from configd_client.wire import config_pb2 as pb
from configd_client.wire import config_pb2_grpc as pb_grpc

Metadata = tuple[tuple[str, str], ...]


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, timeout=60, check=False)


def configctl(server: ConfigdProcess, *args: str) -> subprocess.CompletedProcess[str]:
    return run(sys.executable, "-m", "configd_client.cli", "--addr", server.grpc_addr, *args)


async def populate(stub: pb_grpc.ConfigServiceStub) -> None:
    properties: dict[str, Any] = {"port": {"type": "integer"}}
    schema = {"type": "object", "properties": properties}
    await stub.CreateNamespace(
        pb.CreateNamespaceRequest(name="svc/a", schema_json=json.dumps(schema))
    )
    await stub.CreateNamespace(pb.CreateNamespaceRequest(name="svc/b"))
    await stub.CreateNamespace(pb.CreateNamespaceRequest(name="svc/gone"))
    for i in range(20):
        await stub.Put(pb.PutRequest(namespace="svc/a", key="port", value_json=str(8000 + i)))
        await stub.Put(
            pb.PutRequest(namespace="svc/b", key=f"k{i % 5}", value_json=json.dumps([i]))
        )
    await stub.Delete(pb.DeleteRequest(namespace="svc/b", key="k0", message="drop"))
    await stub.DeleteNamespace(pb.DeleteNamespaceRequest(name="svc/gone"))
    properties["host"] = {"type": "string"}
    await stub.SetSchema(pb.SetSchemaRequest(name="svc/a", schema_json=json.dumps(schema)))


async def populate_releases(channel: grpc.aio.Channel, metadata: Metadata = ()) -> None:
    """After populate(): a promoted and an aborted release, and one left running."""
    stub = release_pb2_grpc.ReleaseServiceStub(channel)
    eu = [release_pb2.LabelSelector(label="zone", value="eu")]
    for name, document, end in (
        ("svc/b", {"k1": [100], "k9": [9]}, stub.PromoteRelease),
        ("svc/a", {"port": 1}, stub.AbortRelease),
    ):
        started = await stub.StartRelease(
            release_pb2.StartReleaseRequest(
                namespace=name, document_json=json.dumps(document), selectors=eu, percent=50
            ),
            metadata=metadata,
        )
        await end(
            release_pb2.EndReleaseRequest(namespace=name, release_id=started.revision),
            metadata=metadata,
        )
    await stub.StartRelease(
        release_pb2.StartReleaseRequest(
            namespace="svc/b", document_json='{"k2": [2]}', max_failures=1, message="canary"
        ),
        metadata=metadata,
    )


async def releases_of(channel: grpc.aio.Channel, metadata: Metadata = ()) -> list[bytes]:
    """The newest release of each namespace populate_releases() released, as stored."""
    stub = release_pb2_grpc.ReleaseServiceStub(channel)
    found = []
    for name in ("svc/a", "svc/b"):
        reply = await stub.GetRelease(
            release_pb2.GetReleaseRequest(namespace=name), metadata=metadata
        )
        found.append(reply.release.SerializeToString())
    return found


async def state_at(stub: pb_grpc.ConfigServiceStub, revision: int) -> dict[str, Any]:
    """Every namespace at `revision` and all history up to it, as comparable data."""
    listing = await stub.ListNamespaces(pb.ListNamespacesRequest(page_size=1000))
    state: dict[str, Any] = {}
    for info in listing.namespaces:
        if info.create_revision > revision:
            continue
        view = await stub.GetNamespace(pb.GetNamespaceRequest(name=info.name, revision=revision))
        entries = []
        token = ""
        while True:
            page = await stub.History(
                pb.HistoryRequest(namespace=info.name, page_size=500, page_token=token)
            )
            entries += [e.SerializeToString() for e in page.entries if e.revision <= revision]
            token = page.next_page_token
            if not token:
                break
        schema = await stub.GetSchema(pb.GetSchemaRequest(name=info.name))
        state[info.name] = {
            "document": json.loads(view.document_json or "{}"),
            "keys": sorted(k.SerializeToString() for k in view.keys),
            "revision": view.namespace.mod_revision,
            "schema": (schema.schema_json, schema.version),  # no schema change after populate
            "history": entries,
        }
    return state


async def test_backup_during_writes_restores_every_namespace_history_and_revision(
    configd_server: ConfigdProcess, tmp_path: Path
) -> None:
    backup_file = tmp_path / "backup.db"
    async with grpc.aio.insecure_channel(configd_server.grpc_addr) as channel:
        stub = pb_grpc.ConfigServiceStub(channel)
        await populate(stub)
        writing = True

        async def keep_writing() -> int:
            n = 0
            while writing:
                n += 1
                await stub.Put(pb.PutRequest(namespace="svc/b", key="busy", value_json=str(n)))
                await asyncio.sleep(0.01)  # a steady trickle, not a flood of history to compare
            return n

        writer = asyncio.create_task(keep_writing())
        result = await asyncio.to_thread(configctl, configd_server, "backup", str(backup_file))
        writing = False
        written = await writer
        assert result.returncode == 0, result.stderr
        assert "backed up revision" in result.stderr
        backup_revision = int(result.stderr.split("backed up revision ")[1].split()[0])
        assert written > 0
        original = await state_at(stub, backup_revision)

    restored_dir = tmp_path / "restored"
    result = run(
        sys.executable,
        "-m",
        "configd",
        "restore",
        str(backup_file),
        "--data-dir",
        str(restored_dir),
    )
    assert result.returncode == 0, result.stderr
    assert f"restored revision {backup_revision}" in result.stdout
    copy = ConfigdProcess(restored_dir)
    copy.start()
    try:
        async with grpc.aio.insecure_channel(copy.grpc_addr) as channel:
            stub = pb_grpc.ConfigServiceStub(channel)
            assert await state_at(stub, backup_revision) == original
            view = await stub.GetNamespace(pb.GetNamespaceRequest(name="svc/a"))
            assert view.current_revision == backup_revision
            # The restored server takes writes, continuing the revision sequence.
            reply = await stub.Put(pb.PutRequest(namespace="svc/a", key="port", value_json="1"))
            assert reply.revision == backup_revision + 1
    finally:
        copy.stop()


def test_backup_refuses_to_overwrite_a_file(configd_server: ConfigdProcess, tmp_path: Path) -> None:
    target = tmp_path / "exists.db"
    target.write_bytes(b"keep me")
    result = configctl(configd_server, "backup", str(target))
    assert result.returncode == 2
    assert "exists; pass --force" in result.stderr
    assert target.read_bytes() == b"keep me"


def make_database(path: Path, version: int) -> None:
    with sqlite3.connect(path) as db:
        for script in MIGRATIONS:
            db.executescript(script)
        db.execute(f"PRAGMA user_version = {version}")
    db.close()


def test_restore_refuses_bad_input_and_non_empty_dirs(tmp_path: Path) -> None:
    good = tmp_path / "good.db"
    make_database(good, len(MIGRATIONS))
    newer = tmp_path / "newer.db"
    make_database(newer, len(MIGRATIONS) + 1)
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"not a database" * 100)
    foreign = tmp_path / "foreign.db"
    with sqlite3.connect(foreign) as db:
        db.execute("CREATE TABLE t (x)")
    db.close()

    cases = {
        newer: "newer than this configd understands",
        junk: "is not a readable configd database",
        foreign: "is not a configd database",
    }
    for source, message in cases.items():
        with pytest.raises(RestoreError, match=message):
            restore(source, tmp_path / "target")
    assert not (tmp_path / "target" / "configd.db").exists()

    data = tmp_path / "data"
    assert restore(good, data).revision == 0
    before = (data / "configd.db").read_bytes()
    result = run(sys.executable, "-m", "configd", "restore", str(good), "--data-dir", str(data))
    assert result.returncode == 1
    assert "is not empty" in result.stderr
    assert "--force" in result.stderr
    assert (data / "configd.db").read_bytes() == before
    # Forced, the old database is kept beside the new one.
    result = run(
        sys.executable, "-m", "configd", "restore", str(good), "--data-dir", str(data), "--force"
    )
    assert result.returncode == 0, result.stderr
    kept = list(data.glob("configd.db.before-restore-*"))
    assert [p.read_bytes() for p in kept] == [before]


def test_restore_refuses_a_running_server(configd_server: ConfigdProcess, tmp_path: Path) -> None:
    good = tmp_path / "good.db"
    make_database(good, len(MIGRATIONS))
    with pytest.raises(RestoreError, match="a configd process is using"):
        restore(good, configd_server.data_dir, force=True)


async def test_backup_through_either_worker_while_writes_go_on(tmp_path: Path) -> None:
    """`configd serve --workers 2`: a backup taken by either worker (whichever the call lands
    on), while writes land on both, restores to exactly the state at its revision."""
    with ConfigdProcess(tmp_path / "data", workers=2) as server:
        deadline = time.monotonic() + 60
        while len(pids := [int(w["pid"]) for w in read_all(server.data_dir)]) != 2:
            assert time.monotonic() < deadline, "both workers did not start"
            await asyncio.sleep(0.05)
        async with grpc.aio.insecure_channel(server.grpc_addr) as channel:
            stub = pb_grpc.ConfigServiceStub(channel)
            await populate(stub)
            backups: list[tuple[Path, int]] = []
            for pid in pids:
                socket_path = server.data_dir.resolve() / "run" / f"grpc-{pid}.sock"
                done = asyncio.Event()

                async def keep_writing(done: asyncio.Event = done) -> None:
                    n = 0
                    while not done.is_set():
                        n += 1
                        await stub.Put(
                            pb.PutRequest(namespace="svc/b", key="busy", value_json=str(n))
                        )
                        await asyncio.sleep(0.01)

                writer = asyncio.create_task(keep_writing())
                path = tmp_path / f"backup-{pid}.db"
                async with grpc.aio.insecure_channel(f"unix:{socket_path}") as worker:
                    admin = admin_pb2_grpc.AdminServiceStub(worker)
                    chunks = [c async for c in admin.Backup(admin_pb2.BackupRequest())]
                done.set()
                await writer
                data = b"".join(c.data for c in chunks)
                assert hashlib.sha256(data).hexdigest() == chunks[-1].sha256
                path.write_bytes(data)
                backups.append((path, chunks[-1].revision))
            originals = [await state_at(stub, revision) for _, revision in backups]
    for (path, revision), original in zip(backups, originals, strict=True):
        restored_dir = tmp_path / f"restored-{path.stem}"
        result = run(
            sys.executable, "-m", "configd", "restore", str(path), "--data-dir", str(restored_dir)
        )
        assert result.returncode == 0, result.stderr
        with ConfigdProcess(restored_dir) as copy:
            async with grpc.aio.insecure_channel(copy.grpc_addr) as channel:
                stub = pb_grpc.ConfigServiceStub(channel)
                assert await state_at(stub, revision) == original
                view = await stub.GetNamespace(pb.GetNamespaceRequest(name="svc/a"))
                assert view.current_revision == revision


async def test_a_postgresql_store_backs_up_into_a_file_that_restores(
    tmp_path: Path, pg_dsn: str
) -> None:
    server = ConfigdProcess(tmp_path / "runtime", "--store", pg_dsn)
    server.start()
    try:
        async with grpc.aio.insecure_channel(server.grpc_addr) as channel:
            stub = pb_grpc.ConfigServiceStub(channel)
            await populate(stub)
            await populate_releases(channel)
            backup_file = tmp_path / "pg-backup.db"
            result = await asyncio.to_thread(configctl, server, "backup", str(backup_file))
            assert result.returncode == 0, result.stderr
            revision = int(result.stderr.split("backed up revision ")[1].split()[0])
            original = await state_at(stub, revision)
            original_releases = await releases_of(channel)
    finally:
        server.stop()
    restored_dir = tmp_path / "restored"
    restored = run(
        sys.executable,
        "-m",
        "configd",
        "restore",
        str(backup_file),
        "--data-dir",
        str(restored_dir),
    )
    assert restored.returncode == 0, restored.stderr
    with ConfigdProcess(restored_dir) as copy:
        async with grpc.aio.insecure_channel(copy.grpc_addr) as channel:
            assert await state_at(pb_grpc.ConfigServiceStub(channel), revision) == original
            assert await releases_of(channel) == original_releases
