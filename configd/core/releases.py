"""Releases: a namespace's new document staged for a labelled slice of its clients.

Pure rules, no I/O. A release is three revisions at most: its start (RELEASE_START: the
slice's watchers get the staged document, the namespace's document is unchanged), then its
promotion (RELEASE_PROMOTE: an ordinary write of the staged document, sent to everyone) or
its abort (RELEASE_ABORT: the slice's watchers return to the namespace's document). While it
runs, direct writes to the namespace are refused (refuse_writes), so the staged document
always differs from the same document the release started on.

Who is in the slice is decided by the client's labels and id alone (targets), the same way on
every replica and after every restart: a client matches every selector, and with a percent,
a stable hash of (namespace, client id) falls in it.

Clients acknowledge what they applied or rejected (AckRecord, kept per client and namespace
in the store); tally() turns the clients and their acks into a release's progress, and
decide() says whether a release with max_failures or bake_seconds ends itself now.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from types import MappingProxyType

from configd.core.changes import Value, diff, write_keys
from configd.core.errors import (
    InvalidArgument,
    NamespaceNotFound,
    NoRunningRelease,
    ReleaseRunning,
)
from configd.core.limits import Limits
from configd.core.model import (
    ChangeSet,
    Entry,
    KeyChange,
    Namespace,
    Release,
    ReleaseState,
    WriteKind,
)
from configd.core.plan import NoChange, Planned, StateView
from configd_client.wire.labels import label_key_problem, label_value_problem

MAX_SELECTORS = 16
MAX_BAKE_SECONDS = 7 * 24 * 3600.0
SYSTEM_AUTHOR = "configd"
"""The author of the promotions and aborts a release makes by itself."""


# -- who is in the slice --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ClientIdentity:
    """What a client says of itself on its Watch."""

    client_id: str
    labels: Mapping[str, str]


def in_percent(namespace: str, client_id: str, percent: int) -> bool:
    """Whether the client's stable hash falls in `percent` (1-100) for `namespace`: the same
    answer on every replica, across restarts, and for every release of the namespace (a
    10 % slice is always the same clients, and grows to include them at 20 %)."""
    if percent >= 100:
        return True
    digest = hashlib.sha256(f"{namespace}\0{client_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % 10_000 < percent * 100


def targets(release: Release, client: ClientIdentity | None) -> bool:
    """Whether `client` is in `release`'s slice (a watch without identity never is)."""
    if client is None:
        return False
    labels = client.labels
    if any(labels.get(label) != value for label, value in release.selectors):
        return False
    return in_percent(release.namespace, client.client_id, release.percent)


# -- what the slice sees ----------------------------------------------------------------------


def staged_entries(namespace: Namespace, release: Release) -> Mapping[str, Entry]:
    """The namespace's entries with the release's changes applied: what its slice sees."""
    entries = dict(namespace.entries)
    for change in release.changes:
        if change.new is None:
            entries.pop(change.key, None)
        else:
            entries[change.key] = change.new
    return MappingProxyType(entries)


def view_for(namespace: Namespace, client: ClientIdentity | None) -> Namespace:
    """The namespace as `client` sees it: the staged document while a release that targets
    it runs, else the namespace itself."""
    release = namespace.release
    if release is None or not targets(release, client):
        return namespace
    return replace(namespace, entries=staged_entries(namespace, release), size=-1)


def abort_changes(release: Release) -> tuple[KeyChange, ...]:
    """What an abort sends the slice: each of the start's changes undone, restoring the
    namespace's entries exactly."""
    return tuple(KeyChange(c.key, c.new, c.old) for c in release.changes)


def staged_document_json(namespace: Namespace, release: Release) -> str:
    """The staged document as JSON text, over the entries the release started on."""
    entries = staged_entries(namespace, release)
    parts = [
        f"{json.dumps(key, ensure_ascii=False)}:{entry.value_json}"
        for key, entry in sorted(entries.items())
    ]
    return "{" + ",".join(parts) + "}"


# -- checks and plans -------------------------------------------------------------------------


