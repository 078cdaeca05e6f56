"""AsyncConfigClient: one watch stream, an immutable view swapped per revision, and a cache.

How it works (the threaded ConfigClient runs this same code in a background loop):

- The first connection asks Watch for a snapshot (`send_snapshot`, start revision 0): the server
  sends every watched namespace, with its schema, at one revision R, then every change after R
  on the same stream. Compared with GetNamespace calls followed by a Watch, this is one round
  trip, atomic across namespaces (all at R), resolves prefix selections on the server, and
  leaves no window between the read and the watch in which a write could be missed.
- Reconnects resume with `start_revision = last revision + 1` and no snapshot; the server
  replays exactly what was missed, or sends a `resync` snapshot when history was compacted.
  The stream, its resume and its backoff are WatchStream's (the one `configctl watch` uses).
- The client keeps two copies of each namespace: the mirror (the server's document, kept
  exactly, so that each change set applies to the right base) and the published `_Doc` (the
  last document that passed the client's schema check). Each applied revision builds a new
  `_View` and assigns it to `self._view` once; `get()` reads that one reference.
- A client started from the cache has no mirror; its first connection takes a snapshot (the
  cache may be old or come from another server), so the switch is again one atomic swap.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import inspect
import logging
from collections.abc import Awaitable, Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Self, TypeVar

from configd_client import _cache
from configd_client._acks import AckSender
from configd_client._options import ClientOptions
from configd_client._snapshot import (
    Snapshot,
    _Doc,
    _empty_doc,
    _View,
    freeze,
)
from configd_client._state import ClientState, ClientStatus, Rejection
from configd_client._stream import WatchStream
from configd_client._validate import DocumentChecker
from configd_client.errors import (
    CheckRefused,
    ConfigdError,
    InvalidArgument,
    NamespaceNotFound,
    NotFound,
    PermissionDenied,
    SchemaViolation,
    Unauthenticated,
    Unavailable,
)
from configd_client.wire import config_pb2 as pb
from configd_client.wire.jsontext import JSONValue
from configd_client.wire.jsontext import dumps as dump_json
from configd_client.wire.jsontext import loads as parse_json

T = TypeVar("T")

ChangeCallback = Callable[[Snapshot, Snapshot, frozenset[str]], Awaitable[None] | None]
"""on_change(old, new, changed_keys): called after the swap, once per changed namespace."""

Check = Callable[[Snapshot], bool | Awaitable[bool | None] | None]
"""add_check(fn): fn(candidate) runs before the swap; raising or returning (or, for a
coroutine function, resolving to) False vetoes it."""

_CREDENTIAL_ERRORS = (Unauthenticated, PermissionDenied)
# Errors that retrying will not fix: without a cache to fall back on, start() fails at once.
_FATAL_AT_START = (*_CREDENTIAL_ERRORS, InvalidArgument, NotFound)

_LOGGER = logging.getLogger("configd_client")


class _ProtocolError(Exception):
    """The server sent something the client cannot apply; the client resyncs from a snapshot."""


class _Mirror:
    """The server's current state of one namespace, as the stream has told it (loop-owned)."""

    __slots__ = (
        "create_revision",
        "mod_revision",
        "name",
        "schema_json",
        "schema_version",
        "texts",
        "values",
    )

    def __init__(
        self,
        name: str,
        *,
        create_revision: int,
        mod_revision: int,
        schema_version: int,
        schema_json: str,
        values: dict[str, JSONValue],
    ) -> None:
        self.name = name
        self.create_revision = create_revision
        self.mod_revision = mod_revision
        self.schema_version = schema_version
        self.schema_json = schema_json
        self.values = values  # plain parsed values, what the schema check sees
        self.texts = {key: dump_json(value) for key, value in values.items()}


_Change = tuple[str, _Doc | None, _Doc | None, frozenset[str]]


def _changed_keys(old: _Doc | None, new: _Doc | None) -> frozenset[str]:
    before = old.texts if old is not None else {}
    after = new.texts if new is not None else {}
    if before is after:
        return frozenset()
    return frozenset(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))


