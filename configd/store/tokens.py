"""Bearer tokens: creation, lookup, expiry, revocation and the bootstrap admin token.

A secret is `cfgd_` + 32 random bytes (secrets.token_urlsafe), shown once at creation. Only
its SHA-256 is stored. A fast unsalted hash is right here, unlike for passwords: a secret
has 256 bits of entropy, so there is no dictionary to try and a slow hash (bcrypt, argon2)
would only add latency to every call. Lookup is a dict access by digest, then
hmac.compare_digest on the digest; any timing difference concerns the SHA-256 of the
caller's own input, which tells an attacker nothing about a valid secret.

Every token lives in memory (there are few), so checking one costs one hash and one dict
lookup; revocation removes it at once and tells listeners (open watch streams). Processes
sharing the store keep their copies current from it (TokenRegistry's docstring).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import logging
import os
import re
import secrets
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from configd.core.errors import AlreadyExists, InvalidArgument, NotFound, Unauthenticated
from configd.core.roles import Grant, Role
from configd.storage.base import StoredToken, TokenStore

log = logging.getLogger("configd.auth")

SECRET_PREFIX = "cfgd_"
ADMIN_TOKEN_NAME = "admin"
ADMIN_TOKEN_FILE = "admin.token"
BOOTSTRAP = "bootstrap"
MIN_SECRET_CHARS = 32
MAX_SECRET_CHARS = 512
MAX_GRANTS = 100
_NAME = re.compile(r"[a-z0-9](?:[a-z0-9._@-]{0,62}[a-z0-9])?")


@dataclass(frozen=True, slots=True)
class Token:
    """A token's public record: its name is the author of every write made with it."""

    name: str
    digest: bytes
    grants: tuple[Grant, ...]
    created_at: float
    expires_at: float | None = None
    revoked_at: float | None = None
    created_by: str = BOOTSTRAP

    def expired(self, now: float) -> bool:
        return self.expires_at is not None and now >= self.expires_at

    @classmethod
    def from_stored(cls, stored: StoredToken) -> Token:
        return cls(
            stored.name,
            stored.hash,
            tuple(Grant(prefix, Role(role)) for prefix, role in stored.grants),
            stored.created_at,
            stored.expires_at,
            stored.revoked_at,
            stored.created_by,
        )

    def stored(self) -> StoredToken:
        return StoredToken(
            self.name,
            self.digest,
            tuple((g.prefix, int(g.role)) for g in self.grants),
            self.created_at,
            self.expires_at,
            self.revoked_at,
            self.created_by,
        )


def digest(secret: str) -> bytes:
    return hashlib.sha256(secret.encode("utf-8", errors="surrogatepass")).digest()


def new_secret() -> str:
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def check_token_name(name: str) -> str:
    if _NAME.fullmatch(name) is None:
        raise InvalidArgument(
            f"token name {name[:80]!r} is not valid: use 1-64 lowercase letters, digits and "
            "'.', '_', '@', '-' (not first or last), e.g. 'ci-deploy' or 'alice@payments'",
            field="name",
        )
    return name