def refuse_writes(namespace: Namespace) -> None:
    """Raise ReleaseRunning if a release runs on `namespace`: the one rule that keeps direct
    writes (and a second release) out while it runs."""
    release = namespace.release
    if release is not None:
        raise ReleaseRunning(
            f"namespace {namespace.name!r} is under release {release.id} (started by "
            f"{release.started_by or 'anonymous'}): promote or abort it first, or write "
            "with force to abort it"
        )


def check_selectors(selectors: Iterable[tuple[str, str]]) -> tuple[tuple[str, str], ...]:
    """Checked selectors (label, value), each label once, in label order."""
    checked: dict[str, str] = {}
    for label, value in selectors:
        problem = label_key_problem(label, field="selectors") or label_value_problem(
            label, value, field="selectors"
        )
        if problem:
            raise InvalidArgument(problem, field="selectors")
        if label in checked and checked[label] != value:
            raise InvalidArgument(
                f"selectors ask label {label!r} to be both {checked[label]!r} and {value!r}; "
                "a client has one value per label",
                field="selectors",
            )
        checked[label] = value
    if len(checked) > MAX_SELECTORS:
        raise InvalidArgument(f"a release has at most {MAX_SELECTORS} selectors", field="selectors")
    return tuple(sorted(checked.items()))


def check_percent(percent: int) -> int:
    """1-100 (0 means 100)."""
    if percent == 0:
        return 100
    if not 1 <= percent <= 100:
        raise InvalidArgument(
            f"percent {percent} is out of range: give 1-100 (of the matching clients)",
            field="percent",
        )
    return percent


def check_max_failures(max_failures: int | None) -> int | None:
    if max_failures is not None and max_failures < 0:
        raise InvalidArgument(
            f"max_failures {max_failures} is negative: 0 aborts at the first rejection",
            field="max_failures",
        )
    return max_failures


def check_bake(bake_seconds: float) -> float:
    if not math.isfinite(bake_seconds) or not 0 <= bake_seconds <= MAX_BAKE_SECONDS:
        raise InvalidArgument(
            f"bake_seconds {bake_seconds} is out of range: 0 (never promotes by itself) to "
            f"{MAX_BAKE_SECONDS:.0f} (a week)",
            field="bake_seconds",
        )
    return bake_seconds


@dataclass(frozen=True, slots=True)
class ReleaseSpec:
    """A release to start, checked (except against the state, which the plan does)."""

    namespace: str
    target: Mapping[str, Value]
    selectors: tuple[tuple[str, str], ...]
    percent: int
    max_failures: int | None
    bake_seconds: float


def plan_start(
    view: StateView,
    spec: ReleaseSpec,
    limits: Limits,
    *,
    revision: int,
    now: float,
    author: str,
    message: str,
) -> Planned:
    """RELEASE_START: the staged document validated as a write to the namespace would be;
    the namespace's entries stay, its revision moves, its release is set."""
    current = _require(view, spec.namespace)
    refuse_writes(current)
    try:
        staged = write_keys(
            current,
            diff(current, spec.target),
            limits,
            kind=WriteKind.RELEASE_START,
            revision=revision,
            now=now,
            author=author,
            message=message,
        )
    except NoChange:
        raise InvalidArgument(
            f"the document is the same as namespace {spec.namespace!r}'s current one: "
            "there is nothing to release",
            field="document_json",
        ) from None
    release = Release(
        id=revision,
        namespace=spec.namespace,
        selectors=spec.selectors,
        percent=spec.percent,
        max_failures=spec.max_failures,
        bake_seconds=spec.bake_seconds,
        changes=staged.change_set.changes,
        started_by=author,
        message=message,
        started_at=now,
        base_revision=current.mod_revision,
    )
    change_set = replace(staged.change_set, release=release)
    return Planned(change_set, replace(current, mod_revision=revision, release=release))


