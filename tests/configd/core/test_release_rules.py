"""The release rules: who is in the slice, what the slice sees, the plans, progress and the
decisions a release makes by itself."""

from __future__ import annotations

from types import MappingProxyType

import pytest

from configd.core.changes import diff, parse_document, write_keys
from configd.core.errors import InvalidArgument, NoRunningRelease, ReleaseRunning
from configd.core.limits import Limits
from configd.core.model import Namespace, Release, ReleaseState, SchemaVersion, WriteKind
from configd.core.plan import StateView
from configd.core.releases import (
    APPLIED,
    PENDING,
    REJECTED,
    AckRecord,
    ClientIdentity,
    ClientRecord,
    ReleaseSpec,
    Tally,
    abort_changes,
    check_percent,
    check_selectors,
    decide,
    forget_before,
    in_percent,
    plan_end,
    plan_start,
    refuse_writes,
    tally,
    targets,
    view_for,
)
from configd.core.replay import ReplayMismatch, replay
from configd.core.schema import DEFAULT_SCHEMA_JSON

LIMITS = Limits()
NS = "payments/prod"


def namespace(document: str = '{"pool": 10, "flag": false}') -> Namespace:
    schema = SchemaVersion(1, DEFAULT_SCHEMA_JSON, 1)
    base = Namespace(NS, 1, 1, schema, MappingProxyType({}))
    planned = write_keys(
        base,
        diff(base, parse_document(document, LIMITS)),
        LIMITS,
        kind=WriteKind.APPLY,
        revision=2,
        now=1.0,
        author="a",
        message="",
    )
    assert planned.namespace is not None
    return planned.namespace


def spec(document: str = '{"pool": 50, "flag": false}', **kwargs: object) -> ReleaseSpec:
    fields: dict[str, object] = {
        "selectors": (("zone", "eu"),),
        "percent": 100,
        "max_failures": 0,
        "bake_seconds": 0.0,
    }
    fields.update(kwargs)
    return ReleaseSpec(NS, parse_document(document, LIMITS), **fields)  # type: ignore[arg-type]


def started(current: Namespace | None = None, **kwargs: object) -> tuple[Namespace, Release]:
    current = current or namespace()
    planned = plan_start(
        StateView({NS: current}, {NS: 1}),
        spec(**kwargs),
        LIMITS,
        revision=3,
        now=10.0,
        author="ops",
        message="canary",
    )
    assert planned.namespace is not None
    assert planned.change_set.release is not None
    return planned.namespace, planned.change_set.release


def client(client_id: str, **labels: str) -> ClientIdentity:
    return ClientIdentity(client_id, labels)


def test_a_client_is_targeted_when_every_selector_matches() -> None:
    _, release = started(selectors=(("zone", "eu"), ("version", "2")))
    assert targets(release, client("a", zone="eu", version="2", extra="x"))
    assert not targets(release, client("b", zone="eu"))
    assert not targets(release, client("c", zone="us", version="2"))
    assert not targets(release, None)


def test_percent_picks_the_same_clients_every_time_and_grows_monotonically() -> None:
    ids = [f"host-{i}" for i in range(2_000)]
    ten = {i for i in ids if in_percent(NS, i, 10)}
    assert ten == {i for i in ids if in_percent(NS, i, 10)}
    assert 140 <= len(ten) <= 260
    assert ten <= {i for i in ids if in_percent(NS, i, 20)}
    assert all(in_percent(NS, i, 100) for i in ids)


def test_start_stages_the_document_for_the_slice_and_leaves_the_namespace_alone() -> None:
    before = namespace()
    after, release = started(before)
    assert after.entries == before.entries
    assert after.mod_revision == 3
    assert after.release == release
    assert release.base_revision == before.mod_revision
    [change] = release.changes
    assert change.key == "pool"
    assert change.new is not None
    assert change.new.value_json == "50"
    assert change.new.mod_revision == 3
    inside = view_for(after, client("a", zone="eu"))
    outside = view_for(after, client("b", zone="us"))
    assert inside.document() == {"pool": 50, "flag": False}
    assert outside.document() == {"pool": 10, "flag": False}


def test_direct_writes_and_a_second_release_are_refused_while_one_runs() -> None:
    after, release = started()
    with pytest.raises(ReleaseRunning, match=f"under release {release.id}"):
        refuse_writes(after)
    with pytest.raises(ReleaseRunning):
        started(after)


def test_a_release_of_the_current_document_is_refused() -> None:
    with pytest.raises(InvalidArgument, match="nothing to release"):
        started(document='{"pool": 10, "flag": false}')


def test_promotion_writes_the_staged_document_for_everyone() -> None:
    after, _ = started()
    planned = plan_end(
        StateView({NS: after}, {NS: 1}),
        NS,
        0,
        ReleaseState.PROMOTED,
        LIMITS,
        revision=4,
        now=20.0,
        author="ops",
        message="ship it",
    )
    assert planned.change_set.kind is WriteKind.RELEASE_PROMOTE
    assert planned.namespace is not None
    assert planned.namespace.release is None
    assert planned.namespace.document() == {"pool": 50, "flag": False}
    assert planned.namespace.entries["pool"].mod_revision == 4
    ended = planned.change_set.release
    assert ended is not None
    assert ended.state is ReleaseState.PROMOTED
    assert ended.end_revision == 4


