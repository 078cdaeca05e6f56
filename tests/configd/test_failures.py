"""Failure at the edges: full disk, read-only data directory, locked or corrupt database.

Each case ends in a clear error (a refused write answered UNAVAILABLE, or a non-zero exit
with a one-line reason) and destroys no data. The full disk is a real one (a small tmpfs) and
the read-only directory a read-only bind mount; both need mount(2) (root in a container that
allows it), otherwise those tests are skipped.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import grpc
import grpc.aio
import pytest

from configd.testing import ConfigdProcess
from configd_client.wire import config_pb2 as pb
from configd_client.wire import config_pb2_grpc as pb_grpc


def _mount(*args: str) -> None:
    result = subprocess.run(["mount", *args], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        pytest.skip(f"cannot mount here (needs root and mount(2)): {result.stderr.strip()}")


def _umount(path: Path) -> None:
    subprocess.run(["umount", str(path)], capture_output=True, check=False)


@contextlib.contextmanager
def small_disk(path: Path, size: str) -> Iterator[Path]:
    path.mkdir()
    _mount("-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path))
    try:
        yield path
    finally:
        _umount(path)


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def run_serve(data_dir: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "configd",
            "serve",
            "--no-auth",
            "--data-dir",
            str(data_dir),
            "--listen",
            "127.0.0.1:0",
            "--http-listen",
            "127.0.0.1:0",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


async def put(stub: pb_grpc.ConfigServiceStub, key: str, value: object) -> int:
    reply = await stub.Put(
        pb.PutRequest(namespace="edge/app", key=key, value_json=json.dumps(value)), timeout=30
    )
    return int(reply.revision)


async def get(stub: pb_grpc.ConfigServiceStub, key: str) -> object:
    reply = await stub.Get(pb.GetRequest(namespace="edge/app", key=key), timeout=30)
    return json.loads(reply.value_json)


def fill(directory: Path) -> Path:
    """Fill the file system holding `directory` to the last byte."""
    filler = directory / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT)
    try:
        for size in (65536, 4096, 1):
            with contextlib.suppress(OSError):
                while True:
                    os.write(fd, b"\0" * size)
    finally:
        os.close(fd)
    return filler


async def test_full_disk_refuses_writes_keeps_reads_and_recovers(tmp_path: Path) -> None:
    with small_disk(tmp_path / "disk", "8m") as disk:
        server = ConfigdProcess(disk / "data")
        server.log_path = tmp_path / "server.log"  # the log must not need the full disk
        server.start()
        try:
            async with grpc.aio.insecure_channel(server.grpc_addr) as channel:
                stub = pb_grpc.ConfigServiceStub(channel)
                await stub.CreateNamespace(pb.CreateNamespaceRequest(name="edge/app"))
                acked = {f"k{i}": {"i": i} for i in range(5)}
                for key, value in acked.items():
                    await put(stub, key, value)
                filler = fill(disk)
                big = {"blob": "x" * 200_000}  # needs WAL pages the disk no longer has
                with pytest.raises(grpc.aio.AioRpcError) as refused:
                    await put(stub, "big", big)
                assert refused.value.code() is grpc.StatusCode.UNAVAILABLE
                details = refused.value.details() or ""
                assert "could not be stored" in details
                assert "full" in details
                assert "nothing was committed" in details
                # Reads go on, and nothing half-written is visible.
                for key, value in acked.items():
                    assert await get(stub, key) == value
                with pytest.raises(grpc.aio.AioRpcError) as absent:
                    await get(stub, "big")
                assert absent.value.code() is grpc.StatusCode.NOT_FOUND
                # Space returns: writes are accepted again, with the next revision.
                filler.unlink()
                revision = await put(stub, "big", big)
                assert revision == len(acked) + 2  # create + 5 puts + this one
                assert await get(stub, "big") == big
            assert server.stop() == 0
            server.start()
            async with grpc.aio.insecure_channel(server.grpc_addr) as channel:
                stub = pb_grpc.ConfigServiceStub(channel)
                expected: dict[str, object] = {**acked, "big": big}
                for key, stored in expected.items():
                    assert await get(stub, key) == stored
        finally:
            server.stop()
        with contextlib.closing(sqlite3.connect(disk / "data" / "configd.db")) as db:
            assert db.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    assert "Traceback" not in server.logs()


async def test_read_only_data_dir_is_a_clear_error_and_keeps_the_data(tmp_path: Path) -> None:
    data = tmp_path / "data"
    server = ConfigdProcess(data)
    server.start()
    async with grpc.aio.insecure_channel(server.grpc_addr) as channel:
        stub = pb_grpc.ConfigServiceStub(channel)
        await stub.CreateNamespace(pb.CreateNamespaceRequest(name="edge/app"))
        await put(stub, "k", 1)
    assert server.stop() == 0
    before = digest(data / "configd.db")
    _mount("--bind", str(data), str(data))
    try:
        _mount("-o", "remount,bind,ro", str(data))
        result = run_serve(data)
    finally:
        _umount(data)
    assert result.returncode == 1
    assert "configd: cannot start:" in result.stderr
    assert "Read-only file system" in result.stderr
    assert "Traceback" not in result.stderr
    assert digest(data / "configd.db") == before
    server.start()  # writable again: everything is there
    try:
        async with grpc.aio.insecure_channel(server.grpc_addr) as channel:
            assert await get(pb_grpc.ConfigServiceStub(channel), "k") == 1
    finally:
        server.stop()


@pytest.mark.parametrize(
    ("damage", "reason"),
    [
        ("not-a-database", "file is not a database"),
        ("damaged-pages", "database disk image is malformed"),
    ],
)
def test_corrupt_database_is_a_clear_error_and_is_not_touched(
    tmp_path: Path, damage: str, reason: str
) -> None:
    data = tmp_path / "data"
    data.mkdir()
    db = data / "configd.db"
    if damage == "not-a-database":
        db.write_bytes(b"this is not SQLite\n" * 500)
    else:
        server = ConfigdProcess(data)
        server.start()
        server.stop()
        raw = bytearray(db.read_bytes())
        raw[4096:] = b"\xff" * (len(raw) - 4096)  # keep the header, wreck every other page
        db.write_bytes(bytes(raw))
    before = digest(db)
    result = run_serve(data)
    assert result.returncode == 1
    assert result.stderr.startswith("configd: cannot start: ")
    assert str(db) in result.stderr
    assert reason in result.stderr
    assert "Traceback" not in result.stderr
    assert digest(db) == before


async def test_locked_database_refuses_writes_serves_reads_and_recovers(
    configd_server: ConfigdProcess,
) -> None:
    async with grpc.aio.insecure_channel(configd_server.grpc_addr) as channel:
        stub = pb_grpc.ConfigServiceStub(channel)
        await stub.CreateNamespace(pb.CreateNamespaceRequest(name="edge/app"))
        await put(stub, "k", 1)
        # Another program holds SQLite's write lock (longer than configd's 5 s busy timeout).
        locker = sqlite3.connect(configd_server.data_dir / "configd.db", isolation_level=None)
        try:
            locker.execute("BEGIN IMMEDIATE")
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await put(stub, "k", 2)
            assert refused.value.code() is grpc.StatusCode.UNAVAILABLE
            assert "database is locked" in (refused.value.details() or "")
            assert await get(stub, "k") == 1
        finally:
            locker.execute("ROLLBACK")
            locker.close()
        revision = await put(stub, "k", 3)
        assert revision == 3
        assert await get(stub, "k") == 3
