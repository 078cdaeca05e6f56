"""Tokens shared by processes over one store (issue 16): two TokenRegistry objects over one
data directory, each with its own SQLiteStorage, token store, connections and doorbell thread,
exactly as two processes have. The same checks through real `configd serve --workers N` are in
tests/configd/api/test_tokens_across_workers.py. Waits are polls with a deadline."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack
from pathlib import Path

import pytest

from configd.core.errors import AlreadyExists, Unauthenticated
from configd.core.roles import Grant, Role
from configd.storage.sqlite.store import SQLiteStorage
from configd.storage.sqlite.tokens import SQLiteTokenStore
from configd.store.tokens import ADMIN_TOKEN_FILE, TokenRegistry

DEADLINE = 10.0
BOUND = 2.0  # the documented bound for a change to reach every process (usually ~ms)
WRITE = (Grant("app/", Role.WRITE),)


async def until(condition: Callable[[], bool], what: str) -> float:
    """Seconds until `condition` held."""
    started = time.monotonic()
    while not condition():
        assert time.monotonic() - started < DEADLINE, f"not within {DEADLINE} s: {what}"
        await asyncio.sleep(0.002)
    return time.monotonic() - started


class Process:
    """What one configd process holds: its storage and its token registry."""

    def __init__(self, data_dir: Path) -> None:
        self.storage = SQLiteStorage(data_dir)
        self.tokens = TokenRegistry(SQLiteTokenStore(self.storage))
        self.revoked: list[str] = []
        self.tokens.add_revocation_listener(self.revoked.append)

    async def __aenter__(self) -> Process:
        await self.storage.open()
        await self.tokens.open()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.tokens.close()
        await self.storage.close()


@pytest.fixture
async def pair(tmp_path: Path) -> AsyncIterator[tuple[Process, Process]]:
    async with AsyncExitStack() as stack:
        a = await stack.enter_async_context(Process(tmp_path))
        b = await stack.enter_async_context(Process(tmp_path))
        yield a, b


def refused(registry: TokenRegistry, secret: str) -> bool:
    try:
        return registry.known(secret) is None
    except Unauthenticated:
        return True


async def test_a_token_created_on_one_authenticates_on_the_other_at_once(
    pair: tuple[Process, Process],
) -> None:
    a, b = pair
    token, secret = await a.tokens.create("ci", WRITE, ttl_seconds=0, created_by="admin")
    # No wait for b's doorbell: b looks in the store before refusing a digest it lacks.
    found = await b.tokens.authenticate(secret)
    assert (found.name, found.grants, found.digest) == ("ci", WRITE, token.digest)
    assert [t.name for t in await b.tokens.tokens()] == ["ci"]
    # The name is taken for every process, whatever b knew when asked.
    with pytest.raises(AlreadyExists):
        await b.tokens.create("ci", WRITE, ttl_seconds=0, created_by="admin")


async def test_a_revocation_on_one_reaches_the_other_and_its_listeners(
    pair: tuple[Process, Process],
) -> None:
    a, b = pair
    _, secret = await a.tokens.create("ci", WRITE, ttl_seconds=0, created_by="admin")
    held = await b.tokens.authenticate(secret)  # as an open watch on b holds it
    revoking = time.monotonic()
    await a.tokens.revoke("ci")
    await until(lambda: b.revoked == ["ci"], "b's revocation listeners told")
    took = time.monotonic() - revoking
    assert took < BOUND, f"the revocation took {took:.3f} s to reach the other process"
    with pytest.raises(Unauthenticated, match="revoked"):
        b.tokens.verify(held)
    with pytest.raises(Unauthenticated):
        await b.tokens.authenticate(secret)
    # Revoking again on b is a no-op that reports the stored revocation, not a second one.
    again = await b.tokens.revoke("ci")
    assert again.revoked_at is not None
    assert b.revoked == ["ci"]
    assert a.revoked == ["ci"]


async def test_a_token_revoked_on_one_before_the_other_heard_of_it(
    pair: tuple[Process, Process],
) -> None:
    a, b = pair
    _, secret = await a.tokens.create("brief", WRITE, ttl_seconds=0, created_by="admin")
    revoked = await b.tokens.revoke("brief")  # b learns the name from the store
    assert revoked.revoked_at is not None
    await until(lambda: refused(a.tokens, secret), "refused on a")
    assert a.revoked == ["brief"]


async def test_an_admin_token_replaced_on_one_is_refused_on_the_other(
    pair: tuple[Process, Process], tmp_path: Path
) -> None:
    a, b = pair
    old, new = "o" * 40, "n" * 40
    await a.tokens.bootstrap(tmp_path, old)
    await b.tokens.authenticate(old)
    await b.tokens.bootstrap(tmp_path, old)  # the same secret: nothing changes, nobody cut
    assert a.revoked == b.revoked == []
    await a.tokens.bootstrap(tmp_path, new)  # a restart of one worker with a new secret
    await until(lambda: b.revoked == ["admin"], "b's admin streams cut")
    assert refused(b.tokens, old)
    assert (await b.tokens.authenticate(new)).name == "admin"


async def test_expiry_holds_on_the_other_process(pair: tuple[Process, Process]) -> None:
    a, b = pair
    _, secret = await a.tokens.create("short", WRITE, ttl_seconds=0.3, created_by="admin")
    token = await b.tokens.authenticate(secret)
    await until(lambda: token.expired(time.time()), "the token's expiry")
    with pytest.raises(Unauthenticated, match="expired"):
        await b.tokens.authenticate(secret)


async def test_made_up_tokens_cost_one_store_read_however_many(
    pair: tuple[Process, Process],
) -> None:
    a, b = pair
    _, secret = await a.tokens.create("real", WRITE, ttl_seconds=0, created_by="admin")
    sprayed = [f"cfgd_{i:040d}" for i in range(500)]
    before = b.tokens.store_reads
    results = await asyncio.gather(
        *(b.tokens.authenticate(s) for s in [*sprayed, secret]), return_exceptions=True
    )
    assert all(isinstance(r, Unauthenticated) for r in results[:-1])
    assert not isinstance(results[-1], BaseException)
    assert results[-1].name == "real"
    # All 501 unknown digests shared one read (the follower may have run one of its own).
    assert b.tokens.store_reads - before <= 2


async def test_processes_starting_together_store_one_admin_token(tmp_path: Path) -> None:
    async with AsyncExitStack() as stack:
        processes = [await stack.enter_async_context(Process(tmp_path)) for _ in range(3)]
        # Every one opened with no token stored, so every one tries to bootstrap.
        written = await asyncio.gather(*(p.tokens.bootstrap(tmp_path, None) for p in processes))
        assert [w for w in written if w is not None] == [tmp_path / ADMIN_TOKEN_FILE]
        secret = (tmp_path / ADMIN_TOKEN_FILE).read_text().strip()
        for process in processes:
            assert (await process.tokens.authenticate(secret)).name == "admin"
            assert [t.name for t in await process.tokens.tokens()] == ["admin"]
        # No staged secret left behind.
        assert [name for name in os.listdir(tmp_path) if "admin" in name] == [ADMIN_TOKEN_FILE]
