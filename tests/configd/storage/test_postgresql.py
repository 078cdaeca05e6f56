"""The PostgreSQL backend on a real cluster, beyond the contract (test_contract.py): which
--store values name it, masked passwords, refusing a server that may lose commits, replicas
migrating together, the counter row under racing writers, a killed server, a killed process's
applied row."""

from __future__ import annotations

import asyncio

import psycopg
import pytest

from configd.core.errors import ReplicaBehind, StorageFailure, Unavailable
from configd.storage.base import StoreAhead, StoreHead
from configd.storage.postgresql.connect import mask_dsn
from configd.storage.postgresql.dsn import is_postgresql_dsn
from configd.storage.postgresql.migrations import MIGRATIONS
from configd.storage.postgresql.options import PostgreSQLOptions
from configd.storage.postgresql.store import PostgreSQLStorage
from configd.testing_postgres import PostgresCluster
from tests.configd.storage.writes import create, put

FAST = PostgreSQLOptions(poll_interval=0.2, connect_timeout=5)


def test_store_values_that_name_postgresql() -> None:
    assert is_postgresql_dsn("postgresql://u@h/db")
    assert is_postgresql_dsn("postgres://h1,h2/db?target_session_attrs=read-write")
    assert is_postgresql_dsn("host=h1,h2 dbname=configd")
    assert not is_postgresql_dsn("/var/lib/configd/configd.db")
    assert not is_postgresql_dsn("data/configd.db")


def test_the_password_is_never_shown() -> None:
    assert "s3cret" not in mask_dsn("postgresql://u:s3cret@h:5432/db")
    assert "s3cret" not in mask_dsn("host=h password=s3cret dbname=db")
    assert "dbname=db" in mask_dsn("host=h password=s3cret dbname=db")


async def test_an_unreachable_server_is_a_clear_failure_without_the_password() -> None:
    storage = PostgreSQLStorage(
        "postgresql://u:s3cret@127.0.0.1:1/db", PostgreSQLOptions(connect_timeout=2)
    )
    with pytest.raises(
        Unavailable, match="check that the server is running and reachable"
    ) as failed:
        await storage.open()
    assert "s3cret" not in str(failed.value)
    assert "127.0.0.1" in str(failed.value)
    with pytest.raises(StorageFailure, match="malformed"):
        await PostgreSQLStorage("host='unterminated").open()


async def test_a_server_that_may_lose_acknowledged_commits_is_refused(pg_dsn: str) -> None:
    storage = PostgreSQLStorage(f"{pg_dsn}?options=-csynchronous_commit%3Doff", FAST)
    with pytest.raises(StorageFailure, match="synchronous_commit=off"):
        await storage.open()


async def test_replicas_starting_together_migrate_once(pg_dsn: str) -> None:
    stores = [PostgreSQLStorage(pg_dsn, FAST) for _ in range(3)]
    try:
        states = await asyncio.gather(*(s.open() for s in stores))
        assert {s.revision for s in states} == {0}
        assert {s.schema_version for s in stores} == {len(MIGRATIONS)}
        assert sum(s.maintainer for s in stores) == 1
    finally:
        for s in stores:
            await s.close()


async def test_concurrent_writers_leave_no_gap_in_the_revisions(pg_dsn: str) -> None:
    """Two processes racing (without write turns): each commit is refused or takes the next
    revision, so the log is 1..N with no gap and none twice."""
    a, b = PostgreSQLStorage(pg_dsn, FAST), PostgreSQLStorage(pg_dsn, FAST)
    await a.open()
    await b.open()
    try:
        await a.commit([create(1)])

        async def writer(storage: PostgreSQLStorage, name: str) -> int:
            stored = 0
            while stored < 20:
                base = (await storage.head()).revision
                try:
                    await storage.commit([put(base + 1, name + str(stored), "1")])
                except StoreAhead:
                    continue
                stored += 1
            return stored

        assert await asyncio.gather(writer(a, "a"), writer(b, "b")) == [20, 20]
        log = await a.log_since(0, 100)
        assert [cs.revision for cs in log] == list(range(1, 42))
    finally:
        await a.close()
        await b.close()


async def test_log_reads_from_several_tasks_at_once_each_get_the_log(pg_dsn: str) -> None:
    """The follower and a writer catching up read the log at the same moment, on the one
    connection the store keeps for it: each read gets the whole log (none nests in another's
    transaction), and the applied revision is recorded meanwhile."""
    store = PostgreSQLStorage(pg_dsn, FAST)
    await store.open()
    try:
        await store.commit([create(1), *(put(r, f"k{r}", "1") for r in range(2, 31))])
        reads = await asyncio.gather(
            *(store.log_since(0, 100) for _ in range(8)),
            *(store.head() for _ in range(4)),
            store.report_applied(30),
        )
        for log in reads[:8]:
            assert [cs.revision for cs in log] == list(range(1, 31))
        assert {head.revision for head in reads[8:12]} == {30}
    finally:
        await store.close()


async def test_commits_survive_a_killed_server_and_the_store_reconnects(
    postgres_cluster: PostgresCluster, pg_dsn: str
) -> None:
    a, b = PostgreSQLStorage(pg_dsn, FAST), PostgreSQLStorage(pg_dsn, FAST)
    await a.open()
    await b.open()
    try:
        await a.commit([create(1), put(2, "x", "1")])
        postgres_cluster.kill()  # SIGKILL: acknowledged commits must be in the WAL
        with pytest.raises(Unavailable, match="retry"):  # the SDK retries it
            await a.commit([put(3, "x", "2")])
        postgres_cluster.start()
        assert await a.head() == StoreHead(2, 0)  # reconnected
        # The doorbell reconnects too (LISTEN, then the head): b hears a's next commit.
        await a.commit([put(3, "y", "1")])
        deadline = asyncio.get_running_loop().time() + 15
        while b.noticed_head.revision < 3:  # (it may first report 2, read on reconnecting)
            assert asyncio.get_running_loop().time() < deadline, "b's doorbell is deaf"
            await b.next_head(b.noticed_head, 1.0)
        assert [cs.revision for cs in await b.log_since(0, 10)] == [1, 2, 3]
        await b.report_applied(3)
        await a.report_applied(3)
        await a.compact(3)  # the maintenance lock was taken again after the reconnect
    finally:
        await a.close()
        await b.close()
    reopened = PostgreSQLStorage(pg_dsn, FAST)
    state = await reopened.open()
    await reopened.close()
    assert state.revision == 3


async def test_a_killed_process_stops_holding_compaction_back_soon(
    postgres_cluster: PostgresCluster, pg_dsn: str
) -> None:
    storage = PostgreSQLStorage(pg_dsn, FAST)
    await storage.open()
    try:
        await storage.commit([create(1), put(2, "x", "1"), put(3, "x", "2")])
        await storage.report_applied(3)
        # Another process's row, on a session that is gone (its process was killed).
        async with await psycopg.AsyncConnection.connect(pg_dsn, autocommit=True) as other:
            await other.execute(
                "INSERT INTO applied SELECT gen_random_uuid(), 1, now(), pid, backend_start"
                " FROM pg_stat_activity WHERE pid = pg_backend_pid()"
            )
            assert await storage.applied_floor() == 1
            with pytest.raises(ReplicaBehind):
                await storage.compact(3)
        # Its session closed: the row counts only for the grace after its last report.
        await asyncio.sleep(5.5)
        assert await storage.applied_floor() == 3
        await storage.compact(3)
    finally:
        await storage.close()
