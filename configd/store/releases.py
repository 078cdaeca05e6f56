"""Releases as the API sees them: start, progress, promote, abort, the clients, and the
supervisor that promotes or aborts a release by itself.

The rules are configd.core.releases; the writes go through ConfigService like every write
(one revision each, through the writer); progress is read from the store (ClientStore), so
every replica tells the same. The supervisor runs in the maintainer only (one process per
store): it ends a release with one ordinary write, refused harmlessly (NoRunningRelease) if
an operator ended it first, and deletes the records of clients long gone (forget_clients).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass

from configd.core.errors import ConfigdError, NamespaceNotFound, NoRunningRelease, NotFound
from configd.core.model import Namespace, Release, ReleaseState, WriteResult
from configd.core.names import check_namespace
from configd.core.releases import (
    SYSTEM_AUTHOR,
    AckRecord,
    ClientRecord,
    Tally,
    decide,
    forget_before,
    tally,
    targets,
)
from configd.storage.base import ClientStore
from configd.store.clients import DEFAULT_FORGET_CLIENTS_AFTER, ClientRegistry
from configd.store.service import ConfigService

log = logging.getLogger("configd.releases")


@dataclass(frozen=True, slots=True)
class ReleaseStatus:
    release: Release
    progress: Tally
    revision: int  # the server's current revision


@dataclass(frozen=True, slots=True)
class ClientView:
    """A client as `configctl clients` lists it: its record and its acks per namespace, each
    with whether it is behind (has not acknowledged what its view of the namespace is at)."""

    record: ClientRecord
    acks: tuple[tuple[AckRecord, bool], ...]


class Releases:
    def __init__(
        self,
        service: ConfigService,
        store: ClientStore,
        registry: ClientRegistry,
        *,
        supervise_interval: float = 0.25,
        forget_clients_after: float = DEFAULT_FORGET_CLIENTS_AFTER,
    ) -> None:
        self._service = service
        self._store = store
        self._registry = registry
        self._interval = supervise_interval
        self._forget_after = forget_clients_after
        self._task: asyncio.Task[None] | None = None
        # Ends of releases this process made by itself, by state (for metrics).
        self.self_ended: dict[ReleaseState, int] = {}

    # -- progress ---------------------------------------------------------------------------

    async def _progress(self, release: Release) -> Tally:
        if release.state is not ReleaseState.RUNNING:
            return tally(release, (), {}, now=time.time(), client_timeout=0)
        timeout = self._registry.client_timeout
        clients = await self._store.load_clients(release.started_at - timeout)
        acks = {a.client_id: a for a in await self._store.load_acks(release.namespace)}
        return tally(release, clients, acks, now=time.time(), client_timeout=timeout)

    async def status(self, namespace: str, release_id: int = 0) -> ReleaseStatus:
        """The release `release_id` (0: the running one, else the newest) with its progress."""
        check_namespace(namespace, self._service.limits, field="namespace")
        if release_id < 0:
            raise NotFound(f"release_id {release_id} is negative; give 0 for the newest")
        current = self._service.namespaces.get(namespace)
        release: Release | None = None
        if (
            current is not None
            and current.release is not None
            and (release_id in (0, current.release.id))
        ):
            release = current.release
        else:
            release = await self._service.storage.release(namespace, release_id)
        if release is None:
            if current is None:
                raise NamespaceNotFound(
                    f"namespace {namespace!r} does not exist; create it first",
                    namespace=namespace,
                )
            what = f"release {release_id}" if release_id else "any release"
            raise NotFound(f"namespace {namespace!r} has not had {what}")
        return ReleaseStatus(release, await self._progress(release), self._service.revision)

    # -- writes -----------------------------------------------------------------------------

    async def end(
        self,
        namespace: str,
        state: ReleaseState,
        *,
        release_id: int,
        author: str,
        message: str,
        request_id: str = "",
    ) -> WriteResult:
        """Promote or abort, storing the release's final tally with it."""
        current = self._service.namespaces.get(namespace)
        outcome = ""
        if current is not None and current.release is not None:
            outcome = (await self._progress(current.release)).to_json()
        verb = "promoted" if state is ReleaseState.PROMOTED else "aborted"
        return await self._service.end_release(
            namespace,
            state,
            release_id=release_id,
            author=author,
            message=message or f"release {verb}",
            outcome_json=outcome,
            request_id=request_id,
        )

    # -- clients ----------------------------------------------------------------------------

    async def clients(self, namespace: str = "") -> list[ClientView]:
        """Clients seen within the client timeout (watching `namespace`, if given)."""
        if namespace:
            check_namespace(namespace, self._service.limits, field="namespace")
        timeout = self._registry.client_timeout
        records = await self._store.load_clients(time.time() - timeout)
        if namespace:
            records = [r for r in records if r.watches(namespace)]
            acks_by_ns = {namespace: await self._store.load_acks(namespace)}
        else:
            names = sorted({n for r in records for n in r.names} | self._prefixed(records))
            acks_by_ns = {n: await self._store.load_acks(n) for n in names}
        by_client: dict[str, list[tuple[AckRecord, bool]]] = {}
        for name, acks in acks_by_ns.items():
            current = self._service.namespaces.get(name)
            for ack in acks:
                by_client.setdefault(ack.client_id, []).append(
                    (ack, self._behind(current, ack, records))
                )
        return [ClientView(r, tuple(by_client.get(r.client_id, ()))) for r in records]

    def _prefixed(self, records: Sequence[ClientRecord]) -> set[str]:
        prefixes = {p for r in records for p in r.prefixes}
        return {n for n in self._service.namespaces if any(n.startswith(p) for p in prefixes)}

    @staticmethod
    def _behind(current: Namespace | None, ack: AckRecord, records: Sequence[ClientRecord]) -> bool:
        """Whether the client has not acknowledged the revision its view of the namespace is
        at: the namespace revision, or the one before the release for clients outside it."""
        if current is None:
            return False
        seen = max(ack.applied_revision, ack.rejected_revision)
        view_revision = current.mod_revision
        release = current.release
        if release is not None:
            record = next((r for r in records if r.client_id == ack.client_id), None)
            if record is None or not targets(release, record.identity):
                view_revision = release.base_revision
        return seen < view_revision

    # -- the supervisor -------------------------------------------------------------------

    def start(self) -> None:
        self._task = asyncio.create_task(self._supervise(), name="configd-releases")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def forget_clients(self) -> None:
        """Delete the disconnected clients not seen for --forget-clients-after (and their
        acks) that no running release counts any more."""
        running = [n.release for n in self._service.namespaces.values() if n.release is not None]
        await self._store.forget_clients(
            forget_before(
                time.time(),
                running,
                forget_after=self._forget_after,
                client_timeout=self._registry.client_timeout,
            )
        )

    async def _supervise(self) -> None:
        # Forgetting is cheap and rare: at start, then every half retention, at most hourly.
        forget_every = min(self._forget_after / 2, 3600.0)
        next_forget = time.monotonic()
        while True:
            await asyncio.sleep(self._interval)
            if not self._service.maintainer:
                continue
            if time.monotonic() >= next_forget:
                next_forget = time.monotonic() + forget_every
                try:
                    await self.forget_clients()
                except ConfigdError as exc:
                    log.warning("forgetting disconnected clients failed: %s", exc)
                except Exception:  # a bug here must not end the release supervision
                    log.exception("forgetting disconnected clients failed")
            for namespace in list(self._service.namespaces.values()):
                release = namespace.release
                if release is None or (release.max_failures is None and release.bake_seconds <= 0):
                    continue
                try:
                    await self._decide(release)
                except NoRunningRelease:
                    pass  # ended meanwhile by an operator (or another maintainer)
                except ConfigdError as exc:
                    log.warning("release %d of %s: %s", release.id, release.namespace, exc)
                except Exception:
                    log.exception("release %d of %s", release.id, release.namespace)

    async def _decide(self, release: Release) -> None:
        progress = await self._progress(release)
        decision = decide(release, progress, now=time.time())
        if decision is None:
            return
        await self._service.end_release(
            release.namespace,
            decision.state,
            release_id=release.id,
            author=SYSTEM_AUTHOR,
            message=decision.message,
            outcome_json=progress.to_json(),
        )
        self.self_ended[decision.state] = self.self_ended.get(decision.state, 0) + 1
        log.info("release %d of %s: %s", release.id, release.namespace, decision.message)