def plan_end(
    view: StateView,
    namespace: str,
    release_id: int,
    state: ReleaseState,
    limits: Limits,
    *,
    revision: int,
    now: float,
    author: str,
    message: str,
    outcome_json: str = "",
) -> Planned:
    """RELEASE_PROMOTE (the staged document written for everyone) or RELEASE_ABORT (the
    slice sent back; the document unchanged) of the running release (`release_id` 0: whichever
    runs)."""
    current = _require(view, namespace)
    release = current.release
    if release is None or (release_id and release.id != release_id):
        what = f"release {release_id}" if release_id else "a release"
        raise NoRunningRelease(
            f"namespace {namespace!r} has no running {what}"
            + (f" (release {release.id} is running)" if release is not None else "")
            + "; see its release status"
        )
    ended = replace(
        release,
        state=state,
        end_revision=revision,
        ended_by=author,
        end_message=message,
        ended_at=now,
        outcome_json=outcome_json,
    )
    if state is ReleaseState.PROMOTED:
        updates = {
            c.key: None if c.new is None else Value(c.new.value_json, c.new.value)
            for c in release.changes
        }
        promoted = write_keys(
            replace(current, release=None),
            updates,
            limits,
            kind=WriteKind.RELEASE_PROMOTE,
            revision=revision,
            now=now,
            author=author,
            message=message,
        )
        return Planned(replace(promoted.change_set, release=ended), promoted.namespace)
    change_set = ChangeSet(
        revision,
        namespace,
        WriteKind.RELEASE_ABORT,
        abort_changes(release),
        author,
        message,
        now,
        current.schema,
        current.create_revision,
        release=ended,
    )
    return Planned(change_set, replace(current, mod_revision=revision, release=None))


def _require(view: StateView, name: str) -> Namespace:
    namespace = view.get(name)
    if namespace is None:
        raise NamespaceNotFound(
            f"namespace {name!r} does not exist; create it first", namespace=name
        )
    return namespace


# -- clients, acknowledgements, progress -----------------------------------------------------


@dataclass(frozen=True, slots=True)
class ClientRecord:
    """A client as the replica holding its watch records it in the store."""

    client_id: str
    labels: Mapping[str, str]
    replica: str
    names: tuple[str, ...]  # what its watch selects: exact names
    prefixes: tuple[str, ...]  # and name prefixes
    connected_at: float
    seen_at: float  # refreshed while connected; the disconnect time once gone
    connected: bool

    def watches(self, namespace: str) -> bool:
        return namespace in self.names or any(namespace.startswith(p) for p in self.prefixes)

    @property
    def identity(self) -> ClientIdentity:
        return ClientIdentity(self.client_id, self.labels)


@dataclass(frozen=True, slots=True)
class AckRecord:
    """A client's acknowledgements of one namespace: the highest revision it applied and the
    last one it rejected, with why (0: none)."""

    namespace: str
    client_id: str
    applied_revision: int = 0
    applied_at: float = 0.0
    rejected_revision: int = 0
    rejected_at: float = 0.0
    reason: str = ""


APPLIED, REJECTED, PENDING = "applied", "rejected", "pending"


@dataclass(frozen=True, slots=True)
class ClientOutcome:
    """One targeted client's part in a release."""

    client_id: str
    labels: Mapping[str, str]
    replica: str
    outcome: str  # APPLIED, REJECTED or PENDING
    revision: int  # the revision the outcome is for (0 while pending)
    reason: str
    acked_at: float
    connected: bool


