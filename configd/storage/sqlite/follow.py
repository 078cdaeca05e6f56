"""Noticing what other processes commit to the shared SQLite file: the follower's doorbell.

A thread of its own with a connection of its own polls `PRAGMA data_version`, which changes
whenever *another* connection commits (this process's write connection counts as another, so
its own commits are filtered out by revision). When the store's head (highest revision,
compaction revision) moved past what this process committed, the thread tells the event loop,
which reads the revision log (configd.store.follower). The poll is the truth; a datagram is
only a doorbell: after each commit the committing process sends one byte to every peer's unix
socket in `<data_dir>/doorbells/`, which wakes the peer's poll at once instead of within the
interval. A lost, refused or never-sent datagram only costs latency.

On the same wake-ups it reads the tokens' generation (TOKENS_SQL, one index probe) and reports
a change to the token store (tokens.py), so a token revoked by any process reaches every
process's registry within a poll interval, usually at once (token writes ring too).

The thread also does the maintenance process's WAL checkpoints: passive ones, at most once per
CHECKPOINT_INTERVAL, when other processes committed (the maintenance process's own writes are
checkpointed by its write connection; the others' write connections never checkpoint), and it
retries to take the maintenance lock when another process holds it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import select
import socket
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path

from configd.storage.base import StoreHead
from configd.storage.noticed import is_news
from configd.storage.sqlite.files import DOORBELL_DIR
from configd.storage.sqlite.locks import DataDirLocks

log = logging.getLogger("configd.storage")

CHECKPOINT_INTERVAL = 1.0
"""Seconds between the maintenance process's passive WAL checkpoints (while others write)."""

REFRESH_INTERVAL = 1.0
"""Seconds between re-reading the peers' doorbells and retrying the maintenance lock."""

_MAX_SOCKET_PATH = 100  # sun_path holds 108 bytes on Linux, fewer elsewhere

HEAD_SQL = (
    "SELECT (SELECT coalesce(max(revision), 0) FROM revisions),"
    " coalesce((SELECT value FROM meta WHERE name = 'compact_revision'), 0)"
)


TOKENS_SQL = "SELECT coalesce(max(generation), 0) FROM tokens"
"""The store's token generation (migration 3)."""


def read_head(db: sqlite3.Connection) -> StoreHead:
    row = db.execute(HEAD_SQL).fetchone()
    return StoreHead(int(row[0]), int(row[1]))