class TokenRegistry:
    """Every token, by digest of its secret. Open with open(), close with close().

    Shared by every process serving the store (replicas, `--workers N`): the store is the
    truth, each process holds a copy and keeps it current.

    - A change made elsewhere (create, revoke, an admin token replaced by --admin-token)
      arrives through the store's doorbell (TokenStore.wait_change: SQLite's data_version
      poll every 20 ms, rung at once by the writing process), with a reload every
      `check_interval` (0.5 s) as the floor; a reload reads only the tokens changed since the
      generation this process has, and a token that stopped being valid wakes the revocation
      listeners (open watch streams are cut). Measured: tens of milliseconds; bound: about
      `check_interval`.
    - A digest not known here may be a token created on another process a moment ago, so
      before refusing it the caller waits for a reload that began after it arrived. Concurrent
      callers share one reload, so a caller spraying made-up tokens costs at most one indexed
      read in flight however many distinct digests it sends, and a known token never waits.
    """

    def __init__(self, store: TokenStore, *, check_interval: float = 0.5) -> None:
        self._store = store
        self._check_interval = check_interval
        self._by_name: dict[str, Token] = {}
        self._active: dict[bytes, Token] = {}
        self._revocation_listeners: list[Callable[[str], None]] = []
        self._generation = 0  # every stored change up to this one is applied here
        self._reload_task: asyncio.Task[None] | None = None
        self._reloads_started = 0
        self._reloads_done = 0
        self._follow_task: asyncio.Task[None] | None = None
        self.store_reads = 0  # reloads run (each one indexed read of the changed tokens)

    async def open(self) -> None:
        loaded = await self._store.open()
        for stored in loaded.tokens:
            self._remember(Token.from_stored(stored))
        self._generation = loaded.generation
        self._follow_task = asyncio.create_task(self._follow(), name="configd-tokens")

    async def close(self) -> None:
        for task in (self._follow_task, self._reload_task):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._follow_task = self._reload_task = None
        await self._store.close()

    def _remember(self, token: Token) -> None:
        previous = self._by_name.get(token.name)
        if previous is not None:
            self._active.pop(previous.digest, None)
        self._by_name[token.name] = token
        if token.revoked_at is None:
            self._active[token.digest] = token

    def _apply(self, token: Token) -> None:
        """Remember `token` as stored now; if that ends a token valid here until now (revoked,
        or a different secret under its name), tell the revocation listeners."""
        previous = self._by_name.get(token.name)
        self._remember(token)
        if (
            previous is not None
            and previous.revoked_at is None
            and (token.revoked_at is not None or token.digest != previous.digest)
        ):
            for listener in self._revocation_listeners:
                listener(token.name)

    def add_revocation_listener(self, listener: Callable[[str], None]) -> None:
        """`listener(name)` runs when a token stops being valid by revocation (here or on
        another process sharing the store)."""
        self._revocation_listeners.append(listener)

    # -- following the store ----------------------------------------------------------------

    async def _follow(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            try:
                known, woken = self._generation, loop.time()
                await self._store.wait_change(known, self._check_interval)
                await self.reload()
                if self._generation == known and loop.time() - woken < self._check_interval:
                    # Woken early for nothing new (the store went back?): never spin.
                    await asyncio.sleep(self._check_interval)
            except asyncio.CancelledError:
                raise
            except Exception:  # the follower must outlive any one failure (logged)
                log.exception("reloading the tokens failed; retrying")
                await asyncio.sleep(self._check_interval)

    async def reload(self) -> None:
        """Return once a reload from the store that began after this call has finished; every
        caller meanwhile shares the same one."""
        wanted = self._reloads_started + 1
        while self._reloads_done < wanted:
            task = self._reload_task
            if task is None:
                task = self._reload_task = asyncio.create_task(self._reload())
            await asyncio.shield(task)

    async def _reload(self) -> None:
        self._reloads_started += 1
        self.store_reads += 1
        number = self._reloads_started
        try:
            changes = await self._store.changes_since(self._generation)
            for stored in changes.tokens:
                self._apply(Token.from_stored(stored))
            self._generation = max(self._generation, changes.generation)
        finally:
            self._reloads_done = number
            self._reload_task = None

    # -- per call -----------------------------------------------------------------------------

    def known(self, secret: str) -> Token | None:
        """The valid token whose secret this is, if this process knows it; None for a digest
        it does not know (then authenticate()). Unauthenticated if malformed or expired."""
        if not secret or len(secret) > MAX_SECRET_CHARS:
            raise Unauthenticated(
                "the bearer token is not valid; send 'authorization: Bearer <token>' "
                "(configctl --token / CONFIGD_TOKEN)"
            )
        presented = digest(secret)
        token = self._active.get(presented)
        if token is None or not hmac.compare_digest(token.digest, presented):
            return None
        self.verify(token)
        return token

    async def authenticate(self, secret: str) -> Token:
        """The token whose secret this is, looking in the store if it is not known here;
        Unauthenticated if unknown, revoked or expired."""
        token = self.known(secret)
        if token is None:
            await self.reload()  # created by another process a moment ago?
            token = self.known(secret)
        if token is None:
            raise Unauthenticated(
                "the bearer token is not valid (unknown or revoked); ask an admin for a token "
                "(configctl token create)"
            )
        return token

    def verify(self, token: Token, now: float | None = None) -> None:
        """Raise Unauthenticated if `token` has been revoked or has expired since."""
        if self._active.get(token.digest) is None:
            raise Unauthenticated(
                f"token {token.name!r} has been revoked; ask an admin for a new token"
            )
        if token.expired(time.time() if now is None else now):
            raise Unauthenticated(f"token {token.name!r} has expired; ask an admin for a new token")

    # -- management -------------------------------------------------------------------------

    async def create(
        self, name: str, grants: Sequence[Grant], *, ttl_seconds: float, created_by: str
    ) -> tuple[Token, str]:
        """A new token and its secret (shown to the caller once, never stored)."""
        check_token_name(name)
        if not grants:
            raise InvalidArgument(
                "a token needs at least one grant (a role on a namespace prefix)", field="grants"
            )
        if len(grants) > MAX_GRANTS:
            raise InvalidArgument(
                f"a token has at most {MAX_GRANTS} grants; use shorter prefixes", field="grants"
            )
        if ttl_seconds < 0:
            raise InvalidArgument(
                "ttl_seconds is negative; use 0 for a token that never expires",
                field="ttl_seconds",
            )
        now = time.time()
        secret = new_secret()
        token = Token(
            name,
            digest(secret),
            tuple(dict.fromkeys(grants)),
            now,
            now + ttl_seconds if ttl_seconds else None,
            None,
            created_by,
        )
        if name in self._by_name:
            raise AlreadyExists(
                f"a token named {name!r} exists or existed (names are never reused, so the "
                "audit history stays unambiguous); choose another name"
            )
        # The store refuses a name another process used (its unique key), whatever we know.
        await self._store.insert(token.stored())
        self._remember(token)
        log.info(
            "token created name=%s by=%s grants=%s expires_at=%s",
            name,
            created_by,
            ",".join(f"{g.role.name.lower()}:{g.prefix!r}" for g in token.grants),
            token.expires_at,
        )
        return token, secret

    async def tokens(self) -> list[Token]:
        """Every token, as stored now (including those other processes just created)."""
        await self.reload()
        return sorted(self._by_name.values(), key=lambda t: t.name)

    async def revoke(self, name: str) -> Token:
        if name not in self._by_name:
            await self.reload()  # created by another process a moment ago?
        token = self._by_name.get(name)
        if token is None:
            raise NotFound(f"there is no token named {name!r}; list the tokens to see their names")
        if token.revoked_at is not None:
            return token
        stored = await self._store.revoke(name, time.time())
        if stored is None:  # rows are never deleted; a restore under the server could do it
            raise NotFound(f"there is no token named {name!r}; list the tokens to see their names")
        revoked = Token.from_stored(stored)
        self._apply(revoked)
        log.warning("token revoked name=%s", name)
        return revoked

    # -- bootstrap --------------------------------------------------------------------------

    async def bootstrap(self, data_dir: Path, admin_secret: str | None) -> Path | None:
        """Make sure an admin can get in; returns the token file written, if any.

        With `admin_secret` (--admin-token / CONFIGD_ADMIN_TOKEN) the token named "admin" is
        that secret (replacing any earlier one, which other processes then refuse too).
        Otherwise, on the first start only (no token was ever created), a new admin token is
        written to <data_dir>/admin.token, mode 0600. Processes starting together on a fresh
        directory race here: the store keeps the first one's token only (insert_first), and
        only that process moves its file into place, so the file holds the one admin token."""
        if admin_secret is not None:
            if not MIN_SECRET_CHARS <= len(admin_secret) <= MAX_SECRET_CHARS:
                raise InvalidArgument(
                    f"the admin token must be {MIN_SECRET_CHARS} to {MAX_SECRET_CHARS} "
                    "characters of random text (e.g. `openssl rand -base64 32`)",
                    field="admin_token",
                )
            await self._install_admin(admin_secret)
            log.info("admin token %r set from --admin-token / CONFIGD_ADMIN_TOKEN", "admin")
            return None
        if self._by_name:
            return None
        secret = new_secret()
        token = _admin(secret)
        path = data_dir / ADMIN_TOKEN_FILE
        # Written (and synced) before the token is stored, moved into place only if ours is
        # the one stored. A crash between the two leaves the secret in the staged file.
        staged = data_dir / f".{ADMIN_TOKEN_FILE}.{secrets.token_hex(8)}"
        _write_private(staged, secret + "\n")
        try:
            stored = await self._store.insert_first(token.stored())
            if stored:
                os.replace(staged, path)
                _sync_directory(data_dir)
        finally:
            staged.unlink(missing_ok=True)
        await self.reload()  # ours, or the one another process stored first
        if not stored:
            return None
        log.warning(
            "first start with authentication: admin token written to %s (mode 0600); "
            "create narrower tokens with `configctl token create` and keep this one safe",
            path,
        )
        return path

    async def _install_admin(self, secret: str) -> None:
        token = _admin(secret)
        current = self._by_name.get(ADMIN_TOKEN_NAME)
        if current is not None and current.digest == token.digest and current.revoked_at is None:
            return  # already so (each of N workers starts with the same --admin-token)
        await self._store.replace(token.stored())
        self._apply(token)


def _admin(secret: str) -> Token:
    return Token(ADMIN_TOKEN_NAME, digest(secret), (Grant("", Role.ADMIN),), time.time())


def _sync_directory(path: Path) -> None:
    """fsync a directory, so a rename in it survives a power loss."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_private(path: Path, text: str) -> None:
    """Write `text` to `path`, readable by its owner only (mode 0600 from creation on)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, text.encode())
        os.fsync(fd)
    finally:
        os.close(fd)


def grants_text(grants: Iterable[Grant]) -> str:
    return ", ".join(f"{g.role.name.lower()} on {g.prefix or '(all)'}" for g in grants)
