"""Rich gRPC status <-> configd errors: the one mapping, used by the server and every client.

The server side builds a `google.rpc.Status` with details from a ConfigdError; the client side
turns a failed call back into the same ConfigdError type (via ErrorInfo.reason).
"""

from __future__ import annotations

from collections.abc import Sequence

import grpc
from google.protobuf import any_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status

from configd_client.errors import (
    BY_REASON,
    ConfigdError,
    FailedCondition,
    FieldViolation,
    FutureRevision,
    InternalError,
    InvalidArgument,
    LimitExceeded,
    NamespaceNotFound,
    PreconditionFailed,
    RevisionCompacted,
    RevisionNotApplied,
    StoreRegressed,
    Unauthenticated,
    Unavailable,
)

DOMAIN = "configd"
# A status travels in HTTP/2 trailers, which gRPC caps at 16 KiB per call: messages that quote
# a huge rejected value would make the client see "metadata size exceeds hard limit" instead
# of the error. So texts are clipped, and violations kept while they fit a budget.
MAX_MESSAGE_CHARS = 1024
MAX_DESCRIPTION_CHARS = 256
MAX_VIOLATION_CHARS = 6 * 1024


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 15] + "... (truncated)"


def _within_budget(violations: Sequence[FieldViolation]) -> list[FieldViolation]:
    kept: list[FieldViolation] = []
    spent = 0
    for v in violations:
        clipped = FieldViolation(
            _clip(v.path, MAX_DESCRIPTION_CHARS),
            _clip(v.keyword, 64),
            _clip(v.message, MAX_DESCRIPTION_CHARS),
        )
        spent += len(clipped.path) + len(clipped.keyword) + len(clipped.message) + 16
        if spent > MAX_VIOLATION_CHARS:
            break
        kept.append(clipped)
    return kept


def _pack(message: object) -> any_pb2.Any:
    packed = any_pb2.Any()
    packed.Pack(message)  # type: ignore[arg-type]
    return packed


def to_status(error: ConfigdError) -> status_pb2.Status:
    """A google.rpc.Status carrying the error's code, message and typed details."""
    info = error_details_pb2.ErrorInfo(reason=error.reason, domain=DOMAIN)
    details: list[any_pb2.Any] = []
    if isinstance(error, InvalidArgument):
        details.append(
            _pack(
                error_details_pb2.BadRequest(
                    field_violations=[
                        error_details_pb2.BadRequest.FieldViolation(
                            field=v.path, description=v.message, reason=v.keyword
                        )
                        for v in _within_budget(error.violations)
                    ]
                )
            )
        )
    elif isinstance(error, PreconditionFailed):
        details.append(
            _pack(
                error_details_pb2.PreconditionFailure(
                    violations=[
                        error_details_pb2.PreconditionFailure.Violation(
                            type="REVISION", subject=f.subject, description=f.description
                        )
                        for f in error.failures
                    ]
                )
            )
        )
        for index, failure in enumerate(error.failures):
            info.metadata[f"current_revision.{index}"] = str(failure.current_revision)
    elif isinstance(error, LimitExceeded):
        details.append(
            _pack(
                error_details_pb2.QuotaFailure(
                    violations=[
                        error_details_pb2.QuotaFailure.Violation(
                            subject=error.limit, description=error.detail
                        )
                    ]
                )
            )
        )
        info.metadata["limit"] = error.limit
        info.metadata["value"] = str(error.value)
        if error.field:
            info.metadata["field"] = error.field
    elif isinstance(error, NamespaceNotFound):
        if error.namespace:
            info.metadata["namespace"] = error.namespace
    elif isinstance(error, RevisionCompacted):
        info.metadata["compact_revision"] = str(error.compact_revision)
    elif isinstance(error, FutureRevision):
        info.metadata["current_revision"] = str(error.current_revision)
    elif isinstance(error, RevisionNotApplied):
        info.metadata["applied_revision"] = str(error.applied)
        info.metadata["wanted_revision"] = str(error.wanted)
        info.metadata["field"] = error.field
    elif isinstance(error, StoreRegressed):
        info.metadata["store_revision"] = str(error.store_revision)
        info.metadata["applied_revision"] = str(error.applied)
    elif isinstance(error, InternalError):
        info.metadata["incident"] = error.incident
    details.insert(0, _pack(info))
    code = getattr(code_pb2, error.code)
    return status_pb2.Status(
        code=code, message=_clip(str(error), MAX_MESSAGE_CHARS), details=details
    )


