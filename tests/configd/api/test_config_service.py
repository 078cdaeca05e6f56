"""ConfigService over real gRPC against a real configd process and SQLite file."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable
from importlib.metadata import version
from typing import Any

import grpc
import grpc.aio
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from configd.testing import ConfigdProcess
from configd_client import errors
from configd_client.wire import admin_pb2
from configd_client.wire import config_pb2 as pb
from configd_client.wire import config_pb2_grpc as pb_grpc
from tests.configd.api.calls import failure

DB_SCHEMA = json.dumps(
    {
        "type": "object",
        "properties": {
            "pool_size": {"type": "integer", "minimum": 1, "maximum": 100},
            "url": {"type": "string"},
            "big": {"type": "integer"},
        },
        "additionalProperties": False,
    }
)

Stub = pb_grpc.ConfigServiceStub


async def code_of(call: Awaitable[Any]) -> grpc.StatusCode:
    try:
        await call
    except grpc.aio.AioRpcError as exc:
        return exc.code()
    raise AssertionError("the call succeeded")


async def create(stub: Stub, name: str, schema: str = DB_SCHEMA) -> int:
    response = await stub.CreateNamespace(pb.CreateNamespaceRequest(name=name, schema_json=schema))
    return int(response.revision)


def put(ns: str, key: str, value: str, **kwargs: Any) -> pb.PutRequest:
    return pb.PutRequest(namespace=ns, key=key, value_json=value, **kwargs)


async def test_publish_read_and_metadata(config_stub: Stub, ns: str) -> None:
    created = await create(config_stub, ns)
    first = await config_stub.Put(put(ns, "pool_size", "10", message="initial"))
    second = await config_stub.Put(put(ns, "pool_size", "20"))
    assert second.revision == first.revision + 1 == created + 2
    assert second.namespace.mod_revision == second.revision
    assert [(c.key, c.old_value_json, c.new_value_json) for c in second.changes] == [
        ("pool_size", "10", "20")
    ]
    got = await config_stub.Get(pb.GetRequest(namespace=ns, key="pool_size"))
    assert got.value_json == "20"
    assert (got.meta.create_revision, got.meta.mod_revision, got.meta.version) == (
        first.revision,
        second.revision,
        2,
    )
    view = await config_stub.GetNamespace(pb.GetNamespaceRequest(name=ns))
    assert json.loads(view.document_json) == {"pool_size": 20}
    assert view.namespace.schema_version == 1
    assert view.revision == view.current_revision >= second.revision
    assert view.compact_revision == 0
    old = await config_stub.GetNamespace(pb.GetNamespaceRequest(name=ns, revision=first.revision))
    assert json.loads(old.document_json) == {"pool_size": 10}
    assert old.revision == first.revision


async def test_integers_beyond_2_53_keep_full_precision(config_stub: Stub, ns: str) -> None:
    await create(config_stub, ns)
    await config_stub.Put(put(ns, "big", "123456789012345678901234567890"))
    got = await config_stub.Get(pb.GetRequest(namespace=ns, key="big"))
    assert got.value_json == "123456789012345678901234567890"


async def test_schema_violation_details_reach_the_client(config_stub: Stub, ns: str) -> None:
    await create(config_stub, ns)
    before = await config_stub.GetNamespace(pb.GetNamespaceRequest(name=ns))
    error = await failure(
        config_stub.Apply(
            pb.ApplyRequest(namespace=ns, document_json='{"pool_size": 500, "pool": 1}')
        )
    )
    assert isinstance(error, errors.SchemaViolation)
    assert [(v.path, v.keyword) for v in error.violations] == [
        ("/pool", "additionalProperties"),
        ("/pool_size", "maximum"),
    ]
    after = await config_stub.GetNamespace(pb.GetNamespaceRequest(name=ns))
    assert after.namespace.mod_revision == before.namespace.mod_revision
    assert after.document_json == "{}"


@pytest.mark.parametrize(
    ("request_", "code", "fragment"),
    [
        (put("t/missing", "k", "1"), errors.NamespaceNotFound, "does not exist; create it"),
        (put("Bad Name", "k", "1"), errors.InvalidArgument, "not a valid namespace name"),
        (put("{ns}", "k", "{oops"), errors.InvalidArgument, "value_json is not valid JSON"),
        (
            put("{ns}", "k", '{"huge": 1e400}'),
            errors.InvalidArgument,
            "value_json is not valid JSON: the number 1e400 is beyond the range of a double",
        ),
        (put("{ns}", "", "1"), errors.InvalidArgument, "key is empty"),
        (put("{ns}", "k\x01", "1"), errors.InvalidArgument, "control character U+0001"),
        (
            put("{ns}", "url", '"' + "x" * 300_000 + '"'),
            errors.LimitExceeded,
            "over the limit of 262144 bytes (max_value_bytes)",
        ),
        (
            put("{ns}", "pool_size", "1", preconditions=[pb.Precondition()]),
            errors.InvalidArgument,
            "preconditions[0] is empty",
        ),
        (pb.GetRequest(namespace="{ns}", key="nope"), errors.KeyNotFound, "does not exist"),
        (pb.GetNamespaceRequest(name="{ns}", revision=-1), errors.InvalidArgument, "negative"),
        (
            pb.GetNamespaceRequest(name="{ns}", revision=10**15),
            errors.FutureRevision,
            "has not been written yet",
        ),
        (
            pb.HistoryRequest(namespace="{ns}", page_token="garbage"),
            errors.InvalidArgument,
            "not a token this server issued",
        ),
        (
            pb.ApplyRequest(namespace="{ns}", document_json="[1]"),
            errors.InvalidArgument,
            "must be a JSON object",
        ),
        (pb.TxnRequest(namespace="{ns}"), errors.InvalidArgument, "at least one"),
        (
            pb.SetSchemaRequest(name="{ns}", schema_json='{"$ref": "http://evil/x"}'),
            errors.InvalidSchema,
            "never fetches remote schemas",
        ),
        (pb.CreateNamespaceRequest(name="{ns}"), errors.AlreadyExists, "already exists"),
        (pb.DeleteNamespaceRequest(name="{ns}/nope"), errors.NamespaceNotFound, "does not exist"),
        (pb.RollbackRequest(namespace="{ns}"), errors.InvalidArgument, "to_revision is required"),
        (pb.ListNamespacesRequest(prefix="UPPER"), errors.InvalidArgument, "prefix"),
    ],
    ids=lambda v: type(v).__name__ if not isinstance(v, str) else None,
)
async def test_bad_input_gets_the_right_status_and_changes_nothing(
    config_stub: Stub, ns: str, request_: Any, code: type[errors.ConfigdError], fragment: str
) -> None:
    await create(config_stub, ns)
    before = await config_stub.GetNamespace(pb.GetNamespaceRequest(name=ns))
    for field in ("namespace", "name"):
        if request_.DESCRIPTOR.fields_by_name.get(field):
            setattr(request_, field, getattr(request_, field).replace("{ns}", ns))
    method = getattr(config_stub, type(request_).__name__.removesuffix("Request"))
    error = await failure(method(request_))
    assert type(error) is code, error
    assert fragment in str(error)
    assert str(error).startswith("configd: ")
    after = await config_stub.GetNamespace(pb.GetNamespaceRequest(name=ns))
    assert after.current_revision == before.current_revision
    assert after.document_json == before.document_json


async def test_oversized_request_is_refused_by_the_transport(config_stub: Stub, ns: str) -> None:
    await create(config_stub, ns, "")
    huge = '"' + "x" * (5 * 1024 * 1024) + '"'
    assert await code_of(config_stub.Put(put(ns, "k", huge))) == (
        grpc.StatusCode.RESOURCE_EXHAUSTED
    )


async def test_compare_and_set_has_exactly_one_winner_per_round(
    shared_server: ConfigdProcess, ns: str
) -> None:
    channels = [grpc.aio.insecure_channel(shared_server.grpc_addr) for _ in range(50)]
    try:
        stubs = [pb_grpc.ConfigServiceStub(c) for c in channels]
        await create(stubs[0], ns, "")
        await stubs[0].Put(put(ns, "counter", "0"))
        for round_ in range(5):
            current = await stubs[0].Get(pb.GetRequest(namespace=ns, key="counter"))
            condition = pb.Precondition(
                key_mod_revision=pb.KeyModRevision(
                    key="counter", mod_revision=current.meta.mod_revision
                )
            )

            async def attempt(
                stub: Stub, client: int, condition: pb.Precondition = condition
            ) -> str:
                try:
                    await stub.Put(put(ns, "counter", str(client), preconditions=[condition]))
                except grpc.aio.AioRpcError as exc:
                    return exc.code().name
                return "won"

            outcomes = await asyncio.gather(*(attempt(s, i) for i, s in enumerate(stubs)))
            assert outcomes.count("won") == 1, f"round {round_}: {outcomes.count('won')} winners"
            assert outcomes.count("FAILED_PRECONDITION") == len(stubs) - 1
    finally:
        for channel in channels:
            await channel.close()


async def test_thousand_concurrent_puts_get_distinct_consecutive_revisions(
    config_stub: Stub, ns: str
) -> None:
    await create(config_stub, ns, "")
    responses = await asyncio.gather(
        *(config_stub.Put(put(ns, f"k{i % 20}", str(i))) for i in range(1000))
    )
    revisions = sorted(r.revision for r in responses)
    assert revisions == list(range(revisions[0], revisions[0] + 1000))


async def test_list_namespaces_by_prefix_with_paging(config_stub: Stub, ns: str) -> None:
    for suffix in ("a", "b", "c"):
        await create(config_stub, f"{ns}/{suffix}", "")
    first = await config_stub.ListNamespaces(pb.ListNamespacesRequest(prefix=f"{ns}/", page_size=2))
    assert [n.name for n in first.namespaces] == [f"{ns}/a", f"{ns}/b"]
    rest = await config_stub.ListNamespaces(
        pb.ListNamespacesRequest(prefix=f"{ns}/", page_size=2, page_token=first.next_page_token)
    )
    assert [n.name for n in rest.namespaces] == [f"{ns}/c"]
    assert rest.next_page_token == ""


async def test_txn_apply_history_and_rollback(config_stub: Stub, ns: str) -> None:
    await create(config_stub, ns)
    base = await config_stub.Txn(
        pb.TxnRequest(
            namespace=ns,
            ops=[
                pb.TxnOp(put=pb.TxnPut(key="pool_size", value_json="5")),
                pb.TxnOp(put=pb.TxnPut(key="url", value_json='"db://a"')),
            ],
            message="first config",
        )
    )
    dry = await config_stub.Apply(
        pb.ApplyRequest(namespace=ns, document_json='{"pool_size": 6}', dry_run=True)
    )
    assert dry.valid
    assert dry.revision == 0
    assert [c.key for c in dry.changes] == ["pool_size", "url"]
    applied = await config_stub.Apply(
        pb.ApplyRequest(
            namespace=ns,
            document_json='{"pool_size": 6}',
            preconditions=[pb.Precondition(namespace_revision=base.revision)],
            message="shrink",
        )
    )
    assert applied.revision == base.revision + 1
    stale = await failure(
        config_stub.Apply(
            pb.ApplyRequest(
                namespace=ns,
                document_json='{"pool_size": 7}',
                preconditions=[pb.Precondition(namespace_revision=base.revision)],
            )
        )
    )
    assert isinstance(stale, errors.PreconditionFailed)
    assert stale.failures[0].current_revision == applied.revision
    history = await config_stub.History(pb.HistoryRequest(namespace=ns, page_size=2))
    assert [e.revision for e in history.entries] == [applied.revision, base.revision]
    assert history.entries[1].message == "first config"
    assert history.entries[1].kind == pb.WRITE_KIND_TXN
    assert history.entries[0].author == "anonymous"
    assert history.next_page_token
    rolled = await config_stub.Rollback(pb.RollbackRequest(namespace=ns, to_revision=base.revision))
    view = await config_stub.GetNamespace(pb.GetNamespaceRequest(name=ns))
    assert json.loads(view.document_json) == {"pool_size": 5, "url": "db://a"}
    assert view.namespace.mod_revision == rolled.revision


async def test_schemas_are_versioned(config_stub: Stub, ns: str) -> None:
    await create(config_stub, ns, "")
    await config_stub.Put(put(ns, "pool_size", "500"))
    refused = await failure(
        config_stub.SetSchema(pb.SetSchemaRequest(name=ns, schema_json=DB_SCHEMA))
    )
    assert isinstance(refused, errors.SchemaViolation)
    assert refused.violations[0].path == "/pool_size"
    await config_stub.Put(put(ns, "pool_size", "50"))
    changed = await config_stub.SetSchema(pb.SetSchemaRequest(name=ns, schema_json=DB_SCHEMA))
    assert changed.version == 2
    current = await config_stub.GetSchema(pb.GetSchemaRequest(name=ns))
    assert json.loads(current.schema_json) == json.loads(DB_SCHEMA)
    first = await config_stub.GetSchema(pb.GetSchemaRequest(name=ns, version=1))
    assert first.schema_json == '{"type":"object"}'


async def test_delete_namespace_refused_while_keys_remain(config_stub: Stub, ns: str) -> None:
    await create(config_stub, ns, "")
    await config_stub.Put(put(ns, "k", "1"))
    refused = await failure(config_stub.DeleteNamespace(pb.DeleteNamespaceRequest(name=ns)))
    assert isinstance(refused, errors.NamespaceNotEmpty)
    deleted = await config_stub.DeleteNamespace(pb.DeleteNamespaceRequest(name=ns, force=True))
    assert [c.key for c in deleted.changes] == ["k"]
    assert await code_of(config_stub.GetNamespace(pb.GetNamespaceRequest(name=ns))) == (
        grpc.StatusCode.NOT_FOUND
    )


async def test_health_reflection_and_status(
    channel: grpc.aio.Channel, admin_stub: Any, config_stub: Stub, ns: str
) -> None:
    health = health_pb2_grpc.HealthStub(channel)
    for service in ("", "configd.v1.ConfigService", "configd.v1.AdminService"):
        reply = await health.Check(health_pb2.HealthCheckRequest(service=service))
        assert reply.status == health_pb2.HealthCheckResponse.SERVING
    reflection = reflection_pb2_grpc.ServerReflectionStub(channel)
    call = reflection.ServerReflectionInfo(
        iter([reflection_pb2.ServerReflectionRequest(list_services="")])
    )
    names = set()
    async for reply in call:
        names = {s.name for s in reply.list_services_response.service}
        break
    assert {"configd.v1.ConfigService", "configd.v1.AdminService"} <= names
    status = await admin_stub.GetStatus(admin_pb2.GetStatusRequest())
    assert status.version == version("configd")
    # The revision of the latest write, not a placeholder (tests of a module run one by one).
    written = await create(config_stub, ns)
    status = await admin_stub.GetStatus(admin_pb2.GetStatusRequest())
    assert status.revision == written


async def test_restart_keeps_data_revisions_and_history(configd_server: ConfigdProcess) -> None:
    async with grpc.aio.insecure_channel(configd_server.grpc_addr) as channel:
        stub = pb_grpc.ConfigServiceStub(channel)
        await create(stub, "keep/me")
        writes = [await stub.Put(put("keep/me", "pool_size", str(i))) for i in range(1, 6)]
        before = await stub.GetNamespace(pb.GetNamespaceRequest(name="keep/me"))
        history_before = await stub.History(pb.HistoryRequest(namespace="keep/me"))
    configd_server.restart()
    async with grpc.aio.insecure_channel(configd_server.grpc_addr) as channel:
        stub = pb_grpc.ConfigServiceStub(channel)
        after = await stub.GetNamespace(pb.GetNamespaceRequest(name="keep/me"))
        assert after == before
        assert await stub.History(pb.HistoryRequest(namespace="keep/me")) == history_before
        old = await stub.GetNamespace(
            pb.GetNamespaceRequest(name="keep/me", revision=writes[1].revision)
        )
        assert json.loads(old.document_json) == {"pool_size": 2}
        next_write = await stub.Put(put("keep/me", "pool_size", "9"))
        assert next_write.revision == writes[-1].revision + 1


async def test_create_with_document_and_apply_with_schema_are_single_revisions(
    config_stub: Stub, ns: str
) -> None:
    created = await config_stub.CreateNamespace(
        pb.CreateNamespaceRequest(name=ns, schema_json=DB_SCHEMA, document_json='{"pool_size": 5}')
    )
    assert created.namespace.key_count == 1
    loose = '{"type": "object"}'
    applied = await config_stub.Apply(
        pb.ApplyRequest(namespace=ns, document_json='{"anything": true}', schema_json=loose)
    )
    assert applied.revision == created.revision + 1
    assert applied.schema_changed
    history = await config_stub.History(pb.HistoryRequest(namespace=ns))
    assert [e.HasField("schema_json") for e in history.entries] == [True, True]
    assert json.loads(history.entries[0].schema_json) == {"type": "object"}
