"""The cost of the revision-counter row lock on PostgreSQL (issue 17, point 2).

    .venv/bin/python bench/pg_lock_cost.py [--seconds 5] [--writers 1,2,8] [--rounds 2]

configd's write transaction (configd/storage/postgresql/store.py) locks the one row of `head`
with SELECT ... FOR UPDATE and holds it to COMMIT, so commits from every replica are serial:
revisions stay gap-free and in commit order. This script measures what that costs, with raw
psycopg on a throwaway PostgreSQL cluster (configd.testing_postgres, fsync=on,
synchronous_commit=on), no configd in between. Each of --writers connections commits one
transaction after another, the statements of configd's commit of one put:

  lock       BEGIN; SELECT revision FROM head FOR UPDATE; INSERT the revision row; upsert the
             key (a ~2 KB value); UPDATE head; pg_notify; COMMIT  (what configd does)
  no-lock    the same without the head row: the revision from a sequence (nextval), which is
             what configd must NOT do (sequence values commit out of order)
  pipelined  "lock" with every statement sent in one psycopg pipeline: one round trip to
             the COMMIT instead of one per statement, the lock held for less time

Per mode and writer count: commits per second and commit latency p50/p99 (BEGIN to COMMIT
returned). With one writer the lock costs only its statement; with several, "lock" serialises
every commit behind the holder's WAL flush while "no-lock" lets PostgreSQL flush several
commits at once (group commit). One configd replica commits from one connection (its batches
hold many puts), so the several-writer figures are what replicas writing at once pay.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import JsonLines, percentile

from configd.testing_postgres import PostgresCluster, cluster_root

SCHEMA = """
CREATE TABLE head (revision bigint NOT NULL);
INSERT INTO head VALUES (0);
CREATE SEQUENCE revision_seq START 1000000000000;  -- apart from head's revisions
CREATE TABLE revisions (revision bigint PRIMARY KEY, namespace text, kind int, author text,
    time double precision);
CREATE TABLE kv (namespace text, key text, value text, mod_revision bigint,
    PRIMARY KEY (namespace, key));
