"""The error table: every domain error maps to its status code and survives the round trip."""

from __future__ import annotations

import grpc
import pytest
from google.rpc import code_pb2

from configd_client import errors
from configd_client.wire.status import from_rpc_error, to_grpc_status, to_status

EXPECTED_CODES: dict[type[errors.ConfigdError], str] = {
    errors.ConfigdError: "INTERNAL",
    errors.InternalError: "INTERNAL",
    errors.InvalidArgument: "INVALID_ARGUMENT",
    errors.SchemaViolation: "INVALID_ARGUMENT",
    errors.InvalidSchema: "INVALID_ARGUMENT",
    errors.PreconditionFailed: "FAILED_PRECONDITION",
    errors.NamespaceNotEmpty: "FAILED_PRECONDITION",
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
    errors.StorageFailure: "UNAVAILABLE",
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
        errors.LimitExceeded("too big", limit="max_value_bytes", value=10),
        errors.RevisionCompacted("old", compact_revision=5),
        errors.FutureRevision("new", current_revision=9),
        errors.NamespaceNotFound("missing"),
        errors.AlreadyExists("exists"),
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
    ):
        assert getattr(back, attribute, None) == getattr(error, attribute, None)
