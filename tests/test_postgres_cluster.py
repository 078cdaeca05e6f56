"""The PostgreSQL test cluster (configd/testing_postgres.py) keeps committed data across a
SIGKILL."""

from __future__ import annotations

import psycopg

from configd.testing_postgres import PostgresCluster


def test_a_killed_cluster_restarts_with_its_commits(
    postgres_cluster: PostgresCluster, pg_dsn: str
) -> None:
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute("CREATE TABLE t (x int)")
        conn.execute("INSERT INTO t VALUES (1)")
        assert conn.execute("SHOW fsync").fetchone() == ("on",)
    postgres_cluster.kill()
    assert not postgres_cluster.running()
    postgres_cluster.start()
    with psycopg.connect(pg_dsn) as conn:
        assert conn.execute("SELECT x FROM t").fetchall() == [(1,)]
    postgres_cluster.restart()
    assert postgres_cluster.create_database() != pg_dsn
