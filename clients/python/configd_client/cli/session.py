"""One connection to configd for one command: settings, stubs, and error translation.

Every RPC goes through `Session.call`, so a failed call always surfaces as the typed
`ConfigdError` from `configd_client.wire.status`, never as a raw grpc exception.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar, cast

import click
import grpc
import grpc.aio

from configd_client._channel import ConnectOptions
from configd_client._replicas import Replicas
from configd_client._retry import is_write, retry_call
from configd_client.cli.exits import CliFailure, exit_code_for
from configd_client.cli.prompts import confirm
from configd_client.errors import ConfigdError, ReleaseRunning
from configd_client.wire import config_pb2, config_pb2_grpc, release_pb2, release_pb2_grpc
from configd_client.wire.metadata import auth_is_off
from configd_client.wire.status import from_rpc_error

T = TypeVar("T")

OUTPUT_FORMATS = ("table", "json", "yaml")


@dataclass(frozen=True, slots=True)
class Settings:
    """What every command needs: where the server is, how to print, how long to wait."""

    connect: ConnectOptions
    output: str = "table"
    timeout: float = 30.0
    # Read your writes across replicas: the lowest revision reads must see (--min-revision).
    min_revision: int = 0
    # The request id of this command's writes (--request-id; "" = a fresh one per write).
    request_id: str = ""
    # --force on a write: a release running on the namespace is aborted first.
    abort_release: bool = False
    # --dry-run: nothing is written, and so no release is ever aborted (even with --force).
    dry_run: bool = False
    # The command's -m: the message of the abort that --force makes.
    message: str = ""
    # --yes: what the command asks a person is answered yes (the abort --force makes too).
    yes: bool = False


@contextlib.asynccontextmanager
async def admin_channel(settings: Settings) -> AsyncIterator[grpc.aio.Channel]:
    """A channel to one replica that accepts a connection, for AdminService calls (never
    retried, so the replica is chosen before the call is sent)."""
    async with Replicas(settings.connect) as replicas:
        yield await replicas.connected(min(settings.timeout, 5.0))


def translate(exc: grpc.RpcError) -> ConfigdError:
    """The typed configd error a failed call stands for."""
    return from_rpc_error(exc)


async def checked_call(
    settings: Settings,
    method: Callable[..., Any],
    request: Any,
    *,
    creates_token: bool = False,
    replicas: Replicas | None = None,
) -> Any:
    """A unary call with the command's deadline; failures become ConfigdError; a read, and a
    write with its request id, are retried by the SDK's rule (`_retry`). When the server says
    it checks no tokens (--no-auth), a --token sent, or a token created, is pointless: say so
    on stderr, so nobody believes a token protects anything there."""

    async def attempt(remaining: float | None) -> tuple[Any, Any]:
        call = method(request, timeout=remaining)
        return await call, await call.trailing_metadata()

    try:
        reply, metadata = await retry_call(request, attempt, settings.timeout, replicas=replicas)
    except grpc.RpcError as exc:
        raise translate(exc) from exc
    if auth_is_off(metadata):
        addr = replicas.current if replicas is not None else settings.connect.addr
        where = f"the server at {addr} runs with --no-auth"
        if settings.connect.token:
            click.echo(f"warning: {where}: --token (CONFIGD_TOKEN) is not checked", err=True)
        if creates_token:
            click.echo(
                f"warning: {where}: this token is not checked until the server runs with "
                "authentication",
                err=True,
            )
    return reply


class Session:
    """The ConfigService stub on the replicas of --addr; use as an async context manager.

    `config` sends each call to the replica in use at that moment (Replicas), so the retry of
    a read or write moves to the next replica when one fails."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.replicas = Replicas(settings.connect)
        self.config = self.replicas.routed(config_pb2_grpc.ConfigServiceStub)
        self.releases = self.replicas.routed(release_pb2_grpc.ReleaseServiceStub)
        self._auth_checked = False
        # The highest revision this invocation has seen (--min-revision, then every reply):
        # sent as min_revision on reads, so a read that lands on a lagging replica waits for
        # what this command wrote or saw instead of answering from the past.
        self.seen_revision = settings.min_revision
        self._writes = 0  # writes sent, for the ids derived from --request-id

    async def __aenter__(self) -> Session:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.replicas.aclose()

    async def call(self, method: Callable[..., Awaitable[T]], request: Any) -> T:
        """_call(), with the one rule for a write refused because a release runs on its
        namespace: with --force it aborts that release (one revision in history, carrying the
        command's -m) and is sent again, once; the preview of a forced write (a dry-run request
        of a command that is not itself a --dry-run) aborts it only once --yes or a person
        says so; a --dry-run never aborts anything, and says which release is in the way."""
        try:
            return await self._call(method, request)
        except ReleaseRunning as error:
            fields = request.DESCRIPTOR.fields_by_name
            namespace = request.namespace if "namespace" in fields else request.name
            if self.settings.dry_run:
                raise await self._release_in_the_way(namespace, error) from error
            if not self.settings.abort_release:
                raise
            if getattr(request, "dry_run", False):
                # The preview of a forced write: the release goes only with the person's yes,
                # asked before anything changes (the write is confirmed after its preview).
                release = await self._release_name(namespace)
                confirm(
                    f"{namespace} is under {release}; --force aborts it before the write. "
                    f"Abort {release} now, then review the change?",
                    yes=self.settings.yes,
                    action=f"abort {release} of {namespace}",
                    unchanged=f"{release} still runs and nothing was written",
                )
            why = self.settings.message or getattr(request, "message", "") or "no message"
            await self._call(
                self.releases.AbortRelease,
                release_pb2.EndReleaseRequest(
                    namespace=namespace, message=f"aborted by a forced write: {why}"
                ),
            )
            return await self._call(method, request)

    async def _release_in_the_way(self, namespace: str, error: ReleaseRunning) -> CliFailure:
        """The failure of a dry run that meets a running release (it never aborts one)."""
        release = await self._release_name(namespace)
        return CliFailure(
            f"namespace {namespace!r} is under {release}; a dry run never aborts it, even "
            f"with --force: end it with `configctl release abort {namespace}` (or promote it), "
            "then run the dry run again",
            code=exit_code_for(error),
        )

    async def _release_name(self, namespace: str) -> str:
        """ "release N" of the release running on `namespace`, for messages."""
        try:
            reply = await self._call(
                self.releases.GetRelease, release_pb2.GetReleaseRequest(namespace=namespace)
            )
        except ConfigdError:
            return "a release"
        return f"release {reply.release.id}"

    async def _call(self, method: Callable[..., Awaitable[T]], request: Any) -> T:
        """A unary call with the command's deadline; failures become ConfigdError; reads, and
        writes with their request id, are retried by the SDK's one rule
        (`configd_client._retry`). The first
        one also warns when the server checks no tokens (checked_call). Reads carry the
        highest revision seen so far as min_revision; replies raise it."""
        fields = request.DESCRIPTOR.fields_by_name
        if "min_revision" in fields and request.min_revision < self.seen_revision:
            request.min_revision = self.seen_revision
        if is_write(request) and self.settings.request_id and not request.request_id:
            self._writes += 1
            suffix = "" if self._writes == 1 else f".{self._writes}"
            request.request_id = self.settings.request_id + suffix
        if not self._auth_checked:
            self._auth_checked = True
            reply = cast(
                T, await checked_call(self.settings, method, request, replicas=self.replicas)
            )
        else:
            try:
                reply = await retry_call(
                    request,
                    lambda remaining: method(request, timeout=remaining),
                    self.settings.timeout,
                    replicas=self.replicas,
                )
            except grpc.RpcError as exc:
                raise translate(exc) from exc
        self.note_revision(reply)
        return reply

    def note_revision(self, reply: Any) -> None:
        """Raise seen_revision to what a reply reports (its revision, the server's current)."""
        fields = reply.DESCRIPTOR.fields_by_name
        for name in ("revision", "current_revision"):
            if name in fields:
                self.seen_revision = max(self.seen_revision, getattr(reply, name))

    async def stream(self, method: Callable[..., Any], request: Any) -> AsyncIterator[Any]:
        """A server stream without a deadline; failures become ConfigdError."""
        call = method(request)
        try:
            async for message in call:
                yield message
        except grpc.RpcError as exc:
            raise translate(exc) from exc
        finally:
            call.cancel()

    async def list_namespaces(self, prefix: str = "") -> tuple[list[Any], int]:
        """Every namespace under a prefix (all pages) and the revision of the first page."""
        found: list[Any] = []
        token = ""
        revision = 0
        while True:
            page = await self.call(
                self.config.ListNamespaces,
                config_pb2.ListNamespacesRequest(prefix=prefix, page_token=token),
            )
            revision = revision or page.revision
            found.extend(page.namespaces)
            token = page.next_page_token
            if not token:
                return found, revision

    async def get_namespace(self, name: str, revision: int = 0) -> Any:
        return await self.call(
            self.config.GetNamespace,
            config_pb2.GetNamespaceRequest(name=name, revision=revision),
        )


def run(settings: Settings, work: Callable[[Session], Awaitable[T]]) -> T:
    """Open a session, run one command's coroutine in a fresh event loop, close the session."""

    async def main() -> T:
        async with Session(settings) as session:
            return await work(session)

    return asyncio.run(main())
