"""Releases as the service would plan them, for the storage tests: a namespace with keys a
and b, a release that changes a, drops b and adds c, and its promotion or abort."""

from __future__ import annotations

import json

from configd.core.changes import Value
from configd.core.limits import Limits
from configd.core.model import ChangeSet, Namespace, ReleaseState
from configd.core.plan import Planned, StateView
from configd.core.releases import AckRecord, ClientRecord, ReleaseSpec, plan_end, plan_start
from configd.storage.base import Storage
from tests.configd.storage.writes import create, put

TARGET = {"a": "10", "c": '"x"'}


async def base(storage: Storage) -> Namespace:
    """Commit revisions 1-3 (ns created, a=1, b=2); the namespace after them."""
    await storage.commit([create(1), put(2, "a", "1"), put(3, "b", "2")])
    namespace = await storage.namespace_at("ns", 3)
    assert namespace is not None
    return namespace


def start(namespace: Namespace, revision: int = 4) -> Planned:
    spec = ReleaseSpec(
        "ns",
        {k: Value(v, json.loads(v)) for k, v in TARGET.items()},
        (("zone", "eu"),),
        50,
        2,
        30.0,
    )
    view = StateView({"ns": namespace}, {"ns": 1})
    return plan_start(
        view, spec, Limits(), revision=revision, now=float(revision), author="me", message="go"
    )


def end(namespace: Namespace, state: ReleaseState, revision: int = 5) -> ChangeSet:
    assert namespace.release is not None
    view = StateView({"ns": namespace}, {"ns": 1})
    return plan_end(
        view,
        "ns",
        namespace.release.id,
        state,
        Limits(),
        revision=revision,
        now=float(revision),
        author="boss",
        message="done",
        outcome_json='[["c1",{"zone":"eu"},"r1","applied",4,"",4.5,true]]',
    ).change_set


def client(client_id: str, replica: str, seen_at: float, *, connected: bool = True) -> ClientRecord:
    return ClientRecord(
        client_id, {"zone": "eu"}, replica, ("ns",), ("svc/",), 1.0, seen_at, connected
    )


def ack(
    applied: int = 0, applied_at: float = 0.0, rejected: int = 0, reason: str = ""
) -> AckRecord:
    return AckRecord("ns", "c1", applied, applied_at, rejected, float(rejected), reason)
