"""The error table: every domain error maps to its status code and survives the round trip."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import grpc.aio
import pytest
from google.rpc import code_pb2

from configd.api.config_servicer import ConfigServicer
from configd.api.handlers import generic_handler
from configd.api.watch_encoding import ProtoEncoder
from configd.store.service import ConfigService
from configd.watch.hub import WatchHub
from configd_client import errors
from configd_client.wire import config_pb2, config_pb2_grpc
from configd_client.wire.status import from_rpc_error, to_grpc_status, to_status
from tests.configd.store.faults import FaultyStorage

EXPECTED_CODES: dict[type[errors.ConfigdError], str] = {
    errors.ConfigdError: "INTERNAL",
    errors.InternalError: "INTERNAL",
    errors.InvalidArgument: "INVALID_ARGUMENT",
    errors.SchemaViolation: "INVALID_ARGUMENT",
    errors.InvalidSchema: "INVALID_ARGUMENT",
    errors.PreconditionFailed: "FAILED_PRECONDITION",
    errors.NamespaceNotEmpty: "FAILED_PRECONDITION",
    errors.ReleaseRunning: "FAILED_PRECONDITION",
    errors.NoRunningRelease: "FAILED_PRECONDITION",
    errors.CheckRefused: "INVALID_ARGUMENT",
    errors.ReplicaBehind: "FAILED_PRECONDITION",
    errors.NotFound: "NOT_FOUND",
    errors.NamespaceNotFound: "NOT_FOUND",
    errors.KeyNotFound: "NOT_FOUND",
    errors.AlreadyExists: "ALREADY_EXISTS",
    errors.LimitExceeded: "RESOURCE_EXHAUSTED",
    errors.RevisionCompacted: "OUT_OF_RANGE",
    errors.FutureRevision: "OUT_OF_RANGE",
    errors.Unauthenticated: "UNAUTHENTICATED",
    errors.PermissionDenied: "PERMISSION_DENIED",
    errors.Unavailable: "UNAVAILABLE",
    errors.RevisionNotApplied: "UNAVAILABLE",
    errors.StorageFailure: "UNAVAILABLE",
    errors.StoreRegressed: "UNAVAILABLE",
}


def test_every_error_type_is_in_the_table() -> None:
    assert set(errors.ERROR_TYPES) == set(EXPECTED_CODES)


def test_reasons_are_unique() -> None:
    reasons = [cls.reason for cls in errors.ERROR_TYPES]
    assert len(reasons) == len(set(reasons))


@pytest.mark.parametrize(("error_type", "code"), EXPECTED_CODES.items())
def test_error_maps_to_its_status_code(error_type: type[errors.ConfigdError], code: str) -> None:
    status = to_status(error_type("something went wrong"))
    assert status.code == getattr(code_pb2, code)
    assert status.message == "configd: something went wrong"


class _FailedCall(grpc.RpcError):
    """What a failed call looks like to a client: code, details, trailing metadata."""

    def __init__(self, status: grpc.Status) -> None:
        self._status = status

    def code(self) -> grpc.StatusCode:
        return self._status.code

    def details(self) -> str:
        return str(self._status.details)

    def trailing_metadata(self) -> tuple[tuple[str, bytes], ...]:
        return tuple(self._status.trailing_metadata)


@pytest.mark.parametrize(
    "error",
    [
        errors.SchemaViolation(
            "bad", violations=[errors.FieldViolation("/a", "maximum", "too big")]
        ),
        errors.InvalidArgument("bad name", field="name"),
        errors.PreconditionFailed(
            "stale", failures=[errors.FailedCondition("key:a", "a changed", 7)]
        ),
        errors.ReplicaBehind.compacting(180, 120),
        errors.LimitExceeded("too big", limit="max_value_bytes", value=10),
        errors.RevisionCompacted("old", compact_revision=5),
        errors.FutureRevision("new", current_revision=9),
        errors.NamespaceNotFound("missing"),
        errors.AlreadyExists("exists"),
        errors.StoreRegressed("went back", store_revision=7, applied=9),
        errors.InternalError(
            "internal error (incident 0123abcd4567): boom", incident="0123abcd4567"
        ),
    ],
    ids=lambda e: type(e).__name__,
)
def test_clients_get_back_the_same_error(error: errors.ConfigdError) -> None:
    back = from_rpc_error(_FailedCall(to_grpc_status(error)))
    assert type(back) is type(error)
    assert str(back) == str(error)
    for attribute in (
        "violations",
        "failures",
        "limit",
        "value",
        "compact_revision",
        "current_revision",
        "incident",
        "store_revision",
        "applied",
    ):
        assert getattr(back, attribute, None) == getattr(error, attribute, None)


# -- through a real gRPC server: what reaches a client when something fails unexpectedly ------

INCIDENT = r"configd: internal error \(incident (?P<incident>[0-9a-f]{12})\): "


@dataclass(frozen=True)
class Fault:
    """A fault injected into the real storage, the call that meets it, what the client gets."""

    name: str
    arm: Callable[[FaultyStorage], None]
    call: Callable[[config_pb2_grpc.ConfigServiceStub], Any]
    code: grpc.StatusCode
    message: str
    error_type: type[errors.ConfigdError]


def _put(stub: config_pb2_grpc.ConfigServiceStub) -> Any:
    return stub.Put(config_pb2.PutRequest(namespace="ns", key="k", value_json="1"))


def _history(stub: config_pb2_grpc.ConfigServiceStub) -> Any:
    return stub.History(config_pb2.HistoryRequest(namespace="ns"))


def _fail_commit(error: BaseException) -> Callable[[FaultyStorage], None]:
    def arm(storage: FaultyStorage) -> None:
        storage.fail_next = error

    return arm


def _fail_history(storage: FaultyStorage) -> None:
    storage.history_fails = KeyError("a bug below the service")


FAULTS = [
    Fault(
        "a bug in the commit",
        _fail_commit(RuntimeError("a bug building rows")),
        _put,
        grpc.StatusCode.INTERNAL,
        INCIDENT + "the write was not stored; retry, and report the incident id if it persists$",
        errors.InternalError,
    ),
    Fault(
        "an unmapped exception in a handler",
        _fail_history,
        _history,
        grpc.StatusCode.INTERNAL,
        INCIDENT + "the server log has the details; retry, and report the incident id if it "
        "persists$",
        errors.InternalError,
    ),
    Fault(
        "the storage refuses the commit",
        _fail_commit(errors.StorageFailure("the database is read-only")),
        _put,
        grpc.StatusCode.UNAVAILABLE,
        "^configd: the database is read-only; retry the write, and if it keeps failing ask the "
        "operator to check the server's disk and log$",
        errors.StorageFailure,
    ),
]


@pytest.fixture
async def faulty_server(tmp_path: Path) -> AsyncIterator[tuple[FaultyStorage, str]]:
    """A gRPC server assembled as configd's, in this process, over a FaultyStorage."""
    storage = FaultyStorage(tmp_path)
    async with ConfigService(storage) as service:
        await service.create_namespace("ns", "", author="tester", message="")
        hub = WatchHub(service, storage, ProtoEncoder(), limits=service.limits)
        server = grpc.aio.server()
        server.add_generic_rpc_handlers(
            [
                generic_handler(
                    ConfigServicer(service, hub),
                    config_pb2.DESCRIPTOR.services_by_name["ConfigService"],
                )
            ]
        )
        port = server.add_insecure_port("127.0.0.1:0")
        await server.start()
        try:
            yield storage, f"127.0.0.1:{port}"
        finally:
            await server.stop(None)
            hub.close()


@pytest.mark.parametrize("fault", FAULTS, ids=lambda f: f.name)
async def test_unexpected_failures_reach_the_client_through_the_error_table(
    faulty_server: tuple[FaultyStorage, str], fault: Fault
) -> None:
    storage, address = faulty_server
    fault.arm(storage)
    async with grpc.aio.insecure_channel(address) as channel:
        stub = config_pb2_grpc.ConfigServiceStub(channel)
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await fault.call(stub)
        assert caught.value.code() == fault.code
        match = re.match(fault.message, caught.value.details() or "")
        assert match is not None, caught.value.details()
        back = from_rpc_error(caught.value)
        assert type(back) is fault.error_type
        if isinstance(back, errors.InternalError):
            assert back.incident == match.group("incident")
        # The server goes on: the next write is stored.
        storage.history_fails = None
        reply = await _put(stub)
        assert reply.revision == 2
