"""`configd serve --store <dsn>`: real server processes on a real PostgreSQL database. The SDK
reads and watches what is written; a restarted server keeps the data; two servers on one
database see each other's writes; the status pages name the backend, never the password."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import grpc.aio

from configd.storage.postgresql.connect import mask_dsn
from configd.testing import ConfigdProcess
from configd.testing_postgres import PostgresCluster
from configd_client import AsyncConfigClient
from configd_client.wire import config_pb2 as pb
from configd_client.wire import config_pb2_grpc as pb_grpc

NS = "pg/app"


async def _put(server: ConfigdProcess, key: str, value: str) -> int:
    async with grpc.aio.insecure_channel(server.grpc_addr) as channel:
        stub = pb_grpc.ConfigServiceStub(channel)
        reply = await stub.Put(pb.PutRequest(namespace=NS, key=key, value_json=value))
        return int(reply.revision)


def _page(server: ConfigdProcess, path: str) -> dict[str, object]:
    with urllib.request.urlopen(f"{server.http_url}{path}", timeout=10) as response:
        return dict(json.loads(response.read()))


async def test_serve_on_postgresql_keeps_data_across_a_restart(tmp_path: Path, pg_dsn: str) -> None:
    with ConfigdProcess(tmp_path / "data", "--store", pg_dsn) as server:
        async with grpc.aio.insecure_channel(server.grpc_addr) as channel:
            await pb_grpc.ConfigServiceStub(channel).CreateNamespace(
                pb.CreateNamespaceRequest(name=NS)
            )
        first = await _put(server, "timeout", "5")
        async with AsyncConfigClient(NS, addr=server.grpc_addr, min_revision=first) as client:
            assert client.get("timeout") == 5
            changed = await _put(server, "timeout", "7")
            await client.wait_for_revision(changed, timeout=10)
            assert client.get("timeout") == 7
        assert _page(server, "/readyz")["store"] == "postgresql"
        store = _page(server, "/debug/configz")["store"]
        assert store == {"backend": "postgresql", "where": mask_dsn(pg_dsn)}
        server.restart()
        async with AsyncConfigClient(NS, addr=server.grpc_addr) as client:
            assert client.get("timeout") == 7
            assert client.revision == changed


async def test_two_servers_on_one_database_see_each_others_writes(
    tmp_path: Path, pg_dsn: str
) -> None:
    # Different --data-dir: the database is all they share, as on two machines.
    with (
        ConfigdProcess(tmp_path / "a", "--store", pg_dsn) as a,
        ConfigdProcess(tmp_path / "b", "--store", pg_dsn) as b,
    ):
        async with grpc.aio.insecure_channel(a.grpc_addr) as channel:
            created = await pb_grpc.ConfigServiceStub(channel).CreateNamespace(
                pb.CreateNamespaceRequest(name=NS)
            )
        async with AsyncConfigClient(
            NS, addr=b.grpc_addr, min_revision=created.revision
        ) as watching_b:
            written = await _put(a, "k", '"from a"')
            await watching_b.wait_for_revision(written, timeout=10)
            assert watching_b.get("k") == "from a"
            # And the other way round: b's write takes the next revision, no gap.
            assert await _put(b, "k", '"from b"') == written + 1


def test_store_flag_errors_name_the_flag(tmp_path: Path) -> None:
    def serve(*args: str) -> str:
        result = subprocess.run(
            [sys.executable, "-m", "configd", "serve", "--data-dir", str(tmp_path), *args],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 2
        return result.stderr

    assert "--store" in serve("--store", "/some/file.db")
    assert "--synchronous applies to the SQLite database only" in serve(
        "--store", "postgresql://h/db", "--synchronous", "normal"
    )


async def test_workers_on_postgresql(tmp_path: Path, pg_dsn: str) -> None:
    # --data-dir does not exist yet: with --store it is only the runtime directory (run/).
    with ConfigdProcess(tmp_path / "runtime", "--store", pg_dsn, workers=2) as server:
        async with grpc.aio.insecure_channel(server.grpc_addr) as channel:
            stub = pb_grpc.ConfigServiceStub(channel)
            await stub.CreateNamespace(pb.CreateNamespaceRequest(name=NS))
            revisions = [
                (await stub.Put(pb.PutRequest(namespace=NS, key=f"k{i}", value_json="1"))).revision
                for i in range(20)
            ]
        assert revisions == list(range(2, 22))  # whichever worker took each, no gap
        assert _page(server, "/readyz")["store"] == "postgresql"


def _readyz(server: ConfigdProcess) -> tuple[int, dict[str, object]]:
    try:
        with urllib.request.urlopen(f"{server.http_url}/readyz", timeout=10) as response:
            return response.status, dict(json.loads(response.read()))
    except urllib.error.HTTPError as refused:
        return refused.code, dict(json.loads(refused.read()))


async def test_a_replica_cut_off_from_the_database_stops_being_ready_and_comes_back(
    tmp_path: Path, pg_dsn: str, postgres_cluster: PostgresCluster
) -> None:
    with ConfigdProcess(tmp_path / "data", "--store", pg_dsn, "--max-lag-seconds", "1") as server:
        assert _readyz(server)[0] == 200
        postgres_cluster.stop()
        try:
            deadline = time.monotonic() + 20
            while (answer := _readyz(server))[0] == 200:
                assert time.monotonic() < deadline, "still ready without its database"
                await asyncio.sleep(0.2)
            assert answer[0] == 503
            assert "the store has not answered for" in str(answer[1]["reason"])
        finally:
            postgres_cluster.start()
        deadline = time.monotonic() + 30
        while _readyz(server)[0] != 200:
            assert time.monotonic() < deadline, "not ready again once the database is back"
            await asyncio.sleep(0.2)
        async with grpc.aio.insecure_channel(server.grpc_addr) as channel:
            await pb_grpc.ConfigServiceStub(channel).CreateNamespace(
                pb.CreateNamespaceRequest(name=NS)
            )
