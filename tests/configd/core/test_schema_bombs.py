"""Schema bombs against a real server: each is refused or bounded, never hangs it.

Every call runs under a deadline, so a regression fails here instead of hanging the suite.
"""

from __future__ import annotations

import json
import time
from typing import Any

import grpc
import grpc.aio
import pytest

from configd_client.wire import config_pb2 as pb
from configd_client.wire import config_pb2_grpc as pb_grpc

Stub = pb_grpc.ConfigServiceStub
DEADLINE = 10.0


async def outcome(call: Any) -> tuple[grpc.StatusCode, str, float]:
    started = time.monotonic()
    try:
        await call
    except grpc.aio.AioRpcError as exc:
        return exc.code(), exc.details() or "", time.monotonic() - started
    return grpc.StatusCode.OK, "", time.monotonic() - started


async def create(stub: Stub, name: str, schema: Any) -> tuple[grpc.StatusCode, str, float]:
    return await outcome(
        stub.CreateNamespace(
            pb.CreateNamespaceRequest(name=name, schema_json=json.dumps(schema)),
            timeout=DEADLINE,
        )
    )


def doubling(levels: int) -> dict[str, Any]:
    defs: dict[str, Any] = {
        f"a{i}": {"allOf": [{"$ref": f"#/$defs/a{i + 1}"}, {"$ref": f"#/$defs/a{i + 1}"}]}
        for i in range(levels)
    }
    defs[f"a{levels}"] = {"type": "object"}
    return {"$defs": defs, "$ref": "#/$defs/a0"}


BOMBS = {
    "ref-cycle": (
        {
            "$defs": {"a": {"$ref": "#/$defs/b"}, "b": {"anyOf": [{"$ref": "#/$defs/a"}]}},
            "$ref": "#/$defs/a",
        },
        "cycle",
    ),
    "self-ref": ({"$ref": "#"}, "cycle"),
    "allof-doubling": (doubling(40), "too expensive"),
    "recursive-doubling": (
        {
            "$defs": {
                "n": {
                    "allOf": [
                        {"properties": {"a": {"$ref": "#/$defs/n"}}},
                        {"properties": {"a": {"$ref": "#/$defs/n"}}},
                    ]
                }
            },
            "$ref": "#/$defs/n",
        },
        "too expensive",
    ),
    "deep-nesting": (
        json.loads('{"properties": {"a": ' * 100 + "{}" + "}}" * 100),
        "nested too deeply",
    ),
}


@pytest.mark.parametrize("bomb", sorted(BOMBS))
async def test_bomb_is_refused_quickly(config_stub: Stub, ns: str, bomb: str) -> None:
    schema, reason = BOMBS[bomb]
    code, details, took = await create(config_stub, ns, schema)
    assert code is grpc.StatusCode.INVALID_ARGUMENT, details
    assert reason in details
    assert took < 5.0


async def test_catastrophic_patterns_run_in_linear_time(config_stub: Stub, ns: str) -> None:
    schema = {
        "type": "object",
        "properties": {"p": {"type": "string", "pattern": "^(a+)+$"}},
        "patternProperties": {"^(a|aa)+$": {"type": "integer"}},
    }
    code, details, _ = await create(config_stub, ns, schema)
    assert code is grpc.StatusCode.OK, details
    evil = '"' + "a" * 100_000 + '!"'
    code, details, took = await outcome(
        config_stub.Put(pb.PutRequest(namespace=ns, key="p", value_json=evil), timeout=DEADLINE)
    )
    assert code is grpc.StatusCode.INVALID_ARGUMENT, details
    assert "pattern" in details
    assert took < 2.0
    key = "a" * 250 + "!"  # Python's re needs ~2**250 steps for this key
    code, details, took = await outcome(
        config_stub.Put(pb.PutRequest(namespace=ns, key=key, value_json='"x"'), timeout=DEADLINE)
    )
    assert code is grpc.StatusCode.OK, details  # the key does not match, so no rule applies
    assert took < 2.0


async def test_lookaround_is_refused(config_stub: Stub, ns: str) -> None:
    code, details, _ = await create(config_stub, ns, {"pattern": "^(?=a)a$"})
    assert code is grpc.StatusCode.INVALID_ARGUMENT
    assert "linear-time" in details


async def test_huge_enum_is_bounded_by_the_schema_size(config_stub: Stub, ns: str) -> None:
    members = list(range(30_000))  # ~180 KiB, under max_schema_bytes
    schema = {"type": "object", "properties": {"e": {"enum": members}}}
    code, details, took = await create(config_stub, ns, schema)
    assert code is grpc.StatusCode.OK, details
    assert took < 5.0
    started = time.monotonic()
    for value in ("29999", "-1"):
        code, details, _ = await outcome(
            config_stub.Put(
                pb.PutRequest(namespace=ns, key="e", value_json=value), timeout=DEADLINE
            )
        )
        assert code is (grpc.StatusCode.OK if value != "-1" else grpc.StatusCode.INVALID_ARGUMENT)
    assert time.monotonic() - started < 3.0
    bigger = {"type": "object", "properties": {"e": {"enum": list(range(60_000))}}}
    code, details, _ = await create(config_stub, ns + "-over", bigger)
    assert code is grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "max_schema_bytes" in details


async def test_huge_enum_multiplied_by_refs_is_refused(config_stub: Stub, ns: str) -> None:
    schema = {
        "$defs": {"e": {"enum": list(range(20_000))}},
        "allOf": [{"$ref": "#/$defs/e"}] * 40,
    }
    code, details, _ = await create(config_stub, ns, schema)
    assert code is grpc.StatusCode.INVALID_ARGUMENT
    assert "too expensive" in details


async def test_legitimate_recursive_schema_is_accepted(config_stub: Stub, ns: str) -> None:
    tree = {
        "$defs": {
            "node": {
                "type": "object",
                "properties": {
                    "left": {"$ref": "#/$defs/node"},
                    "right": {"$ref": "#/$defs/node"},
                    "v": {"type": "integer"},
                },
                "additionalProperties": False,
            }
        },
        "type": "object",
        "additionalProperties": {"$ref": "#/$defs/node"},
    }
    code, details, _ = await create(config_stub, ns, tree)
    assert code is grpc.StatusCode.OK, details
    value: dict[str, Any] = {"v": 1}
    for _ in range(60):
        value = {"left": value, "right": {"v": 2}}
    code, details, took = await outcome(
        config_stub.Put(
            pb.PutRequest(namespace=ns, key="t", value_json=json.dumps(value)), timeout=DEADLINE
        )
    )
    assert code is grpc.StatusCode.OK, details
    assert took < 2.0
