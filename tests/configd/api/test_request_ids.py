"""Client request ids resolve ambiguous commits (issue 17): a retry of a committed write with its
request id returns the original revision and stores nothing, on any worker and after a restart;
the same id with a different write is refused; a bad id is refused and stores nothing.

Real configd processes over real SQLite files; the calls are the raw gRPC stubs, so what is
tested is the server's rule, not the SDK's retry (tests/configd_client/test_sdk_write_retry.py).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import grpc
import grpc.aio
import pytest

from configd.testing import ConfigdProcess
from configd_client import errors
from configd_client.wire import config_pb2 as pb
from configd_client.wire import config_pb2_grpc as pb_grpc
from tests.configd.api.calls import failure
from tests.configd.server.worker_probes import until, worker_channel, worker_pids


@pytest.fixture
async def stub(shared_server: ConfigdProcess) -> AsyncIterator[pb_grpc.ConfigServiceStub]:
    async with grpc.aio.insecure_channel(shared_server.grpc_addr) as channel:
        yield pb_grpc.ConfigServiceStub(channel)


def rid() -> str:
    return uuid.uuid4().hex


async def history(stub: pb_grpc.ConfigServiceStub, ns: str) -> list[int]:
    reply = await stub.History(pb.HistoryRequest(namespace=ns))
    return [entry.revision for entry in reply.entries]


async def current(stub: pb_grpc.ConfigServiceStub) -> int:
    return int((await stub.ListNamespaces(pb.ListNamespacesRequest())).revision)


async def test_every_write_retried_with_its_id_returns_the_original_and_writes_once(
    stub: pb_grpc.ConfigServiceStub, ns: str
) -> None:
    create = pb.CreateNamespaceRequest(name=ns, document_json='{"a": 1}', request_id=rid())
    created = await stub.CreateNamespace(create)
    assert await stub.CreateNamespace(create) == created  # not ALREADY_EXISTS: the same write

    put = pb.PutRequest(namespace=ns, key="k", value_json='"v"', message="m", request_id=rid())
    first = await stub.Put(put)
    again = await stub.Put(put)
    assert again.revision == first.revision
    assert again.namespace == first.namespace
    assert list(again.changes) == list(first.changes)

    txn = pb.TxnRequest(
        namespace=ns,
        ops=[pb.TxnOp(put=pb.TxnPut(key="t", value_json="2")), pb.TxnOp(delete="k")],
        request_id=rid(),
    )
    assert (await stub.Txn(txn)).revision == (await stub.Txn(txn)).revision

    schema = pb.SetSchemaRequest(name=ns, schema_json='{"type": "object"}', request_id=rid())
    assert await stub.SetSchema(schema) == await stub.SetSchema(schema)

    apply = pb.ApplyRequest(namespace=ns, document_json='{"x": true}', request_id=rid())
    applied = await stub.Apply(apply)
    assert applied.revision > 0
    assert await stub.Apply(apply) == applied  # not "unchanged" (revision 0)

    rollback = pb.RollbackRequest(namespace=ns, to_revision=first.revision, request_id=rid())
    rolled = await stub.Rollback(rollback)
    assert (await stub.Rollback(rollback)).revision == rolled.revision

    delete = pb.DeleteRequest(namespace=ns, key="k", request_id=rid())
    deleted = await stub.Delete(delete)
    assert (await stub.Delete(delete)).revision == deleted.revision  # not NOT_FOUND

    revisions = [
        created.revision,
        first.revision,
        (await stub.Txn(txn)).revision,
        (await stub.SetSchema(schema)).revision,
        applied.revision,
        rolled.revision,
        deleted.revision,
    ]
    assert await history(stub, ns) == sorted(revisions, reverse=True)
    got = await stub.GetNamespace(pb.GetNamespaceRequest(name=ns))
    assert got.document_json == '{"a":1}'

    drop = pb.DeleteNamespaceRequest(name=ns, force=True, request_id=rid())
    dropped = await stub.DeleteNamespace(drop)
    assert (await stub.DeleteNamespace(drop)).revision == dropped.revision  # not NOT_FOUND


async def test_the_same_id_for_a_different_write_is_refused_and_stores_nothing(
    stub: pb_grpc.ConfigServiceStub, ns: str
) -> None:
    await stub.CreateNamespace(pb.CreateNamespaceRequest(name=ns))
    used = rid()
    first = await stub.Put(pb.PutRequest(namespace=ns, key="k", value_json="1", request_id=used))
    before = await current(stub)
    others = [
        stub.Put(pb.PutRequest(namespace=ns, key="k", value_json="2", request_id=used)),
        stub.Put(pb.PutRequest(namespace=ns, key="other", value_json="1", request_id=used)),
        stub.Put(
            pb.PutRequest(namespace=ns, key="k", value_json="1", message="new", request_id=used)
        ),
        stub.Delete(pb.DeleteRequest(namespace=ns, key="k", request_id=used)),
        stub.Apply(pb.ApplyRequest(namespace=ns, document_json='{"k": 1}', request_id=used)),
    ]
    for call in others:
        error = await failure(call)
        assert isinstance(error, errors.PreconditionFailed)
        assert str(error) == (
            f"configd: request id {used!r} was used for a different write (revision "
            f"{first.revision}, a put in namespace {ns!r}); send a new request id for a new write"
        )
    assert await current(stub) == before
    assert await history(stub, ns) == [first.revision, first.revision - 1]


@pytest.mark.parametrize(
    ("request_id", "why"),
    [
        ("x" * 129, "request_id has 129 characters, over the limit of 128"),
        ("tab\there", "request_id has '\\t' at position 3: an id is printable ASCII"),
        ("caf\u00e9", "request_id has '\u00e9' at position 3: an id is printable ASCII"),
    ],
    ids=["too-long", "control", "non-ascii"],
)
async def test_a_bad_id_is_refused_naming_the_field_and_stores_nothing(
    stub: pb_grpc.ConfigServiceStub, ns: str, request_id: str, why: str
) -> None:
    await stub.CreateNamespace(pb.CreateNamespaceRequest(name=ns, request_id=rid()))
    before = await current(stub)
    error = await failure(
        stub.Put(pb.PutRequest(namespace=ns, key="k", value_json="1", request_id=request_id))
    )
    assert isinstance(error, errors.InvalidArgument)
    assert [v.path for v in error.violations] == ["request_id"]
    assert why in str(error)
    assert await current(stub) == before
    # The longest id allowed is fine.
    longest = "~" * 96 + rid()
    ok = await stub.Put(pb.PutRequest(namespace=ns, key="k", value_json="1", request_id=longest))
    assert ok.revision == before + 1


async def test_ids_survive_a_restart(configd_server: ConfigdProcess, ns: str) -> None:
    put = pb.PutRequest(namespace=ns, key="k", value_json="1", request_id=rid())
    async with grpc.aio.insecure_channel(configd_server.grpc_addr) as channel:
        stub = pb_grpc.ConfigServiceStub(channel)
        await stub.CreateNamespace(pb.CreateNamespaceRequest(name=ns))
        first = await stub.Put(put)
    configd_server.restart()
    async with grpc.aio.insecure_channel(configd_server.grpc_addr) as channel:
        stub = pb_grpc.ConfigServiceStub(channel)
        again = await stub.Put(put)
        assert again.revision == first.revision
        assert list(again.changes) == list(first.changes)
        assert await history(stub, ns) == [first.revision, first.revision - 1]
        changed = pb.PutRequest(namespace=ns, key="k", value_json="2", request_id=put.request_id)
        assert isinstance(await failure(stub.Put(changed)), errors.PreconditionFailed)


async def test_a_retry_on_the_other_worker_returns_the_original(tmp_path: Any, ns: str) -> None:
    with ConfigdProcess(tmp_path / "data", workers=2) as server:
        until(lambda: len(worker_pids(server)) == 2, "two workers serving")
        one, two = sorted(worker_pids(server))
        async with worker_channel(server, one) as a, worker_channel(server, two) as b:
            on_one, on_two = pb_grpc.ConfigServiceStub(a), pb_grpc.ConfigServiceStub(b)
            await on_one.CreateNamespace(pb.CreateNamespaceRequest(name=ns))
            put = pb.PutRequest(namespace=ns, key="k", value_json="1", request_id=rid())
            first = await on_one.Put(put)
            # At once, before worker two may have applied it: the store knows the id.
            again = await on_two.Put(put)
            assert again.revision == first.revision
            assert list(again.changes) == list(first.changes)
            assert await history(on_two, ns) == [first.revision, first.revision - 1]
            assert (await on_one.Put(put)).revision == first.revision