"""
VALUE = json.dumps({"rules": [{"match": f"/api/v1/payments/{i}" * 4} for i in range(20)]})
UPSERT = (
    "INSERT INTO kv VALUES (%s, %s, %s, %s) ON CONFLICT (namespace, key) DO UPDATE "
    "SET value = excluded.value, mod_revision = excluded.mod_revision"
)
REVISION = "INSERT INTO revisions VALUES (%s, %s, 1, 'bench', %s)"
MODES = ("lock", "no-lock", "pipelined")

Conn = Any  # psycopg.AsyncConnection


async def commit_locked(conn: Conn, key: str) -> None:
    await conn.execute("BEGIN ISOLATION LEVEL READ COMMITTED")
    row = await (await conn.execute("SELECT revision FROM head FOR UPDATE")).fetchone()
    revision = int(row[0]) + 1
    await conn.execute(REVISION, (revision, "bench/ns", time.time()))
    await conn.execute(UPSERT, ("bench/ns", key, VALUE, revision))
    await conn.execute("UPDATE head SET revision = %s", (revision,))
    await conn.execute("SELECT pg_notify('configd_commits', %s)", (str(revision),))
    await conn.execute("COMMIT")


async def commit_unlocked(conn: Conn, key: str) -> None:
    await conn.execute("BEGIN ISOLATION LEVEL READ COMMITTED")
    row = await (await conn.execute("SELECT nextval('revision_seq')")).fetchone()
    revision = int(row[0])
    await conn.execute(REVISION, (revision, "bench/ns", time.time()))
    await conn.execute(UPSERT, ("bench/ns", key, VALUE, revision))
    await conn.execute("SELECT pg_notify('configd_commits', %s)", (str(revision),))
    await conn.execute("COMMIT")


async def commit_pipelined(conn: Conn, key: str) -> None:
    # The revision is computed in SQL from the locked row, so nothing waits on a reply
    # before the COMMIT: the whole transaction is one round trip.
    async with conn.pipeline():
        await conn.execute("BEGIN ISOLATION LEVEL READ COMMITTED")
        await conn.execute("SELECT revision FROM head FOR UPDATE")
        await conn.execute(
            "INSERT INTO revisions SELECT revision + 1, %s, 1, 'bench', %s FROM head",
            ("bench/ns", time.time()),
        )
        await conn.execute(
            "INSERT INTO kv SELECT %s, %s, %s, revision + 1 FROM head ON CONFLICT (namespace, "
            "key) DO UPDATE SET value = excluded.value, mod_revision = excluded.mod_revision",
            ("bench/ns", key, VALUE),
        )
        await conn.execute("UPDATE head SET revision = revision + 1")
        await conn.execute("SELECT pg_notify('configd_commits', 'x')")
        await conn.execute("COMMIT")


COMMITS: dict[str, Callable[[Conn, str], Awaitable[None]]] = {
    "lock": commit_locked,
    "no-lock": commit_unlocked,
    "pipelined": commit_pipelined,
}


async def measure(dsn: str, mode: str, writers: int, seconds: float) -> dict[str, Any]:
    import psycopg

    commit = COMMITS[mode]
    conns = [await psycopg.AsyncConnection.connect(dsn, autocommit=True) for _ in range(writers)]
    latencies: list[float] = []
    stop = time.monotonic() + seconds

    async def writer(index: int, conn: Conn) -> None:
        n = 0
        while time.monotonic() < stop:
            started = time.perf_counter()
            await commit(conn, f"k{index}-{n % 50}")
            latencies.append(time.perf_counter() - started)
            n += 1

    began = time.perf_counter()
    try:
        await asyncio.gather(*(writer(i, c) for i, c in enumerate(conns)))
    finally:
        for conn in conns:
            await conn.close()
    elapsed = time.perf_counter() - began
    return {
        "mode": mode,
        "writers": writers,
        "commits": len(latencies),
        "commits_per_s": len(latencies) / elapsed,
        "p50_ms": percentile(latencies, 50) * 1000,
        "p99_ms": percentile(latencies, 99) * 1000,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=(__doc__ or "").split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="\n\n".join((__doc__ or "").split("\n\n")[1:]),
    )
    parser.add_argument("--seconds", type=float, default=5.0, help="per measurement")
    parser.add_argument("--writers", default="1,2,8", help="connections committing at once")
    parser.add_argument("--rounds", type=int, default=2, help="the modes alternate per round")
    parser.add_argument("--json", action="store_true", help="raw results to stdout")
    options = parser.parse_args(argv)
    counts = [int(w) for w in options.writers.split(",") if w]
    if not counts or min(counts) < 1 or options.rounds < 1 or options.seconds <= 0:
        parser.error("--writers, --rounds and --seconds must be positive")
    out = JsonLines("pg_lock_cost", sys.stdout if options.json else None)
    log = sys.stderr if options.json else sys.stdout
    cluster = PostgresCluster(cluster_root())
    rows: dict[tuple[str, int], list[dict[str, Any]]] = {}
    try:
        cluster.start()
        dsn = cluster.create_database("lock_cost")
        cluster.psql(SCHEMA, "lock_cost")
        for round_ in range(options.rounds):
            for writers in counts:
                for mode in MODES:  # alternating, so noise from elsewhere hits every mode
                    row = asyncio.run(measure(dsn, mode, writers, options.seconds))
                    row["round"] = round_
                    out.write(row)
                    rows.setdefault((mode, writers), []).append(row)
    finally:
        cluster.destroy()

    def med(mode: str, writers: int, field: str) -> float:
        return statistics.median(r[field] for r in rows[(mode, writers)])

    print(
        f"write transaction of one put on PostgreSQL (fsync=on, loopback, raw psycopg), "
        f"medians of {options.rounds} x {options.seconds:g} s",
        file=log,
    )
    print(
        f"{'writers':>7}  {'mode':<10}{'commits/s':>10}{'p50 ms':>9}{'p99 ms':>9}"
        f"{'vs no-lock':>12}",
        file=log,
    )
    for writers in counts:
        base = med("no-lock", writers, "commits_per_s")
        for mode in MODES:
            rate = med(mode, writers, "commits_per_s")
            print(
                f"{writers:>7}  {mode:<10}{rate:>10.0f}{med(mode, writers, 'p50_ms'):>9.2f}"
                f"{med(mode, writers, 'p99_ms'):>9.2f}{rate / base:>11.2f}x",
                file=log,
            )
    if out.path is not None:
        print(f"raw results: {out.path}", file=log)
    return 0


if __name__ == "__main__":
    sys.exit(main())