def to_grpc_status(error: ConfigdError) -> grpc.Status:
    return rpc_status.to_status(to_status(error))


_DETAILS_KEY = "grpc-status-details-bin"


def _rich_status(exc: grpc.RpcError) -> status_pb2.Status | None:
    trailing = getattr(exc, "trailing_metadata", None)
    for key, value in (trailing() if callable(trailing) else None) or ():
        if key == _DETAILS_KEY and isinstance(value, bytes):
            status = status_pb2.Status()
            try:
                status.MergeFromString(value)
            except Exception:
                return None
            return status
    return None


def from_rpc_error(exc: grpc.RpcError) -> ConfigdError:
    """The ConfigdError a failed call stands for (transport failures become Unavailable).

    Works for sync and asyncio calls alike (both expose code(), details() and
    trailing_metadata())."""
    status = _rich_status(exc)
    code_of = getattr(exc, "code", None)
    code = code_of() if callable(code_of) else grpc.StatusCode.UNKNOWN
    details_of = getattr(exc, "details", None)
    text = (details_of() if callable(details_of) else str(exc)) or code.name
    if status is None:
        if code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
            return Unavailable(text)
        if code is grpc.StatusCode.UNAUTHENTICATED:
            return Unauthenticated(text)
        plain = ConfigdError(text)
        plain.code = code.name  # type: ignore[misc]
        return plain
    info = error_details_pb2.ErrorInfo()
    bad_request = error_details_pb2.BadRequest()
    precondition = error_details_pb2.PreconditionFailure()
    quota = error_details_pb2.QuotaFailure()
    for detail in status.details:
        for message in (info, bad_request, precondition, quota):
            if detail.Is(message.DESCRIPTOR):
                detail.Unpack(message)
    cls = BY_REASON.get(info.reason, ConfigdError) if info.domain == DOMAIN else ConfigdError
    meta = dict(info.metadata)
    error: ConfigdError
    if issubclass(cls, InvalidArgument):
        error = cls(
            status.message,
            violations=[
                FieldViolation(v.field, v.reason, v.description)
                for v in bad_request.field_violations
            ],
        )
    elif issubclass(cls, PreconditionFailed):
        error = cls(
            status.message,
            failures=[
                FailedCondition(
                    v.subject, v.description, int(meta.get(f"current_revision.{i}", "0"))
                )
                for i, v in enumerate(precondition.violations)
            ],
        )
    elif issubclass(cls, LimitExceeded):
        error = cls(
            status.message,
            limit=meta.get("limit", ""),
            value=int(meta.get("value", "0")),
            field=meta.get("field", ""),
        )
    elif issubclass(cls, NamespaceNotFound):
        error = cls(status.message, namespace=meta.get("namespace", ""))
    elif issubclass(cls, RevisionCompacted):
        error = cls(status.message, compact_revision=int(meta.get("compact_revision", "0")))
    elif issubclass(cls, FutureRevision):
        error = cls(status.message, current_revision=int(meta.get("current_revision", "0")))
    elif issubclass(cls, RevisionNotApplied):
        error = cls(
            status.message,
            applied=int(meta.get("applied_revision", "0")),
            wanted=int(meta.get("wanted_revision", "0")),
            field=meta.get("field", ""),
        )
    elif issubclass(cls, StoreRegressed):
        error = cls(
            status.message,
            store_revision=int(meta.get("store_revision", "0")),
            applied=int(meta.get("applied_revision", "0")),
        )
    elif issubclass(cls, InternalError):
        error = cls(status.message, incident=meta.get("incident", ""))
    else:
        error = cls(status.message)
    return error