class AsyncConfigClient:
    """Watches configd namespaces and serves their values locally, for asyncio programs.

    Use as `async with AsyncConfigClient("payments/prod") as config: config.get("timeout")`.
    `namespaces` are exact names, `prefixes` select every namespace whose name starts with one.
    Everything else is a ClientOptions: pass `options=`, its fields as keyword arguments
    (`cache_path=...`, `start_timeout=...`), or both (the keywords win); an unknown keyword is a
    TypeError naming it.
    """

    def __init__(
        self,
        namespaces: str | Iterable[str] = (),
        *,
        prefixes: Iterable[str] = (),
        options: ClientOptions | None = None,
        **kwargs: Any,
    ) -> None:
        names = (namespaces,) if isinstance(namespaces, str) else tuple(namespaces)
        prefixes = tuple(prefixes)
        if not names and not prefixes:
            raise ValueError("configd: watch at least one namespace or prefix")
        self._selection = _cache.Selection(tuple(sorted(set(names))), tuple(sorted(set(prefixes))))
        settings = ClientOptions.build(options, kwargs)
        self._settings = settings
        self._options = settings.connect_options()
        self._cache_path = Path(settings.cache_path) if settings.cache_path is not None else None
        self._start_timeout = settings.start_timeout
        self._idle_timeout = settings.idle_timeout
        self._checker = DocumentChecker(settings.schemas)
        self._client_id, self._labels = settings.identity()
        self._checks: list[Check] = []
        # (namespace, revision, applied, reason) of the message being applied, acknowledged
        # once it is swapped in (configd_client._acks).
        self._outcomes: list[tuple[str, int, bool, str]] = []
        self._acks = AckSender(
            self._client_id,
            lambda: self._stream.channel if self._stream is not None else None,
            settings.logger or _LOGGER,
        )
        self._log = settings.logger or _LOGGER
        only = self._selection.namespaces
        self._single = only[0] if len(only) == 1 and not self._selection.prefixes else None
        self._empty_single = _empty_doc(self._single) if self._single is not None else None

        self._view = _View(0, {}, None)
        self._status = ClientStatus(ClientState.STARTING)
        self._started = False
        self._closed = False
        self._mirrors: dict[str, _Mirror] | None = None
        # namespace -> why its newest document is not served (its SchemaViolation)
        self._rejected: dict[str, SchemaViolation | CheckRefused] = {}
        self._missing: frozenset[str] = frozenset()  # watched names the server says are absent
        self._missing_error: NamespaceNotFound | None = None
        self._conn_error: ConfigdError | None = None  # the broken watch, until a reconnect
        self._running = False  # start() has returned: missing namespaces no longer fail it
        self._refused = False  # start() fails with a missing namespace: stop the watch loop
        self._callbacks: list[ChangeCallback] = []
        self._waiters: list[tuple[int, asyncio.Future[None]]] = []
        self._stream: WatchStream | None = None
        self._task: asyncio.Task[None] | None = None
        self._first_data: asyncio.Future[None] | None = None
        self._first_failure: asyncio.Event | None = None
        self._has_cache = False
        self._cache_dirty = False
        self._cache_task: asyncio.Task[None] | None = None
        self._cache_error = ""

    # -- reading (cheap, lock-free: one reference read of the current view) --------------------

    def get(self, key: str, default: JSONValue = None, *, namespace: str | None = None) -> Any:
        """The value of `key` (frozen: arrays are tuples, objects read-only mappings)."""
        view = self._view
        doc = view.default if namespace is None else view.docs.get(namespace)
        if doc is None:
            return self._absent(namespace, default)
        return doc.values.get(key, default)

    def snapshot(self, namespace: str | None = None) -> Snapshot:
        """One namespace's values at one revision, as an immutable mapping with `.revision`."""
        view = self._view
        doc = view.default if namespace is None else view.docs.get(namespace)
        if doc is None:
            self._absent(namespace, None)
        name = namespace if namespace is not None else self._single
        assert name is not None
        return Snapshot(name, view.revision, doc)

    def snapshots(self) -> dict[str, Snapshot]:
        """Every existing watched namespace, all from the same view (the same revision)."""
        view = self._view
        return {name: Snapshot(name, view.revision, doc) for name, doc in view.docs.items()}

    def bind(self, cls: type[T], *, namespace: str | None = None) -> T:
        """A new instance of dataclass `cls` from the namespace's current values."""
        return self.snapshot(namespace).bind(cls)

    @property
    def status(self) -> ClientStatus:
        return self._status

    @property
    def revision(self) -> int:
        """The revision the client's values are at (see ClientStatus.revision)."""
        return self._view.revision

    @property
    def options(self) -> ClientOptions:
        """The options this client was made with."""
        return self._settings

    def _absent(self, namespace: str | None, default: JSONValue) -> JSONValue:
        if not self._started:
            raise RuntimeError(
                "configd: the client is not started; use `async with` or await start()"
            )
        if namespace is None:
            raise TypeError(
                "configd: this client watches several namespaces; pass namespace= to say which"
            )
        if not self._selection.covers(namespace):
            raise KeyError(f"configd: namespace {namespace!r} is not watched by this client")
        return default

    # -- subscribing -----------------------------------------------------------------------------

    @property
    def client_id(self) -> str:
        """Who this client is to the server (ClientOptions.client_id, or the default made)."""
        return self._client_id

    @property
    def labels(self) -> dict[str, str]:
        """The labels the client sends (ClientOptions.labels with CONFIGD_LABELS)."""
        return dict(self._labels)

    def add_check(self, check: Check) -> Check:
        """Run `check(candidate)` on each new snapshot of a namespace before it is swapped in;
        raising or returning False vetoes it: readers keep the previous snapshot, and the
        server is told the revision was rejected (with the exception's text), so a release
        that a check refuses can abort itself. A check may be an `async def` (or return any
        awaitable): the result is awaited, and what it resolves to (or raises) is the verdict.
        Checks run in the client's task, one at a time, in the order added, and hold up every
        later revision while they run; keep them quick. Returns `check`, so this works as a
        decorator."""
        self._checks.append(check)
        return check

    def on_change(self, callback: ChangeCallback) -> ChangeCallback:
        """Call `callback(old, new, changed_keys)` after each swap that changes a namespace.

        Callbacks run in the client's task (the background thread for ConfigClient), one at a
        time, in revision order; a coroutine result is awaited. An exception is logged and the
        updates continue. Returns `callback`, so this works as a decorator.
        """
        self._callbacks.append(callback)
        return callback

    # The timeout parameter is the SDK contract (same call on both clients), hence the noqa.
    async def wait_for_revision(
        self,
        revision: int,
        timeout: float | None = None,  # noqa: ASYNC109
    ) -> int:
        """Wait until the client has processed `revision`; returns the client's revision.

        Processed means: the values of `revision` (or a later one) are what get() returns, and
        every on_change callback for those revisions has returned (a coroutine callback has
        finished), so this returns after the callbacks, never before them. Raises TimeoutError
        after `timeout` seconds. A revision whose document the client rejected counts as
        processed: check `status.rejected`. A revision that touched no watched namespace is
        confirmed by the server's next idle progress report (seconds).
        """
        if self._view.revision >= revision:
            return self._view.revision
        if not self._started or self._closed:
            raise RuntimeError("configd: the client is not running")
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        entry = (revision, future)
        self._waiters.append(entry)
        try:
            async with asyncio.timeout(timeout):
                await future
        except TimeoutError:
            raise TimeoutError(
                f"configd: revision {revision} not reached within {timeout}s "
                f"(client at revision {self._view.revision}, {self._status.state.value})"
            ) from None
        finally:
            with contextlib.suppress(ValueError):
                self._waiters.remove(entry)
        return self._view.revision

    # -- lifecycle -------------------------------------------------------------------------------

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def start(self) -> None:
        """Connect and load the watched namespaces (or the cache; see the class docstring)."""
        if self._started:
            raise RuntimeError("configd: a client can be started only once")
        self._started = True
        loop = asyncio.get_running_loop()
        self._first_data = loop.create_future()
        self._first_failure = asyncio.Event()
        cached = None
        cached_view = None
        if self._cache_path is not None:
            cached = await asyncio.to_thread(
                _cache.load, self._cache_path, self._selection, self._log
            )
            cached_view = self._view_from_cache(cached) if cached is not None else None
            self._has_cache = cached_view is not None
        self._stream = WatchStream(
            self._options,
            client=(self._client_id, self._labels),
            namespaces=self._selection.namespaces,
            prefixes=self._selection.prefixes,
            # Never a snapshot older than the cache or the caller's floor (a lagging replica
            # waits to catch up).
            min_revision=max(
                self._settings.min_revision,
                cached.revision if cached is not None and cached_view is not None else 0,
            ),
            idle_timeout=self._idle_timeout,
            backoff_initial=self._settings.backoff_initial,
            backoff_max=self._settings.backoff_max,
            retry=self._retry,
        )
        self._task = asyncio.create_task(self._run(), name="configd-watch")
        try:
            await self._wait_started(cached_view, cached)
        except BaseException:
            await self.aclose()
            raise

    async def _wait_started(
        self, cached_view: _View | None, cached: _cache.CacheContent | None
    ) -> None:
        assert self._first_data is not None
        assert self._first_failure is not None
        loop = asyncio.get_running_loop()
        deadline = None if self._start_timeout is None else loop.time() + self._start_timeout
        while not self._first_data.done():
            # The cache stands in for a server that cannot be reached, never for one that said
            # a watched namespace does not exist (missing="wait" waits for it instead).
            use_cache = cached_view is not None and not self._missing
            if use_cache and self._first_failure.is_set():
                break
            waits: set[asyncio.Future[Any]] = {self._first_data}
            failure = None
            if use_cache:
                failure = asyncio.ensure_future(self._first_failure.wait())
                waits.add(failure)
            remaining = None if deadline is None else max(0.0, deadline - loop.time())
            try:
                done, _ = await asyncio.wait(
                    waits, timeout=remaining, return_when="FIRST_COMPLETED"
                )
            finally:
                if failure is not None:
                    failure.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await failure
            if not done:
                break  # start_timeout
        if self._first_data.done():
            self._first_data.result()  # raises the fatal error, if that is what ended the wait
            self._running = True
            return
        if self._missing:
            error = NamespaceNotFound(
                f"{self._missing_text(self._missing)} on configd at {self._options.addr}, and "
                f"was not created within start_timeout={self._start_timeout}s "
                f"(missing='wait'). Create it (configctl ns create {min(self._missing)}) or "
                "pass start_timeout=None to wait as long as it takes"
            )
            self._log.error("configd: %s", error.detail)
            raise error
        if cached_view is not None and cached is not None:
            self._view = cached_view
            self._running = True
            self._set_status(
                state=ClientState.FROM_CACHE,
                cache_revision=cached.revision,
                revision=cached.revision,
                source="cache",
                last_update=cached.written_at,
            )
            self._log.warning(
                "configd: cannot reach configd at %s (%s); serving the cached values of "
                "revision %d from %s and retrying",
                self._options.addr,
                self._status.last_error,
                cached.revision,
                self._cache_path,
            )
            return
        where = f"the cache file {self._cache_path}" if self._cache_path else "no cache_path"
        raise Unavailable(
            f"could not load {self._describe_selection()} from configd at {self._options.addr} "
            f"within {self._start_timeout}s and there is no usable cache ({where}); "
            f"last error: {self._status.last_error or 'none'}. Check that the server is running "
            "and reachable, or pass start_timeout=None to wait for it"
        )

    async def aclose(self) -> None:
        """Stop watching and close the channel; the last values stay readable. Idempotent."""
        if self._closed:
            return
        self._closed = True
        task = self._task
        if task is not None and task is not asyncio.current_task():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._cache_task is not None and self._cache_task is not asyncio.current_task():
            with contextlib.suppress(Exception):
                await self._cache_task
        if self._first_data is not None and not self._first_data.done():
            self._first_data.cancel()
        for _, future in self._waiters:
            if not future.done():
                future.set_exception(RuntimeError("configd: the client was closed"))
        self._waiters.clear()
        await self._acks.aclose()
        if self._stream is not None:
            await self._stream.aclose()
        self._set_status(state=ClientState.CLOSED)

    # -- the watch loop --------------------------------------------------------------------------

    async def _run(self) -> None:
        stream = self._stream
        assert stream is not None
        try:
            async for message in stream:
                if self._refused:
                    return  # start() is raising NamespaceNotFound and closing the client
                if stream.first_of_connection:
                    self._connected(message)
                try:
                    await self._handle(message)
                except _ProtocolError as exc:
                    self._mirrors = None  # reload everything from a snapshot on the next stream
                    error = Unavailable(f"cannot apply a watch message ({exc}); resyncing")
                    self._log.error("configd: %s", error.detail)
                    stream.resync(error)
                except Exception as exc:
                    self._mirrors = None
                    error = Unavailable(f"unexpected failure handling the watch stream: {exc!r}")
                    self._log.exception("configd: %s", error.detail)
                    stream.resync(error)
        except ConfigdError:
            return  # refused at start with nothing to fall back on: start() raises it

    def _connected(self, message: Any) -> None:
        self._conn_error = None  # the server answers: the broken watch is history
        if self._status.state is not ClientState.CONNECTED and (
            self._mirrors is not None or message.HasField("snapshot")
        ):
            self._set_status(state=ClientState.CONNECTED)
            self._log.info(
                "configd: watching %s at %s", self._describe_selection(), self._options.addr
            )
        else:
            self._set_status()

    def _retry(self, error: ConfigdError, received: bool) -> bool:
        return not self._note_failure(error)

    def _note_failure(self, error: ConfigdError) -> bool:
        """Record a broken stream; True if start() must fail with it (nothing to fall back on)."""
        previous = self._conn_error  # the failure before this one, unless a reconnect came between
        state = self._status.state
        if state is ClientState.CONNECTED:
            state = ClientState.RECONNECTING
        self._conn_error = error
        self._set_status(state=state, last_error=error, last_error_at=datetime.now(UTC))
        repeated = previous is not None and str(previous) == str(error)
        if isinstance(error, _FATAL_AT_START):
            # Not a blip: say so loudly every time, the operator must act.
            self._log.error("configd: the watch was refused: %s", error)
        elif not repeated:
            self._log.warning("configd: watch interrupted (%s); reconnecting", error)
        assert self._first_data is not None
        assert self._first_failure is not None
        if not self._first_data.done():
            self._first_failure.set()
            if isinstance(error, _FATAL_AT_START) and not self._has_cache:
                self._first_data.set_exception(error)
                return True
        return False

    # -- applying watch messages -----------------------------------------------------------------

    async def _handle(self, message: Any) -> None:
        event = message.WhichOneof("event")
        if event == "snapshot":
            await self._apply_snapshot(message.snapshot)
        elif event == "change_set":
            await self._apply_change_set(message.change_set)
        elif event == "progress":
            self._apply_progress(message.progress)

    async def _apply_snapshot(self, snap: Any) -> None:
        mirrors: dict[str, _Mirror] = {}
        for item in snap.namespaces:
            info = item.namespace
            mirrors[info.name] = _Mirror(
                info.name,
                create_revision=info.create_revision,
                mod_revision=info.mod_revision,
                schema_version=info.schema_version,
                schema_json=item.schema_json,
                values=self._parse_document(info.name, item.document_json),
            )
        if snap.resync:
            self._log.info(
                "configd: resynchronised from a snapshot at revision %d (history up to %d "
                "compacted)",
                snap.revision,
                snap.compact_revision,
            )
        if snap.revision < self._view.revision:
            self._log.warning(
                "configd: the server is at revision %d, behind this client's %d (restored or "
                "replaced server?); taking the server's values",
                snap.revision,
                self._view.revision,
            )
        missing = frozenset(self._selection.namespaces) - mirrors.keys()
        if missing and self._settings.missing == "error" and not self._running:
            self._refuse_start(missing)
            return
        self._mirrors = mirrors
        self._note_missing(missing, snap.revision)
        old_view = self._view
        docs: dict[str, _Doc] = {}
        changes: list[_Change] = []
        for name in sorted(mirrors.keys() | old_view.docs.keys()):
            old_doc = old_view.docs.get(name)
            mirror = mirrors.get(name)
            if mirror is None:
                self._rejected.pop(name, None)
                new_doc, changed = None, _changed_keys(old_doc, None)
            else:
                new_doc, changed = await self._publish(mirror, old_doc, snap.revision, None)
            if new_doc is not None:
                docs[name] = new_doc
            if changed or (old_doc is None) != (new_doc is None):
                changes.append((name, old_doc, new_doc, changed))
        await self._commit(snap.revision, docs, changes, content=True)

    async def _apply_change_set(self, cs: Any) -> None:
        if self._mirrors is None:
            raise _ProtocolError("a change set arrived before any snapshot")
        if cs.revision <= self._view.revision:
            self._log.warning(
                "configd: ignoring a change set at revision %d, already at %d",
                cs.revision,
                self._view.revision,
            )
            return
        name = cs.namespace
        mirror = self._mirrors.get(name)
        created = cs.kind == pb.WRITE_KIND_CREATE_NAMESPACE
        if mirror is None or created:
            if mirror is None and not created:
                self._log.warning(
                    "configd: change set %d for namespace %r, which the client had not seen "
                    "created; adding it",
                    cs.revision,
                    name,
                )
            mirror = _Mirror(
                name,
                create_revision=cs.revision,
                mod_revision=cs.revision,
                schema_version=cs.schema_version,
                schema_json="",
                values={},
            )
        if cs.HasField("schema_json"):
            mirror.schema_json = cs.schema_json
        if cs.schema_version:
            mirror.schema_version = cs.schema_version
        touched: set[str] = set()
        for change in cs.changes:
            touched.add(change.key)
            if change.HasField("new_value_json"):
                value = self._parse_value(name, change.key, change.new_value_json)
                mirror.values[change.key] = value
                mirror.texts[change.key] = dump_json(value)
            else:
                mirror.values.pop(change.key, None)
                mirror.texts.pop(change.key, None)
        mirror.mod_revision = cs.revision

        old_view = self._view
        old_doc = old_view.docs.get(name)
        docs = dict(old_view.docs)
        new_doc: _Doc | None
        if name in self._selection.namespaces:
            deleted = cs.kind == pb.WRITE_KIND_DELETE_NAMESPACE
            self._note_missing(
                self._missing | {name} if deleted else self._missing - {name}, cs.revision
            )
        if cs.kind == pb.WRITE_KIND_DELETE_NAMESPACE:
            del self._mirrors[name]
            self._rejected.pop(name, None)
            new_doc, changed = None, _changed_keys(old_doc, None)
            docs.pop(name, None)
        else:
            self._mirrors[name] = mirror
            hint = None if name in self._rejected else touched
            new_doc, changed = await self._publish(mirror, old_doc, cs.revision, hint)
            if new_doc is not None:
                docs[name] = new_doc
        changes: list[_Change] = []
        if changed or (old_doc is None) != (new_doc is None):
            changes.append((name, old_doc, new_doc, changed))
        await self._commit(cs.revision, docs, changes, content=True)

    def _apply_progress(self, progress: Any) -> None:
        if progress.revision < self._view.revision:
            # Revisions never go back on one server: this is a restored or replaced one, and
            # resuming by revision number would be wrong. Reload everything instead.
            raise _ProtocolError(
                f"the server reports revision {progress.revision}, behind this client's "
                f"{self._view.revision} (restored or replaced server?)"
            )
        if progress.revision > self._view.revision:
            view = self._view
            self._view = _View(progress.revision, view.docs, view.default)
            self._set_status(revision=progress.revision)
            self._wake_waiters()

    async def _publish(
        self, mirror: _Mirror, old: _Doc | None, revision: int, hint: set[str] | None
    ) -> tuple[_Doc | None, frozenset[str]]:
        """The doc to publish for `mirror` (the old one if it fails the check) and what changed.

        `hint` is the set of keys this revision touched, when `old` equals the mirror's state
        before it (then only those keys are rebuilt); None means compare everything.
        """
        error = self._checker.check(mirror.name, revision, mirror.schema_json, mirror.values)
        if error is not None:
            self._reject(mirror.name, revision, error, error.detail)
            return old, frozenset()
        texts = dict(mirror.texts)
        if old is not None and hint is not None:
            values = dict(old.values)
            for key in hint:
                if key in mirror.values:
                    values[key] = freeze(mirror.values[key])
                else:
                    values.pop(key, None)
            changed = frozenset(k for k in hint if old.texts.get(k) != texts.get(k))
        else:
            old_texts = old.texts if old is not None else {}
            values = {
                key: old.values[key]
                if old is not None and old_texts.get(key) == text
                else freeze(mirror.values[key])
                for key, text in texts.items()
            }
            changed = frozenset(
                k for k in old_texts.keys() | texts.keys() if old_texts.get(k) != texts.get(k)
            )
        doc = _Doc(
            mirror.name,
            values,
            texts,
            create_revision=mirror.create_revision,
            mod_revision=mirror.mod_revision,
            schema_version=mirror.schema_version,
            schema_json=mirror.schema_json,
        )
        refusal = await self._run_checks(Snapshot(mirror.name, revision, doc))
        if refusal is not None:
            self._reject(mirror.name, revision, refusal, refusal.reason_text)
            return old, frozenset()
        if mirror.name in self._rejected:
            self._rejected.pop(mirror.name, None)
            self._log.info(
                "configd: namespace %r is valid again at revision %d", mirror.name, revision
            )
        rejection = self._status.last_rejection
        if (
            rejection is not None
            and rejection.namespace == mirror.name
            and rejection.revision < revision
        ):
            self._set_status(last_rejection=None)
        self._outcomes.append((mirror.name, revision, True, ""))
        return doc, changed

    async def _run_checks(self, candidate: Snapshot) -> CheckRefused | None:
        """The first refusal of the application's checks, or None if all accept."""
        for check in self._checks:
            name = getattr(check, "__qualname__", repr(check))
            try:
                verdict = check(candidate)
                # An async check's coroutine is truthy: await it, or it would accept everything.
                if inspect.isawaitable(verdict):
                    verdict = await verdict
            except Exception as exc:
                why = str(exc) or type(exc).__name__
                return CheckRefused.of(candidate.namespace, candidate.revision, name, why)
            if verdict is False:
                return CheckRefused.of(
                    candidate.namespace, candidate.revision, name, f"check {name} returned False"
                )
        return None

    def _reject(
        self, name: str, revision: int, error: SchemaViolation | CheckRefused, reason: str
    ) -> None:
        """Revision `revision` of `name` is not served: status, log, and a rejected ack."""
        self._rejected[name] = error
        now = datetime.now(UTC)
        self._set_status(
            last_error=error,
            last_error_at=now,
            last_rejection=Rejection(name, revision, reason, now),
        )
        self._outcomes.append((name, revision, False, reason))
        self._log.error("configd: %s", error.detail)

    async def _commit(
        self, revision: int, docs: dict[str, _Doc], changes: list[_Change], *, content: bool
    ) -> None:
        """Swap in the new view (the one assignment readers observe), then tell everyone."""
        old_view = self._view
        default = None
        if self._single is not None:
            default = docs.get(self._single, self._empty_single)
        new_view = _View(revision, docs, default)
        self._view = new_view
        for namespace, revision_of, applied, reason in self._outcomes:
            self._acks.note(namespace, revision_of, applied, reason)
        self._outcomes.clear()
        self._set_status(
            state=ClientState.CONNECTED,
            revision=revision,
            source="server",
            last_update=datetime.now(UTC) if changes or content else self._status.last_update,
            rejected=frozenset(self._rejected),
            missing=self._missing,
        )
        assert self._first_data is not None
        waiting = self._missing and self._settings.missing == "wait"
        if not self._first_data.done() and not waiting:
            self._first_data.set_result(None)
        self._schedule_cache_write()
        for name, old_doc, new_doc, changed in changes:
            old = Snapshot(name, old_view.revision, old_doc)
            new = Snapshot(name, new_view.revision, new_doc)
            for callback in tuple(self._callbacks):
                try:
                    result = callback(old, new, changed)
                    if inspect.isawaitable(result):
                        await result
                except Exception:
                    self._log.exception(
                        "configd: on_change callback %r failed at revision %d; updates continue",
                        callback,
                        revision,
                    )
        # After the callbacks: wait_for_revision(R) promises that they have seen R.
        self._wake_waiters()

    def _wake_waiters(self) -> None:
        if not self._waiters:
            return
        revision = self._view.revision
        for wanted, future in self._waiters:
            if wanted <= revision and not future.done():
                future.set_result(None)

    def _parse_document(self, namespace: str, text: str) -> dict[str, JSONValue]:
        try:
            document = parse_json(text) if text else {}
        except ValueError as exc:
            raise _ProtocolError(f"namespace {namespace!r}: document is not JSON: {exc}") from None
        if not isinstance(document, dict):
            raise _ProtocolError(f"namespace {namespace!r}: document is not a JSON object")
        return document

    def _parse_value(self, namespace: str, key: str, text: str) -> JSONValue:
        try:
            return parse_json(text)
        except ValueError as exc:
            raise _ProtocolError(
                f"namespace {namespace!r} key {key!r}: value is not JSON: {exc}"
            ) from None

    # -- cache ------------------------------------------------------------------------------------

    def _view_from_cache(self, cached: _cache.CacheContent) -> _View | None:
        docs: dict[str, _Doc] = {}
        for item in cached.namespaces:
            try:
                values = {key: parse_json(text) for key, text in item.texts.items()}
            except ValueError as exc:
                self._log.warning(
                    "configd: the cache file %s has a bad value (%s); ignoring it",
                    self._cache_path,
                    exc,
                )
                return None
            error = self._checker.check(item.name, cached.revision, item.schema_json, values)
            if error is not None:
                self._log.warning(
                    "configd: the cache file %s fails the schema check (%s); ignoring it",
                    self._cache_path,
                    error.detail,
                )
                return None
            docs[item.name] = _Doc(
                item.name,
                {key: freeze(value) for key, value in values.items()},
                {key: dump_json(value) for key, value in values.items()},
                create_revision=item.create_revision,
                mod_revision=item.mod_revision,
                schema_version=item.schema_version,
                schema_json=item.schema_json,
            )
        default = None
        if self._single is not None:
            default = docs.get(self._single, self._empty_single)
        return _View(cached.revision, docs, default)

    def _schedule_cache_write(self) -> None:
        if self._cache_path is None or self._closed:
            return
        self._cache_dirty = True
        if self._cache_task is None or self._cache_task.done():
            self._cache_task = asyncio.create_task(self._write_cache(), name="configd-cache")

    async def _write_cache(self) -> None:
        # One write in flight at a time, always of the newest view: bursts coalesce.
        assert self._cache_path is not None
        while self._cache_dirty:
            self._cache_dirty = False
            view = self._view
            content = _cache.CacheContent(
                revision=view.revision,
                selection=self._selection,
                namespaces=tuple(
                    _cache.CachedNamespace(
                        name=doc.name,
                        create_revision=doc.create_revision,
                        mod_revision=doc.mod_revision,
                        schema_version=doc.schema_version,
                        schema_json=doc.schema_json,
                        texts=doc.texts,
                    )
                    for doc in view.docs.values()
                ),
            )
            try:
                await asyncio.to_thread(_cache.save, self._cache_path, content)
            except OSError as exc:
                if str(exc) != self._cache_error:
                    self._log.warning(
                        "configd: cannot write the cache file %s (%s)", self._cache_path, exc
                    )
                self._cache_error = str(exc)
            else:
                self._cache_error = ""

    # -- helpers ----------------------------------------------------------------------------------

    def _set_status(self, **changes: Any) -> None:
        # `error` is what is wrong now, recomputed on every change so it never outlives its cause.
        rejected = next(iter(self._rejected.values()), None)
        changes["error"] = self._conn_error or self._missing_error or rejected
        self._status = dataclasses.replace(self._status, **changes)

    # -- missing namespaces -------------------------------------------------------------------

    def _missing_text(self, missing: frozenset[str]) -> str:
        names = ", ".join(map(repr, sorted(missing)))
        return (
            f"namespace {names} does not exist"
            if len(missing) == 1
            else (f"namespaces {names} do not exist")
        )

    def _refuse_start(self, missing: frozenset[str]) -> None:
        """The server says a watched namespace does not exist: start() fails (missing="error")."""
        first = min(missing)
        error = NamespaceNotFound(
            f"{self._missing_text(missing)} on configd at {self._options.addr}. Check the "
            f"spelling, or create it (configctl ns create {first}); to start before it exists, "
            "pass missing='wait' (wait until it is created) or missing='defaults' (serve the "
            "defaults until then)"
        )
        self._log.error("configd: %s", error.detail)
        self._missing = missing
        self._missing_error = error
        self._refused = True
        self._set_status(missing=missing, last_error=error, last_error_at=datetime.now(UTC))
        assert self._first_data is not None
        if not self._first_data.done():
            self._first_data.set_exception(error)

    def _note_missing(self, missing: frozenset[str], revision: int) -> None:
        """Track the watched names the server lacks; log each that goes or comes back."""
        before, self._missing = self._missing, missing
        addr = self._options.addr
        for name in sorted(missing - before):
            if self._running:
                self._log.error(
                    "configd: namespace %r does not exist on configd at %s at revision %d "
                    "(deleted, or another server?); serving the defaults until it is created",
                    name,
                    addr,
                    revision,
                )
            elif self._settings.missing == "wait":
                self._log.warning(
                    "configd: namespace %r does not exist on configd at %s yet; waiting for it "
                    "to be created (missing='wait')",
                    name,
                    addr,
                )
            else:
                self._log.warning(
                    "configd: namespace %r does not exist on configd at %s; serving the "
                    "defaults until it is created (missing='defaults')",
                    name,
                    addr,
                )
        for name in sorted(before - missing):
            self._log.info("configd: namespace %r was created at revision %d", name, revision)
        if not missing:
            self._missing_error = None
        elif missing != before:
            self._missing_error = NamespaceNotFound(
                f"{self._missing_text(missing)} on configd at {addr} (create it with "
                f"configctl ns create {min(missing)})"
            )
            if missing - before:
                self._set_status(last_error=self._missing_error, last_error_at=datetime.now(UTC))

    def _describe_selection(self) -> str:
        parts = [repr(n) for n in self._selection.namespaces]
        parts += [f"prefix {p!r}" for p in self._selection.prefixes]
        return "namespaces " + ", ".join(parts)

    def __repr__(self) -> str:
        return (
            f"<AsyncConfigClient {self._describe_selection()} at {self._options.addr} "
            f"{self._status.state.value} revision={self._view.revision}>"
        )
