"""Who may call what: bearer-token authentication and the role each RPC needs.

Called from api.handlers' one frame per call (Guard.token, Guard.admit, Guard.filter,
Guard.watching) rather than as a grpc.aio ServerInterceptor: an interceptor sees only the
method name and metadata (not the request, which names the namespaces) and would build a new
handler object per call to get at it. Here the method's Access is looked up once at
registration; a call costs one metadata scan, one SHA-256 and one dict lookup for the token
(a digest this process does not know waits for one look in the store, shared by concurrent
callers: TokenRegistry), and a prefix check per namespace. The gRPC-Web gateway forwards to
this same server (with the `authorization` header as metadata), so browsers are checked by
the same code.

Decisions: GetSchema is read. ListNamespaces is allowed with read on any namespace under the
requested prefix and lists only the namespaces the token can read (so `configctl ns list`
works for a token scoped to "payments/"). Watch needs read on every selected name and
prefix. CreateToken needs admin on every prefix the new token is granted (a prefix admin can
hand out tokens for its own prefix); every other AdminService RPC, and any method not in the
table, needs admin on "" (everything).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from configd.api import identity
from configd.api.decoding import Undecodable
from configd.api.ratelimit import RateLimiter
from configd.core.errors import LimitExceeded, PermissionDenied, Unauthenticated
from configd.core.limits import Limits
from configd.core.roles import Role, covers, covers_some
from configd.store.tokens import Token, TokenRegistry
from configd.watch.hub import WatchHub
from configd_client.wire.metadata import AUTH_HEADER, AUTH_OFF

Scopes = Callable[[Any], Iterable[str]]


def _field(name: str) -> Scopes:
    return lambda request: (getattr(request, name),)


def _everything(request: Any) -> Iterable[str]:
    return ("",)


def _watched(request: Any) -> Iterable[str]:
    # An empty selection is refused by the hub (INVALID_ARGUMENT), not here.
    return (*request.namespaces, *request.prefixes)


def _granted(request: Any) -> Iterable[str]:
    return tuple(grant.prefix for grant in request.grants) or ("",)


@dataclass(frozen=True, slots=True)
class Access:
    """What a method needs: `role` on every namespace (or prefix) the request names."""

    role: Role
    scopes: Scopes
    writes: bool = False  # counts against max_writes_per_second
    listing: bool = False  # ListNamespaces: results filtered to readable namespaces


_CONFIG = "/configd.v1.ConfigService/"
_ADMIN = "/configd.v1.AdminService/"
_RELEASE = "/configd.v1.ReleaseService/"


def _acked(request: Any) -> Iterable[str]:
    return tuple({ack.namespace for ack in request.acks})


ACCESS: Mapping[str, Access] = {
    _CONFIG + "Get": Access(Role.READ, _field("namespace")),
    _CONFIG + "GetNamespace": Access(Role.READ, _field("name")),
    _CONFIG + "ListNamespaces": Access(Role.READ, _field("prefix"), listing=True),
    _CONFIG + "GetSchema": Access(Role.READ, _field("name")),
    _CONFIG + "History": Access(Role.READ, _field("namespace")),
    _CONFIG + "Watch": Access(Role.READ, _watched),
    _CONFIG + "Put": Access(Role.WRITE, _field("namespace"), writes=True),
    _CONFIG + "Delete": Access(Role.WRITE, _field("namespace"), writes=True),
    _CONFIG + "Txn": Access(Role.WRITE, _field("namespace"), writes=True),
    _CONFIG + "Apply": Access(Role.WRITE, _field("namespace"), writes=True),
    _CONFIG + "Rollback": Access(Role.WRITE, _field("namespace"), writes=True),
    _CONFIG + "SetSchema": Access(Role.ADMIN, _field("name"), writes=True),
    _CONFIG + "CreateNamespace": Access(Role.ADMIN, _field("name"), writes=True),
    _CONFIG + "DeleteNamespace": Access(Role.ADMIN, _field("name"), writes=True),
    _RELEASE + "StartRelease": Access(Role.WRITE, _field("namespace"), writes=True),
    _RELEASE + "PromoteRelease": Access(Role.WRITE, _field("namespace"), writes=True),
    _RELEASE + "AbortRelease": Access(Role.WRITE, _field("namespace"), writes=True),
    _RELEASE + "GetRelease": Access(Role.READ, _field("namespace")),
    _RELEASE + "ListClients": Access(Role.READ, _field("namespace")),
    # A client acknowledges what it may read (its own token).
    _RELEASE + "Ack": Access(Role.READ, _acked),
    _ADMIN + "CreateToken": Access(Role.ADMIN, _granted, writes=True),
    _ADMIN + "ListTokens": Access(Role.ADMIN, _everything),
    _ADMIN + "RevokeToken": Access(Role.ADMIN, _everything, writes=True),
    _ADMIN + "GetStatus": Access(Role.ADMIN, _everything),
    _ADMIN + "Compact": Access(Role.ADMIN, _everything, writes=True),
    _ADMIN + "Backup": Access(Role.ADMIN, _everything),
}
"""Every RPC's access rule; a method missing here needs admin on everything."""

DEFAULT_ACCESS = Access(Role.ADMIN, _everything, writes=True)


def access_for(method: str) -> Access:
    """The rule for a full method name ("/configd.v1.ConfigService/Get")."""
    return ACCESS.get(method, DEFAULT_ACCESS)