class CommitWatcher:
    """The doorbell thread of one open SQLiteStorage."""

    def __init__(
        self,
        db_path: Path,
        data_dir: Path,
        locks: DataDirLocks,
        on_head: Callable[[StoreHead], None],
        on_tokens: Callable[[int], None],
        *,
        poll_interval: float,
        busy_timeout_ms: int,
        autocheckpoint: bool,
    ) -> None:
        self._db_path = db_path
        self._locks = locks
        self._on_head = on_head
        self._on_tokens = on_tokens
        self._poll = poll_interval
        self._busy_timeout_ms = busy_timeout_ms
        # Whether the write connection checkpoints by itself (the maintainer at open).
        self._autocheckpoint = autocheckpoint
        self._loop = asyncio.get_running_loop()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        # The highest revision this process committed (set by the write thread after COMMIT).
        self.own_revision = 0
        self._dir = data_dir / DOORBELL_DIR
        self._path: Path | None = None
        self._socket: socket.socket | None = None
        self._sender = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._sender.setblocking(False)
        self._peers: tuple[str, ...] = ()

    def start(self) -> None:
        self._bind()
        self._thread = threading.Thread(
            target=self._run, name="configd-sqlite-follower", daemon=True
        )
        self._thread.start()

    async def stop(self) -> None:
        self._stopping.set()
        if self._socket is not None and self._path is not None:
            with contextlib.suppress(OSError):
                self._sender.sendto(b"\0", str(self._path))  # wake the poll now
        if self._thread is not None:
            await asyncio.to_thread(self._thread.join, 10.0)
            self._thread = None
        self._sender.close()
        if self._socket is not None:
            self._socket.close()
            self._socket = None
        if self._path is not None:
            with contextlib.suppress(OSError):
                self._path.unlink()
            self._path = None

    def _bind(self) -> None:
        path = self._dir / f"{os.getpid()}-{secrets.token_hex(4)}.sock"
        if len(str(path.resolve())) > _MAX_SOCKET_PATH:
            log.info("data directory path too long for a doorbell socket; polling only")
            return
        try:
            self._dir.mkdir(mode=0o700, exist_ok=True)
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            sock.setblocking(False)
            sock.bind(str(path))
        except OSError as exc:
            log.info("no doorbell socket (%s); polling only", exc)
            return
        self._socket, self._path = sock, path

    # -- in the write thread (or on the event loop, after a token write) ----------------------

    def ring(self) -> None:
        """Wake the other processes' followers (after a COMMIT; never blocks, never raises).
        Safe from two threads at once: a datagram send is atomic, and `_peers` is replaced,
        never mutated."""
        for peer in self._peers:
            try:
                self._sender.sendto(b"\0", peer)
            except ConnectionRefusedError:
                # Nobody is bound there: left by a process that was killed.
                with contextlib.suppress(OSError):
                    os.unlink(peer)
                self._peers = tuple(p for p in self._peers if p != peer)
            except OSError:
                pass  # a full queue or a vanished peer: its poll notices anyway

    # -- the thread ---------------------------------------------------------------------------

    def _wait(self) -> None:
        sock = self._socket
        if sock is None:
            self._stopping.wait(self._poll)
            return
        readable, _, _ = select.select([sock], [], [], self._poll)
        if readable:
            with contextlib.suppress(OSError):
                while sock.recv(64):
                    pass

    def _peers_now(self) -> tuple[str, ...]:
        own = str(self._path) if self._path is not None else ""
        try:
            names = os.listdir(self._dir)
        except OSError:
            return ()
        return tuple(
            str(self._dir / n)
            for n in sorted(n for n in names if n.endswith(".sock"))
            if str(self._dir / n) != own
        )

    def _run(self) -> None:
        db: sqlite3.Connection | None = None
        last_version: int | None = None
        last_head: StoreHead | None = None
        last_tokens: int | None = None
        foreign = False  # others committed since the last checkpoint
        last_checkpoint = time.monotonic()
        next_refresh = 0.0
        failures = 0
        while not self._stopping.is_set():
            try:
                if db is None:
                    db = sqlite3.connect(self._db_path, isolation_level=None)
                    db.execute(f"PRAGMA busy_timeout = {int(self._busy_timeout_ms)}")
                    last_version = None
                now = time.monotonic()
                version = int(db.execute("PRAGMA data_version").fetchone()[0])
                if version != last_version:
                    last_version = version
                    head = read_head(db)
                    if head != last_head:
                        ahead = head.revision > self.own_revision
                        foreign = foreign or ahead
                        if is_news(head, last_head, self.own_revision):
                            self._loop.call_soon_threadsafe(self._on_head, head)
                        last_head = head
                    tokens = int(db.execute(TOKENS_SQL).fetchone()[0])
                    if tokens != last_tokens:
                        last_tokens = tokens
                        self._loop.call_soon_threadsafe(self._on_tokens, tokens)
                    if (
                        self._locks.maintainer
                        and (foreign or not self._autocheckpoint)
                        and now - last_checkpoint >= CHECKPOINT_INTERVAL
                    ):
                        db.execute("PRAGMA wal_checkpoint(PASSIVE)")
                        last_checkpoint, foreign = now, False
                if now >= next_refresh:
                    next_refresh = now + REFRESH_INTERVAL
                    self._peers = self._peers_now()
                    if not self._locks.maintainer and self._locks.try_maintenance():
                        log.info("this process now holds the maintenance lock (compaction, WAL)")
                failures = 0
                self._wait()
            except Exception as exc:  # the follower's doorbell must outlive any one failure
                failures += 1
                if failures in (1, 10) or failures % 1000 == 0:
                    log.error("following the store failed (%d times): %s", failures, exc)
                if db is not None:
                    with contextlib.suppress(sqlite3.Error):
                        db.close()
                    db = None
                self._stopping.wait(self._poll)
        if db is not None:
            with contextlib.suppress(sqlite3.Error):
                db.close()
