"""The config store: namespaces, schemas, validated writes, revisions and history.

Knows nothing of gRPC or protobuf. Reads are served from the in-memory state (current) or
from storage (older revisions, history) and never wait for the writer. Every write is a plan
run by the Writer: it is checked against the state it will really apply to (so preconditions
and validation see earlier writes of the same batch) and produces exactly one revision;
configd.core.changes builds and validates the change itself.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from configd.core.changes import (
    Value,
    diff,
    parse_document,
    parse_value,
    preview,
    write_keys,
)
from configd.core.errors import (
    AlreadyExists,
    FutureRevision,
    InvalidArgument,
    KeyNotFound,
    LimitExceeded,
    NamespaceNotEmpty,
    NamespaceNotFound,
    NotFound,
    ReplicaBehind,
    RevisionCompacted,
)
from configd.core.limits import Limits
from configd.core.model import (
    ApplyResult,
    ChangeSet,
    Entry,
    HistoryPage,
    KeyChange,
    Namespace,
    NamespaceView,
    Precondition,
    ReleaseState,
    SchemaVersion,
    TxnDelete,
    TxnOp,
    TxnPut,
    WriteKind,
    WriteResult,
    frozen_entries,
)
from configd.core.names import check_key, check_namespace, check_prefix
from configd.core.plan import NoChange, Plan, Planned, Repeated, StateView
from configd.core.preconditions import check_preconditions, enforce_preconditions
from configd.core.releases import (
    ReleaseSpec,
    check_bake,
    check_max_failures,
    check_percent,
    check_selectors,
    plan_end,
    plan_start,
    refuse_writes,
)
from configd.core.requests import WriteIntent, check_request_id, check_same_write
from configd.core.schema import DEFAULT_SCHEMA_JSON, canonical, compile_schema
from configd.storage.base import Storage
from configd.store.applied import AppliedWaiters
from configd.store.follower import Follower
from configd.store.live import LiveState
from configd.store.regression import Regression
from configd.store.requests import MAX_RECENT_REQUESTS, RecentRequests
from configd.store.writer import DEFAULT_COMMIT_TIMEOUT, Writer

log = logging.getLogger("configd.write")

DEFAULT_MIN_REVISION_WAIT = 5.0
"""Seconds a read with a min_revision not applied yet waits (configd serve --min-revision-wait)."""


@dataclass(frozen=True, slots=True)
class NamespacePage:
    namespaces: tuple[Namespace, ...]
    next_after: str
    revision: int


class ConfigService:
    """The config store. Open with `async with` or open()/close()."""

    def __init__(
        self,
        storage: Storage,
        limits: Limits | None = None,
        *,
        commit_timeout: float = DEFAULT_COMMIT_TIMEOUT,
        min_revision_wait: float = DEFAULT_MIN_REVISION_WAIT,
        max_recent_requests: int = MAX_RECENT_REQUESTS,
    ) -> None:
        self.storage = storage
        self.limits = limits or Limits()
        self._state = LiveState(0, 0, {})
        self._commit_timeout = commit_timeout
        self._max_recent_requests = max_recent_requests
        self._writer: Writer | None = None
        self._follower: Follower | None = None
        self._applied = AppliedWaiters(lambda: self._state.revision, min_revision_wait)
        # Set once the store is found below the applied revision (configd.store.regression).
        self.regression = Regression()

    async def __aenter__(self) -> ConfigService:
        await self.open()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def open(self) -> None:
        stored = await self.storage.open()
        self._state = LiveState(
            stored.revision,
            stored.compact_revision,
            stored.namespaces,
            stored.schema_versions,
            RecentRequests(
                stored.request_ids,
                complete=stored.request_ids_complete,
                limit=self._max_recent_requests,
            ),
        )
        # Other processes may share the store: the follower applies what they commit, and
        # the writer catches up through it when the store is ahead of a batch.
        self._follower = Follower(self.storage, self._state, regression=self.regression)
        self._writer = Writer(
            self.storage,
            self._state,
            commit_timeout=self._commit_timeout,
            catch_up=self._follower.catch_up,
            regression=self.regression,
        )
        self._writer.add_listener(self._log_commits_soon)
        # Through the feed seam, so commits applied by a revision-log follower wake waiters
        # exactly as the local writer's do.
        self.subscribe(self._applied.wake)
        self._writer.start()
        self._follower.start()

    async def close(self) -> None:
        """Finish queued writes, then close storage; harmless twice."""
        if self._writer is not None:
            await self._writer.stop()
        if self._follower is not None:
            await self._follower.stop()
        await self.storage.close()

    @property
    def follower(self) -> Follower:
        if self._follower is None:
            raise RuntimeError("ConfigService is not open")
        return self._follower

    @property
    def maintainer(self) -> bool:
        """Whether this process runs background maintenance (compaction) for the store."""
        return self.storage.maintainer

    @property
    def writer(self) -> Writer:
        if self._writer is None:
            raise RuntimeError("ConfigService is not open")
        return self._writer

    # -- state ------------------------------------------------------------------------------

    @property
    def revision(self) -> int:
        return self._state.revision

    @property
    def compact_revision(self) -> int:
        return self._state.compact_revision

    @property
    def namespaces(self) -> Mapping[str, Namespace]:
        return self._state.namespaces

    def subscribe(self, listener: Callable[[Sequence[ChangeSet]], None]) -> None:
        """Call `listener` with every batch committed from now on, in the step that advances
        `revision` (so the service is the watch hub's configd.watch.feed.ChangeFeed)."""
        self.writer.add_listener(listener)

    async def wait_applied(self, revision: int, *, field: str = "min_revision") -> None:
        """Return once `revision` has been applied here (at once if it has); raise Unavailable
        after `min_revision_wait` seconds (a constructor argument), InvalidArgument if negative.
        A revision above anything this store has seen still waits: another replica may have
        committed it. Woken from the feed's listeners, so it serves a follower's commits too."""
        await self._applied.wait(revision, field=field)

    def _log_commits_soon(self, change_sets: Sequence[ChangeSet]) -> None:
        # Listeners run before the acknowledged writers resume; their continuations are queued
        # already, so logging after them keeps ~40 us per line (x batch size) off every reply.
        asyncio.get_running_loop().call_soon(self._log_commits, change_sets)

    def _log_commits(self, change_sets: Sequence[ChangeSet]) -> None:
        for cs in change_sets:
            log.info(
                "write revision=%d namespace=%s kind=%s keys=%s author=%s",
                cs.revision,
                cs.namespace,
                cs.kind.name.lower(),
                ",".join(c.key for c in cs.changes) or "-",
                cs.author,
                extra={
                    "revision": cs.revision,
                    "namespace": cs.namespace,
                    "kind": cs.kind.name.lower(),
                    "keys": [c.key for c in cs.changes],
                    "author": cs.author,
                },
            )

    # -- argument checks --------------------------------------------------------------------

    def _message(self, message: str) -> str:
        self.limits.check_size("max_message_bytes", len(message.encode()), "message")
        return message

    def _check_revision(self, revision: int, *, field: str = "revision") -> None:
        if revision < 0:
            raise InvalidArgument(
                f"{field} {revision} is negative; use 0 for now or a revision number", field=field
            )
        if revision > self._state.revision:
            raise FutureRevision(
                f"{field} {revision} has not been written yet (the current revision is "
                f"{self._state.revision})",
                current_revision=self._state.revision,
            )
        # A revision the store lost is not served, though memory still holds it.
        self.regression.check_revision(revision)
        if revision < self._state.compact_revision:
            raise RevisionCompacted(
                f"{field} {revision} has been compacted; the oldest revision kept is "
                f"{self._state.compact_revision}",
                compact_revision=self._state.compact_revision,
            )

    @staticmethod
    def _require(view: StateView | Mapping[str, Namespace], name: str) -> Namespace:
        namespace = view.get(name)
        if namespace is None:
            raise NamespaceNotFound(
                f"namespace {name!r} does not exist; create it first", namespace=name
            )
        return namespace

    @classmethod
    def _writable(cls, view: StateView, name: str) -> Namespace:
        """The namespace a direct write plans on: it exists and no release runs on it."""
        namespace = cls._require(view, name)
        refuse_writes(namespace)
        return namespace

    @staticmethod
    def _next_schema(view: StateView, name: str, schema_text: str, revision: int) -> SchemaVersion:
        """The next schema version of `name`, numbered by the view: the writer makes the
        number live only when the write commits, so a refused or failed write leaves no gap."""
        return SchemaVersion(view.next_schema_version(name), schema_text, revision)

    # -- namespaces -------------------------------------------------------------------------

    def _schema_text(self, schema_json: str) -> str:
        """Checked, canonical schema text (empty means the permissive default)."""
        schema_text = canonical(schema_json) if schema_json.strip() else DEFAULT_SCHEMA_JSON
        self.limits.check_size("max_schema_bytes", len(schema_text.encode()), "schema_json")
        compile_schema(schema_text)
        return schema_text

    async def create_namespace(
        self,
        name: str,
        schema_json: str,
        *,
        author: str,
        message: str,
        document_json: str = "",
        request_id: str = "",
    ) -> WriteResult:
        """Create `name`; with `document_json`, its first keys too, in the same revision.

        A namespace created without a document starts empty: its schema applies from the
        first write (so a schema may require keys that do not exist yet)."""
        check_namespace(name, self.limits)
        message = self._message(message)
        schema_text = self._schema_text(schema_json)
        first = parse_document(document_json, self.limits) if document_json.strip() else None
        keys = {} if first is None else {key: value.text for key, value in first.items()}
        intent = WriteIntent(
            check_request_id(request_id),
            name,
            WriteKind.CREATE_NAMESPACE,
            message,
            keys=keys,
            schema_json=schema_text,
        )

        def plan(view: StateView, revision: int, now: float) -> Planned:
            if view.get(name) is not None:
                raise AlreadyExists(
                    f"namespace {name!r} already exists; to change its schema, "
                    "set a new schema version"
                )
            if len(view) >= self.limits.max_namespaces:
                raise LimitExceeded(
                    f"the server holds its maximum of {self.limits.max_namespaces} namespaces "
                    "(max_namespaces); delete unused ones or raise the limit",
                    limit="max_namespaces",
                    value=self.limits.max_namespaces,
                )
            schema = self._next_schema(view, name, schema_text, revision)
            namespace = Namespace(name, revision, revision, schema, frozen_entries({}))
            if first is not None:
                return write_keys(
                    namespace,
                    first,
                    self.limits,
                    kind=WriteKind.CREATE_NAMESPACE,
                    revision=revision,
                    now=now,
                    author=author,
                    message=message,
                    schema=schema,
                )
            change_set = ChangeSet(
                revision,
                name,
                WriteKind.CREATE_NAMESPACE,
                (),
                author,
                message,
                now,
                schema,
                revision,
            )
            return Planned(change_set, namespace)

        return await self._run(plan, intent)

    async def delete_namespace(
        self,
        name: str,
        *,
        force: bool,
        preconditions: Sequence[Precondition] = (),
        author: str,
        message: str,
        request_id: str = "",
    ) -> WriteResult:
        check_namespace(name, self.limits)
        message = self._message(message)
        check_preconditions(preconditions, self.limits)
        intent = WriteIntent(
            check_request_id(request_id), name, WriteKind.DELETE_NAMESPACE, message
        )

        def plan(view: StateView, revision: int, now: float) -> Planned:
            namespace = self._writable(view, name)
            enforce_preconditions(namespace, preconditions)
            if namespace.entries and not force:
                raise NamespaceNotEmpty(
                    f"namespace {name!r} still has {len(namespace.entries)} keys; delete them "
                    "first or delete with force"
                )
            changes = tuple(
                KeyChange(key, entry, None) for key, entry in sorted(namespace.entries.items())
            )
            change_set = ChangeSet(
                revision,
                name,
                WriteKind.DELETE_NAMESPACE,
                changes,
                author,
                message,
                now,
                namespace.schema,
                namespace.create_revision,
            )
            return Planned(change_set, None)

        return await self._run(plan, intent)

    def list_namespaces(self, prefix: str, *, page_size: int = 0, after: str = "") -> NamespacePage:
        """Namespaces whose name starts with `prefix`, in name order, after `after`."""
        check_prefix(prefix, self.limits)
        limit = self.limits.page_size(page_size)
        names = sorted(n for n in self._state.namespaces if n.startswith(prefix) and n > after)
        page = names[:limit]
        next_after = page[-1] if len(names) > limit else ""
        return NamespacePage(
            tuple(self._state.namespaces[n] for n in page), next_after, self._state.revision
        )

    async def get_namespace(self, name: str, revision: int = 0) -> NamespaceView:
        check_namespace(name, self.limits)
        namespace: Namespace | None
        if revision == 0:
            namespace = self._require(self._state.namespaces, name)
            at = self._state.revision
        else:
            self._check_revision(revision)
            namespace = await self.storage.namespace_at(name, revision)
            if namespace is None:
                raise NamespaceNotFound(f"namespace {name!r} did not exist at revision {revision}")
            at = revision
        return NamespaceView(namespace, at, self._state.revision, self._state.compact_revision)

    # -- schemas ----------------------------------------------------------------------------

    async def get_schema(self, name: str, version: int = 0) -> SchemaVersion:
        check_namespace(name, self.limits)
        namespace = self._require(self._state.namespaces, name)
        if version == 0 or version == namespace.schema.version:
            return namespace.schema
        if version < 0:
            raise InvalidArgument(
                "version must be positive, or 0 for the current schema", field="version"
            )
        schema = await self.storage.schema(name, version)
        if schema is None:
            raise NotFound(
                f"namespace {name!r} has no schema version {version}; the current version is "
                f"{namespace.schema.version}"
            )
        return schema

    async def set_schema(
        self,
        name: str,
        schema_json: str,
        *,
        preconditions: Sequence[Precondition] = (),
        author: str,
        message: str,
        request_id: str = "",
    ) -> WriteResult:
        check_namespace(name, self.limits)
        message = self._message(message)
        check_preconditions(preconditions, self.limits)
        if not schema_json.strip():
            raise InvalidArgument("schema_json is empty; send a JSON Schema", field="schema_json")
        schema_text = canonical(schema_json)
        self.limits.check_size("max_schema_bytes", len(schema_text.encode()), "schema_json")
        compiled = compile_schema(schema_text)
        intent = WriteIntent(
            check_request_id(request_id),
            name,
            WriteKind.SET_SCHEMA,
            message,
            schema_json=schema_text,
        )

        def plan(view: StateView, revision: int, now: float) -> Planned:
            namespace = self._writable(view, name)
            enforce_preconditions(namespace, preconditions)
            # An empty namespace is "not configured yet": the schema applies from its first write.
            if namespace.entries:
                compiled.validate(
                    namespace.document(),
                    what=f"the current document of namespace {name!r} (under the new schema)",
                )
            schema = self._next_schema(view, name, schema_text, revision)
            updated = Namespace(
                name, namespace.create_revision, revision, schema, namespace.entries
            )
            change_set = ChangeSet(
                revision,
                name,
                WriteKind.SET_SCHEMA,
                (),
                author,
                message,
                now,
                schema,
                namespace.create_revision,
            )
            return Planned(change_set, updated)

        return await self._run(plan, intent)

    # -- keys -------------------------------------------------------------------------------

    async def get(self, namespace: str, key: str, revision: int = 0) -> tuple[Entry, int]:
        """The key's entry and the revision it was read at."""
        check_key(key, self.limits)
        view = await self.get_namespace(namespace, revision)
        entry = view.namespace.entries.get(key)
        if entry is None:
            raise KeyNotFound(
                f"key {key!r} does not exist in namespace {namespace!r}"
                + (f" at revision {revision}" if revision else "")
            )
        return entry, view.revision

    async def put(
        self,
        namespace: str,
        key: str,
        value_json: str,
        *,
        preconditions: Sequence[Precondition] = (),
        author: str,
        message: str,
        request_id: str = "",
    ) -> WriteResult:
        return await self.txn(
            namespace,
            [TxnPut(key, value_json)],
            preconditions=preconditions,
            author=author,
            message=message,
            kind=WriteKind.PUT,
            request_id=request_id,
        )

    async def delete(
        self,
        namespace: str,
        key: str,
        *,
        preconditions: Sequence[Precondition] = (),
        author: str,
        message: str,
        request_id: str = "",
    ) -> WriteResult:
        return await self.txn(
            namespace,
            [TxnDelete(key)],
            preconditions=preconditions,
            author=author,
            message=message,
            kind=WriteKind.DELETE,
            request_id=request_id,
        )

    async def txn(
        self,
        namespace: str,
        ops: Sequence[TxnOp],
        *,
        preconditions: Sequence[Precondition] = (),
        author: str,
        message: str,
        kind: WriteKind = WriteKind.TXN,
        request_id: str = "",
    ) -> WriteResult:
        check_namespace(namespace, self.limits, field="namespace")
        message = self._message(message)
        check_preconditions(preconditions, self.limits)
        if not ops:
            raise InvalidArgument(
                "ops is empty: a transaction needs at least one put or delete", field="ops"
            )
        if len(ops) > self.limits.max_ops_per_txn:
            raise LimitExceeded(
                f"the transaction has {len(ops)} operations, over the limit of "
                f"{self.limits.max_ops_per_txn} (max_ops_per_txn); split it, or replace the "
                "whole document in one apply",
                limit="max_ops_per_txn",
                value=self.limits.max_ops_per_txn,
            )
        updates: dict[str, Value | None] = {}
        for index, op in enumerate(ops):
            field = "key" if kind is not WriteKind.TXN else f"ops[{index}].key"
            check_key(op.key, self.limits, field=field)
            if op.key in updates:
                raise InvalidArgument(
                    f"key {op.key!r} appears twice in the transaction; give each key once",
                    field=field,
                )
            updates[op.key] = (
                parse_value(op.value_json, self.limits, field=field.replace("key", "value_json"))
                if isinstance(op, TxnPut)
                else None
            )
        intent = WriteIntent(
            check_request_id(request_id),
            namespace,
            kind,
            message,
            keys={key: None if value is None else value.text for key, value in updates.items()},
        )

        def plan(view: StateView, revision: int, now: float) -> Planned:
            current = self._writable(view, namespace)
            enforce_preconditions(current, preconditions)
            for key, value in updates.items():
                if value is None and key not in current.entries:
                    raise KeyNotFound(
                        f"key {key!r} does not exist in namespace {namespace!r}; nothing deleted"
                    )
            return write_keys(
                current,
                updates,
                self.limits,
                kind=kind,
                revision=revision,
                now=now,
                author=author,
                message=message,
            )

        return await self._run(plan, intent)

    # -- whole documents --------------------------------------------------------------------

    async def apply(
        self,
        namespace: str,
        document_json: str,
        *,
        preconditions: Sequence[Precondition] = (),
        author: str,
        message: str,
        dry_run: bool = False,
        schema_json: str | None = None,
        request_id: str = "",
    ) -> ApplyResult:
        """Replace the whole document, and the schema if `schema_json` is given, in one
        revision. An unchanged document under an unchanged schema commits nothing
        (revision 0)."""
        check_namespace(namespace, self.limits, field="namespace")
        message = self._message(message)
        check_preconditions(preconditions, self.limits)
        target = parse_document(document_json, self.limits)
        schema_text = self._schema_text(schema_json) if schema_json is not None else None
        intent = WriteIntent(
            check_request_id(request_id),
            namespace,
            WriteKind.APPLY,
            message,
            document={key: value.text for key, value in target.items()},
            schema_json=schema_text,
        )
        plan = self._replace_plan(
            namespace,
            target,
            preconditions,
            WriteKind.APPLY,
            author=author,
            message=message,
            schema_text=schema_text,
        )
        if dry_run:
            return self._dry_run(plan, namespace, target, schema_text)
        written = await self._submit(plan, intent)
        if written is None:
            current = self._require(self._state.namespaces, namespace)
            return ApplyResult(0, current.mod_revision, ())
        return ApplyResult(
            written.revision,
            written.revision,
            written.change_set.changes,
            schema_changed=written.change_set.sets_schema,
        )

    def _dry_run(
        self, plan: Plan, namespace: str, target: Mapping[str, Value], schema_text: str | None
    ) -> ApplyResult:
        """Run Apply's own plan on a view of the current state, at the revision the write
        would get; nothing is staged or stored."""
        view = self._state.view()
        try:
            planned = plan(view, self._state.revision + 1, time.time())
        except NoChange:
            current = self._require(view, namespace)
            return ApplyResult(0, current.mod_revision, ())
        except InvalidArgument as exc:
            # The document fails validation: show the diff it would have made, and why.
            current = self._require(view, namespace)
            updates, new_schema = self._replacement(current, target, schema_text)
            changes = preview(current, updates)
            return ApplyResult(
                0, current.mod_revision, changes, exc.violations, new_schema is not None
            )
        current = self._require(view, namespace)
        return ApplyResult(
            0, current.mod_revision, planned.change_set.changes, (), planned.change_set.sets_schema
        )

    @staticmethod
    def _replacement(
        current: Namespace, target: Mapping[str, Value], schema_text: str | None
    ) -> tuple[dict[str, Value | None], str | None]:
        """The key updates that turn `current` into `target`, and the schema text to set (None:
        the schema stays)."""
        if schema_text == current.schema.schema_json:
            schema_text = None
        return diff(current, target), schema_text

    def _replace_plan(
        self,
        namespace: str,
        target: Mapping[str, Value],
        preconditions: Sequence[Precondition],
        kind: WriteKind,
        *,
        author: str,
        message: str,
        schema_text: str | None = None,
    ) -> Plan:
        """The plan that makes `target` the whole document (and `schema_text` the schema)."""

        def plan(view: StateView, revision: int, now: float) -> Planned:
            current = self._writable(view, namespace)
            enforce_preconditions(current, preconditions)
            updates, new_schema = self._replacement(current, target, schema_text)
            schema = (
                None
                if new_schema is None
                else self._next_schema(view, namespace, new_schema, revision)
            )
            return write_keys(
                current,
                updates,
                self.limits,
                kind=kind,
                revision=revision,
                now=now,
                author=author,
                message=message,
                schema=schema,
            )

        return plan

    async def rollback(
        self,
        namespace: str,
        to_revision: int,
        *,
        preconditions: Sequence[Precondition] = (),
        author: str,
        message: str,
        request_id: str = "",
    ) -> WriteResult | None:
        """Restore the document of `to_revision` as a new write, validated by today's schema."""
        check_namespace(namespace, self.limits, field="namespace")
        message = self._message(message)
        check_preconditions(preconditions, self.limits)
        check_request_id(request_id)
        if to_revision == 0:
            raise InvalidArgument(
                "to_revision is required: the revision to restore", field="to_revision"
            )
        self._check_revision(to_revision, field="to_revision")
        self._require(self._state.namespaces, namespace)
        old = await self.storage.namespace_at(namespace, to_revision)
        if old is None:
            raise NamespaceNotFound(
                f"namespace {namespace!r} did not exist at revision {to_revision}; "
                "see its history for revisions you can restore"
            )
        target = {key: Value(e.value_json, e.value) for key, e in old.entries.items()}
        message = message or f"rollback to revision {to_revision}"
        intent = WriteIntent(
            request_id,
            namespace,
            WriteKind.ROLLBACK,
            message,
            document={key: value.text for key, value in target.items()},
        )
        plan = self._replace_plan(
            namespace, target, preconditions, WriteKind.ROLLBACK, author=author, message=message
        )
        return await self._submit(plan, intent)

    # -- releases (configd.core.releases) ---------------------------------------------------

    async def start_release(
        self,
        namespace: str,
        document_json: str,
        *,
        selectors: Sequence[tuple[str, str]],
        percent: int,
        max_failures: int | None,
        bake_seconds: float,
        author: str,
        message: str,
        request_id: str = "",
    ) -> WriteResult:
        """Stage `document_json` for the clients the selectors and percent pick: one
        revision (RELEASE_START), validated as a write of that document would be."""
        check_namespace(namespace, self.limits, field="namespace")
        message = self._message(message)
        spec = ReleaseSpec(
            namespace,
            parse_document(document_json, self.limits),
            check_selectors(selectors),
            check_percent(percent),
            check_max_failures(max_failures),
            check_bake(bake_seconds),
        )
        intent = WriteIntent(
            check_request_id(request_id), namespace, WriteKind.RELEASE_START, message
        )

        def plan(view: StateView, revision: int, now: float) -> Planned:
            return plan_start(
                view, spec, self.limits, revision=revision, now=now, author=author, message=message
            )

        return await self._run(plan, intent)

    async def end_release(
        self,
        namespace: str,
        state: ReleaseState,
        *,
        release_id: int = 0,
        author: str,
        message: str,
        outcome_json: str = "",
        request_id: str = "",
    ) -> WriteResult:
        """Promote (state PROMOTED) or abort (ABORTED) the running release of `namespace`
        (`release_id` 0: whichever runs); `outcome_json` is its final tally."""
        check_namespace(namespace, self.limits, field="namespace")
        message = self._message(message)
        if release_id < 0:
            raise InvalidArgument(
                "release_id is negative: give 0 for the running release", field="release_id"
            )
        kind = (
            WriteKind.RELEASE_PROMOTE if state is ReleaseState.PROMOTED else WriteKind.RELEASE_ABORT
        )
        intent = WriteIntent(check_request_id(request_id), namespace, kind, message)

        def plan(view: StateView, revision: int, now: float) -> Planned:
            return plan_end(
                view,
                namespace,
                release_id,
                state,
                self.limits,
                revision=revision,
                now=now,
                author=author,
                message=message,
                outcome_json=outcome_json,
            )

        return await self._run(plan, intent)

    # -- history ----------------------------------------------------------------------------

    async def history(
        self, namespace: str, key: str = "", *, page_size: int = 0, before: int = 0
    ) -> HistoryPage:
        """Writes to `namespace` (or to one key), newest first, below revision `before`."""
        check_namespace(namespace, self.limits, field="namespace")
        if key:
            check_key(key, self.limits)
        if before < 0:
            raise InvalidArgument("page token is invalid", field="page_token")
        limit = self.limits.page_size(page_size)
        compact = self._state.compact_revision
        entries = [
            cs
            for cs in await self.storage.history(namespace, key or None, before, limit + 1)
            if cs.revision >= compact
        ]
        if not entries and before == 0 and namespace not in self._state.namespaces:
            raise NamespaceNotFound(f"namespace {namespace!r} has no history: it does not exist")
        page = entries[:limit]
        next_before = page[-1].revision if len(entries) > limit else 0
        return HistoryPage(tuple(page), next_before, compact)

    # -- compaction -------------------------------------------------------------------------

    async def compact(self, revision: int, *, step: int = 1_000) -> int:
        """Drop history below `revision`; returns the compaction revision now in force.

        Runs in steps of `step` revisions, each between two write batches, so a large
        compaction never holds writes back for long. The compaction revision is raised
        before rows are deleted, so a reader that checks it after reading history always
        knows whether what it read may have holes.

        Never past what a live process sharing the store still needs: ReplicaBehind, with
        nothing compacted, if `revision` > the lowest applied revision + 1 (the storage
        checks it again under its write lock at every step)."""
        if revision <= 0:
            raise InvalidArgument(
                "revision must be positive: history below it is dropped", field="revision"
            )
        if revision > self._state.revision:
            raise FutureRevision(
                f"cannot compact at {revision}: the current revision is {self._state.revision}",
                current_revision=self._state.revision,
            )
        floor = await self.applied_floor()
        if floor is not None and revision > floor + 1 and revision > self.compact_revision:
            raise ReplicaBehind.compacting(revision, floor)
        while self._state.compact_revision < revision:
            target = min(revision, self._state.compact_revision + step)

            async def run(target: int = target) -> None:
                before = self._state.compact_revision
                if target > before:
                    self._state.compact_revision = target
                    try:
                        await self.storage.compact(target)
                    except BaseException:
                        # Nothing was dropped; if another process compacted meanwhile, the
                        # follower raises it again from the store's head.
                        if self._state.compact_revision == target:
                            self._state.compact_revision = before
                        raise

            await self.writer.exclusive(run)
        return self._state.compact_revision

    async def applied_floor(self) -> int | None:
        """The lowest revision a live process sharing the store has applied (None: unknown);
        compaction never passes it + 1."""
        return await self.storage.applied_floor()

    async def revision_at(self, when: float) -> int:
        """The newest revision committed at or before `when` (epoch seconds), or 0."""
        return await self.storage.revision_at(when)

    # -- plumbing ---------------------------------------------------------------------------

    async def _run(self, plan: Plan, intent: WriteIntent) -> WriteResult:
        """Submit a plan that always changes something (a put bumps the key's version)."""
        written = await self._submit(plan, intent)
        assert written is not None
        return written

    async def _submit(self, plan: Plan, intent: WriteIntent) -> WriteResult | None:
        """Submit a write; None if it changed nothing. A write whose request id names a
        committed write is answered as that write was, and stores nothing."""
        request_id = intent.request_id
        requests = self._state.requests
        if (
            request_id
            and requests.revision(request_id) is None
            and not requests.known_absent(request_id)
        ):
            # Older than the ids held in memory: the store knows. One committed after this
            # read is applied (and so remembered) before the write is planned.
            stored = await self.storage.revision_of_request(request_id)
            if stored is not None:
                return await self._repeated(intent, stored)
        outcome = await self.writer.submit(plan, request_id)
        if isinstance(outcome, Repeated):
            return await self._repeated(intent, outcome.revision)
        return None if outcome is None else WriteResult(outcome.change_set, outcome.namespace)

    async def _repeated(self, intent: WriteIntent, revision: int) -> WriteResult:
        """The answer to a retry of the write committed as `revision`, once it is known to be
        the same write (configd.core.requests.check_same_write)."""
        stored = await self.storage.change_set(revision)
        if stored is None:
            # Compacted away: nothing left to compare or report but the revision.
            namespace = self._state.namespaces.get(intent.namespace)
            schema = namespace.schema if namespace is not None else SchemaVersion(0, "", 0)
            stored = ChangeSet(
                revision,
                intent.namespace,
                intent.kind,
                (),
                "",
                intent.message,
                0.0,
                schema,
                0,
                request_id=intent.request_id,
            )
            return WriteResult(stored, None)
        after = (
            await self.storage.namespace_at(stored.namespace, revision)
            if revision >= self._state.compact_revision
            else None
        )
        check_same_write(intent, stored, after)
        log.info(
            "retry of revision=%d request_id=%s answered without writing",
            revision,
            intent.request_id,
        )
        return WriteResult(stored, after)