@dataclass(frozen=True, slots=True)
class Tally:
    """A release's progress."""

    clients: tuple[ClientOutcome, ...]

    def count(self, outcome: str) -> int:
        return sum(1 for c in self.clients if c.outcome == outcome)

    @property
    def targeted(self) -> int:
        return len(self.clients)

    @property
    def applied(self) -> int:
        return self.count(APPLIED)

    @property
    def rejected(self) -> int:
        return self.count(REJECTED)

    @property
    def pending(self) -> int:
        return self.count(PENDING)

    def to_json(self) -> str:
        """The outcome stored with a release at its end (Release.outcome_json)."""
        return json.dumps(
            [
                [
                    c.client_id,
                    dict(c.labels),
                    c.replica,
                    c.outcome,
                    c.revision,
                    c.reason,
                    c.acked_at,
                    c.connected,
                ]
                for c in self.clients
            ],
            separators=(",", ":"),
        )

    @classmethod
    def from_json(cls, text: str) -> Tally:
        if not text:
            return cls(())
        return cls(
            tuple(
                ClientOutcome(
                    str(i),
                    MappingProxyType(dict(labels)),
                    str(rep),
                    str(out),
                    int(rev),
                    str(why),
                    float(at),
                    bool(conn),
                )
                for i, labels, rep, out, rev, why, at, conn in json.loads(text)
            )
        )


def tally(
    release: Release,
    clients: Sequence[ClientRecord],
    acks: Mapping[str, AckRecord],
    *,
    now: float,
    client_timeout: float,
) -> Tally:
    """The release's progress over the clients recorded in the store and their acks of its
    namespace (by client id). Targeted: clients watching the namespace that the release
    targets, seen within `client_timeout` or with an outcome for this release (a client that
    is gone for longer leaves the slice; one that answered stays counted)."""
    if release.state is not ReleaseState.RUNNING:
        return Tally.from_json(release.outcome_json)
    end = release.end_revision or math.inf
    found: list[ClientOutcome] = []
    for client in clients:
        if not client.watches(release.namespace) or not targets(release, client.identity):
            continue
        ack = acks.get(client.client_id) or AckRecord(release.namespace, client.client_id)
        if release.id <= ack.rejected_revision < end:
            outcome, revision, reason, at = (
                REJECTED,
                ack.rejected_revision,
                ack.reason,
                (ack.rejected_at),
            )
        elif ack.applied_revision >= release.id:
            outcome, revision, reason, at = APPLIED, ack.applied_revision, "", ack.applied_at
        else:
            outcome, revision, reason, at = PENDING, 0, "", 0.0
        live = client.connected or now - client.seen_at <= client_timeout
        if outcome == PENDING and not live:
            continue
        found.append(
            ClientOutcome(
                client.client_id,
                client.labels,
                client.replica,
                outcome,
                revision,
                reason,
                at,
                client.connected,
            )
        )
    found.sort(key=lambda c: c.client_id)
    return Tally(tuple(found))


def forget_before(
    now: float, running: Iterable[Release], *, forget_after: float, client_timeout: float
) -> float:
    """The seen_at below which disconnected clients, and their acks, are forgotten: those not
    seen for `forget_after` seconds, but never one a running release still counts (seen since
    its start less the client timeout: tally)."""
    cutoff = now - forget_after
    for release in running:
        cutoff = min(cutoff, release.started_at - client_timeout)
    return cutoff


@dataclass(frozen=True, slots=True)
class Decision:
    """What a running release does by itself now, and the message its revision carries."""

    state: ReleaseState
    message: str


def decide(release: Release, progress: Tally, *, now: float) -> Decision | None:
    """Abort once more than max_failures targeted clients rejected it; promote once every
    targeted client (at least one) applied it, none rejected it, and bake_seconds passed since
    the last one applied. None: nothing to do yet."""
    rejected = progress.rejected
    if release.max_failures is not None and rejected > release.max_failures:
        first = next(c for c in progress.clients if c.outcome == REJECTED)
        return Decision(
            ReleaseState.ABORTED,
            f"aborted by itself: {rejected} of {progress.targeted} targeted clients rejected "
            f"it (more than max_failures {release.max_failures}); {first.client_id}: "
            f"{first.reason or 'no reason given'}",
        )
    if release.bake_seconds <= 0 or rejected or progress.pending or not progress.targeted:
        return None
    last_applied = max(c.acked_at for c in progress.clients)
    if now - last_applied < release.bake_seconds:
        return None
    return Decision(
        ReleaseState.PROMOTED,
        f"promoted by itself: all {progress.targeted} targeted clients applied it and none "
        f"rejected it for {release.bake_seconds:g} s",
    )