def bearer(context: Any) -> str:
    """The token from the `authorization: Bearer <token>` metadata, or Unauthenticated."""
    for key, value in context.invocation_metadata() or ():
        if key == "authorization":
            scheme, _, token = str(value).partition(" ")
            if scheme.lower() == "bearer" and token.strip():
                return token.strip()
            break
    raise Unauthenticated(
        "this server requires a bearer token: send 'authorization: Bearer <token>' "
        "(configctl --token / CONFIGD_TOKEN; the first admin token is in "
        "<data-dir>/admin.token)"
    )


def _denied(token: Token, access: Access, scope: str) -> PermissionDenied:
    where = f"namespace {scope!r}" if scope else "every namespace (prefix '')"
    return PermissionDenied(
        f"token {token.name!r} does not have the {access.role.name.lower()} role on {where}; "
        "ask an admin for a token with that grant"
    )


class Guard:
    """Authenticates each call, checks its Access, sets the caller's identity, and applies
    the per-token limits (writes per second, open watches)."""

    def __init__(self, registry: TokenRegistry, limits: Limits, hub: WatchHub) -> None:
        self._registry = registry
        self._limits = limits
        self._hub = hub
        self._writes = RateLimiter(limits.max_writes_per_second)
        self._watches: dict[str, int] = {}
        registry.add_revocation_listener(hub.interrupt)

    def token(self, context: Any) -> Token | Awaitable[Token]:
        """The caller's token: at once when this process knows its digest, else an
        awaitable of the registry's look in the store (a digest not known here may be a token
        another process just created). Unauthenticated without a bearer token."""
        secret = bearer(context)
        return self._registry.known(secret) or self._registry.authenticate(secret)

    def admit(self, request: Any, token: Token, access: Access) -> None:
        """Check `access` for `token` (and the write rate), then make it the caller."""
        if not isinstance(request, Undecodable):  # else the call answers INVALID_ARGUMENT
            self._check(request, token, access)
        identity.caller.set(token.name)

    def _check(self, request: Any, token: Token, access: Access) -> None:
        if access.listing:
            prefix = request.prefix
            if not covers_some(token.grants, access.role, prefix):
                raise _denied(token, access, prefix)
        else:
            for scope in access.scopes(request):
                if not covers(token.grants, access.role, scope):
                    raise _denied(token, access, scope)
        if access.writes and not self._writes.allow(token.name):
            rate = self._limits.max_writes_per_second
            raise LimitExceeded(
                f"token {token.name!r} is over its limit of {rate} writes per second "
                "(max_writes_per_second); slow down, or write several keys in one transaction",
                limit="max_writes_per_second",
                value=rate,
            )

    def filter(self, token: Token, response: Any) -> Any:
        """ListNamespaces: keep only the namespaces the token can read."""
        if covers(token.grants, Role.READ, ""):
            return response
        readable = [n for n in response.namespaces if covers(token.grants, Role.READ, n.name)]
        del response.namespaces[:]
        response.namespaces.extend(readable)
        return response

    def watching(self, token: Token) -> _Watching:
        """Held while a Watch stream of `token` is open (max_watchers_per_token, expiry)."""
        return _Watching(self, token)

    def _open(self, token: Token) -> asyncio.TimerHandle | None:
        count = self._watches.get(token.name, 0)
        allowed = self._limits.max_watchers_per_token
        if count >= allowed:
            raise LimitExceeded(
                f"token {token.name!r} already holds its maximum of {allowed} open streams "
                "(max_watchers_per_token); close some or watch a prefix instead",
                limit="max_watchers_per_token",
                value=allowed,
            )
        self._watches[token.name] = count + 1
        identity.stream_guard.set(
            identity.StreamGuard(token.name, lambda: self._registry.verify(token))
        )
        if token.expires_at is None:
            return None
        # Wake the stream when the token expires, so it is cut then, not at its next event.
        loop = asyncio.get_running_loop()
        delay = max(0.0, token.expires_at - time.time())
        return loop.call_later(delay, self._hub.interrupt, token.name)

    def _close(self, token: Token, timer: asyncio.TimerHandle | None) -> None:
        if timer is not None:
            timer.cancel()
        count = self._watches.get(token.name, 1) - 1
        if count > 0:
            self._watches[token.name] = count
        else:
            self._watches.pop(token.name, None)


class _Watching:
    """A stream's hold on its token's watch count (and expiry timer) while it is open."""

    __slots__ = ("_guard", "_timer", "_token")

    def __init__(self, guard: Guard, token: Token) -> None:
        self._guard = guard
        self._token = token
        self._timer: asyncio.TimerHandle | None = None

    async def __aenter__(self) -> None:
        self._timer = self._guard._open(self._token)

    async def __aexit__(self, *exc_info: object) -> None:
        self._guard._close(self._token, self._timer)


_AUTH_OFF_METADATA = ((AUTH_HEADER, AUTH_OFF),)


def announce_open_access(context: Any) -> None:
    """Without a Guard (--no-auth): every response says so in its trailing metadata, so a client
    sending or creating a token can tell that no token is checked here. Trailing, not initial:
    it travels with the status the call sends anyway, where sending initial metadata of its own
    is one more operation per call (measurable on the get path)."""
    context.set_trailing_metadata(_AUTH_OFF_METADATA)