def test_abort_sends_the_slice_back_and_keeps_the_document() -> None:
    before = namespace()
    after, release = started(before)
    planned = plan_end(
        StateView({NS: after}, {NS: 1}),
        NS,
        release.id,
        ReleaseState.ABORTED,
        LIMITS,
        revision=4,
        now=20.0,
        author="ops",
        message="no",
    )
    assert planned.change_set.kind is WriteKind.RELEASE_ABORT
    assert planned.change_set.changes == abort_changes(release)
    assert planned.namespace is not None
    assert planned.namespace.entries == before.entries
    assert planned.namespace.release is None


def test_ending_needs_the_running_release() -> None:
    with pytest.raises(NoRunningRelease):
        plan_end(
            StateView({NS: namespace()}, {NS: 1}),
            NS,
            0,
            ReleaseState.ABORTED,
            LIMITS,
            revision=4,
            now=1.0,
            author="",
            message="",
        )
    after, release = started()
    with pytest.raises(NoRunningRelease, match=f"release {release.id} is running"):
        plan_end(
            StateView({NS: after}, {NS: 1}),
            NS,
            release.id + 7,
            ReleaseState.ABORTED,
            LIMITS,
            revision=4,
            now=1.0,
            author="",
            message="",
        )


def test_replay_rebuilds_start_and_abort_from_their_records() -> None:
    before = namespace()
    after, _ = started(before)
    start = plan_start(
        StateView({NS: before}, {NS: 1}),
        spec(),
        LIMITS,
        revision=3,
        now=10.0,
        author="ops",
        message="canary",
    ).change_set
    assert replay(StateView({NS: before}, {NS: 1}), start).namespace == after
    with pytest.raises(ReplayMismatch):
        replay(StateView({NS: after}, {NS: 1}), start)
    abort = plan_end(
        StateView({NS: after}, {NS: 1}),
        NS,
        0,
        ReleaseState.ABORTED,
        LIMITS,
        revision=4,
        now=1.0,
        author="",
        message="",
    ).change_set
    replayed = replay(StateView({NS: after}, {NS: 1}), abort).namespace
    assert replayed is not None
    assert replayed.release is None
    assert replayed.entries == before.entries


def record(
    client_id: str, *, connected: bool = True, seen: float = 100.0, **labels: str
) -> ClientRecord:
    return ClientRecord(client_id, labels, "r1", (NS,), (), 0.0, seen, connected)


def test_tally_counts_targeted_clients_by_outcome() -> None:
    _, release = started()
    clients = [
        record("a", zone="eu"),
        record("b", zone="eu"),
        record("c", zone="eu"),
        record("gone", zone="eu", connected=False, seen=0.0),
        record("us", zone="us"),
    ]
    acks = {
        "a": AckRecord(NS, "a", applied_revision=3, applied_at=11.0),
        "b": AckRecord(NS, "b", applied_revision=2, rejected_revision=3, reason="pool too big"),
    }
    progress = tally(release, clients, acks, now=100.0, client_timeout=30.0)
    assert [(c.client_id, c.outcome) for c in progress.clients] == [
        ("a", APPLIED),
        ("b", REJECTED),
        ("c", PENDING),
    ]
    assert progress.clients[1].reason == "pool too big"
    assert Tally.from_json(progress.to_json()) == progress


def test_max_failures_aborts_and_bake_promotes() -> None:
    _, release = started(max_failures=0, bake_seconds=5.0)
    one_rejected = tally(
        release,
        [record("a", zone="eu")],
        {"a": AckRecord(NS, "a", rejected_revision=3, reason="no")},
        now=100.0,
        client_timeout=30.0,
    )
    decision = decide(release, one_rejected, now=100.0)
    assert decision is not None
    assert decision.state is ReleaseState.ABORTED
    assert "a: no" in decision.message
    applied = tally(
        release,
        [record("a", zone="eu")],
        {"a": AckRecord(NS, "a", applied_revision=3, applied_at=98.0)},
        now=100.0,
        client_timeout=30.0,
    )
    assert decide(release, applied, now=100.0) is None  # baked 2 s of 5
    promoted = decide(release, applied, now=103.5)
    assert promoted is not None
    assert promoted.state is ReleaseState.PROMOTED
    empty = tally(release, [], {}, now=100.0, client_timeout=30.0)
    assert decide(release, empty, now=1e9) is None  # nobody tried it: never by itself


def test_selector_and_percent_checks_speak_of_the_fields() -> None:
    with pytest.raises(InvalidArgument, match="selectors"):
        check_selectors([("Zone!", "eu")])
    with pytest.raises(InvalidArgument, match="both"):
        check_selectors([("zone", "eu"), ("zone", "us")])
    with pytest.raises(InvalidArgument, match="1-100"):
        check_percent(101)
    assert check_percent(0) == 100


def test_clients_are_forgotten_after_the_retention_but_never_while_a_release_counts_them() -> None:
    _, release = started()  # started at 10.0
    assert forget_before(1000.0, [], forget_after=100.0, client_timeout=30.0) == 900.0
    # A running release counts clients seen since its start less the client timeout.
    assert forget_before(1000.0, [release], forget_after=100.0, client_timeout=30.0) == -20.0
    assert forget_before(1000.0, [release], forget_after=995.0, client_timeout=1.0) == 5.0
