"""The errors configd reports, defined once for the server and the SDK.

Each class carries its gRPC status code (by name, so this module needs no grpc import) and a
stable `reason` sent in `google.rpc.ErrorInfo`, which lets any client map a status back to the
same type. Messages start with "configd:" and say what was wrong and what to do.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar


@dataclass(frozen=True, slots=True)
class FieldViolation:
    """A bad field: a JSON pointer (or request field name), the schema keyword, a message."""

    path: str
    keyword: str
    message: str


@dataclass(frozen=True, slots=True)
class FailedCondition:
    """A precondition that did not hold: what it was about and the current revision."""

    subject: str
    description: str
    current_revision: int


class ConfigdError(Exception):
    """Base of every error configd reports."""

    code: ClassVar[str] = "INTERNAL"
    reason: ClassVar[str] = "INTERNAL"

    def __init__(self, message: str) -> None:
        self.detail = message.removeprefix("configd: ")
        super().__init__(f"configd: {self.detail}")


class InvalidArgument(ConfigdError):
    """A malformed or out-of-range argument (name, JSON, revision, ...)."""

    code = "INVALID_ARGUMENT"
    reason = "INVALID_ARGUMENT"

    def __init__(
        self,
        message: str,
        *,
        field: str = "",
        violations: Sequence[FieldViolation] = (),
    ) -> None:
        super().__init__(message)
        self.violations: tuple[FieldViolation, ...] = tuple(violations) or (
            (FieldViolation(field, "", self.detail),) if field else ()
        )


class SchemaViolation(InvalidArgument):
    """A document that does not satisfy its namespace's schema; nothing was stored."""

    reason = "SCHEMA_VIOLATION"


class CheckRefused(SchemaViolation):
    """The SDK only: a check the application registered (add_check) vetoed a revision; the
    client keeps serving the previous snapshot and tells the server it rejected it."""

    reason = "CHECK_REFUSED"

    def __init__(self, message: str, *, reason_text: str = "") -> None:
        super().__init__(message)
        self.reason_text = reason_text or message

    @classmethod
    def of(cls, namespace: str, revision: int, check: str, why: str) -> CheckRefused:
        return cls(
            f"revision {revision} of namespace {namespace!r} was refused by check {check}: "
            f"{why}; readers keep the previous values",
            reason_text=why,
        )


class InvalidSchema(InvalidArgument):
    """A schema that is not a valid, self-contained JSON Schema (draft 2020-12)."""

    reason = "INVALID_SCHEMA"


class PreconditionFailed(ConfigdError):
    """A compare-and-set condition did not hold; nothing was stored."""

    code = "FAILED_PRECONDITION"
    reason = "PRECONDITION_FAILED"

    def __init__(self, message: str, *, failures: Sequence[FailedCondition] = ()) -> None:
        super().__init__(message)
        self.failures = tuple(failures)


class NamespaceNotEmpty(PreconditionFailed):
    """Deleting a namespace that still has keys, without force."""

    reason = "NAMESPACE_NOT_EMPTY"


class ReplicaBehind(PreconditionFailed):
    """Compacting past what a live configd process sharing the store has applied: that
    process still needs the history after its applied revision. `lowest_applied` is it."""

    reason = "REPLICA_BEHIND"

    @property
    def lowest_applied(self) -> int:
        return self.failures[0].current_revision if self.failures else 0

    @classmethod
    def compacting(cls, revision: int, lowest_applied: int) -> ReplicaBehind:
        """The refusal of a compaction at `revision` (its one wording)."""
        return cls(
            f"cannot compact at revision {revision}: a configd process sharing this store "
            f"has applied only revision {lowest_applied} and still needs the history after "
            f"it; compact at revision {lowest_applied + 1} or below, or retry once it has "
            "caught up",
            failures=[
                FailedCondition(
                    "revision",
                    "the lowest revision applied by a live configd process sharing the store",
                    lowest_applied,
                )
            ],
        )


class ReleaseRunning(PreconditionFailed):
    """A namespace is under release: a direct write, or a second release, is refused until
    the release is promoted or aborted (configctl release promote|abort, or --force)."""

    reason = "RELEASE_RUNNING"


class NoRunningRelease(PreconditionFailed):
    """Promote or abort of a namespace with no running release (or not the one named)."""

    reason = "NO_RUNNING_RELEASE"


class NotFound(ConfigdError):
    code = "NOT_FOUND"
    reason = "NOT_FOUND"


class NamespaceNotFound(NotFound):
    """`namespace` names it when the request needed it to exist (a client can offer to create
    it); empty when it is missing only at an older revision."""

    reason = "NAMESPACE_NOT_FOUND"

    def __init__(self, message: str, *, namespace: str = "") -> None:
        super().__init__(message)
        self.namespace = namespace


class KeyNotFound(NotFound):
    reason = "KEY_NOT_FOUND"


class AlreadyExists(ConfigdError):
    code = "ALREADY_EXISTS"
    reason = "ALREADY_EXISTS"


class LimitExceeded(ConfigdError):
    """A size, count or rate limit; `limit` names it and `value` is its setting; `field`
    names the request field that was too big, for a size limit (else empty)."""

    code = "RESOURCE_EXHAUSTED"
    reason = "LIMIT_EXCEEDED"

    def __init__(self, message: str, *, limit: str = "", value: int = 0, field: str = "") -> None:
        super().__init__(message)
        self.limit = limit
        self.value = value
        self.field = field


class RevisionCompacted(ConfigdError):
    """The revision asked for is older than the compaction revision."""

    code = "OUT_OF_RANGE"
    reason = "REVISION_COMPACTED"

    def __init__(self, message: str, *, compact_revision: int = 0) -> None:
        super().__init__(message)
        self.compact_revision = compact_revision


class FutureRevision(ConfigdError):
    """The revision asked for has not been written yet."""

    code = "OUT_OF_RANGE"
    reason = "FUTURE_REVISION"

    def __init__(self, message: str, *, current_revision: int = 0) -> None:
        super().__init__(message)
        self.current_revision = current_revision


class Unauthenticated(ConfigdError):
    code = "UNAUTHENTICATED"
    reason = "UNAUTHENTICATED"


class PermissionDenied(ConfigdError):
    code = "PERMISSION_DENIED"
    reason = "PERMISSION_DENIED"


class Unavailable(ConfigdError):
    """The server cannot serve now (shutting down, storage failing); retry elsewhere or later."""

    code = "UNAVAILABLE"
    reason = "UNAVAILABLE"


class RevisionNotApplied(Unavailable):
    """A read's min_revision (a watch's start_revision - 1) was not applied by this server
    within its bound: it lags the replica that wrote it, or nobody wrote it. Retry; `applied`
    is where the server is, `wanted` what was asked for, `field` the request field."""

    reason = "REVISION_NOT_APPLIED"

    def __init__(self, message: str, *, applied: int = 0, wanted: int = 0, field: str = "") -> None:
        super().__init__(message)
        self.applied = applied
        self.wanted = wanted
        self.field = field


class StoreRegressed(Unavailable):
    """The store's revision went below what this server had applied (commits were lost: an
    asynchronous standby promoted, a restore): the server refuses writes and watches until it
    is restarted. A watcher that gets this takes a fresh snapshot (of another server, or of
    this one restarted), never resumes: the revisions after `store_revision` it saw no longer
    exist. `applied` is what the server had applied."""

    reason = "STORE_REGRESSED"

    def __init__(self, message: str, *, store_revision: int = 0, applied: int = 0) -> None:
        super().__init__(message)
        self.store_revision = store_revision
        self.applied = applied


class StorageFailure(ConfigdError):
    """The database refused a write (disk full, read-only, corrupt); nothing was acknowledged."""

    code = "UNAVAILABLE"
    reason = "STORAGE_FAILURE"


class InternalError(ConfigdError):
    """A bug or an unexpected failure in the server; `incident` names its entry in the log."""

    code = "INTERNAL"
    reason = "INTERNAL_INCIDENT"

    def __init__(self, message: str, *, incident: str = "") -> None:
        super().__init__(message)
        self.incident = incident

    @classmethod
    def new(cls, consequence: str) -> InternalError:
        """An error with a fresh incident id, which the server logs with the traceback."""
        incident = uuid.uuid4().hex[:12]
        return cls(f"internal error (incident {incident}): {consequence}", incident=incident)


def _all_error_types() -> tuple[type[ConfigdError], ...]:
    found: list[type[ConfigdError]] = []
    pending: list[type[ConfigdError]] = [ConfigdError]
    while pending:
        cls = pending.pop()
        found.append(cls)
        pending.extend(cls.__subclasses__())
    return tuple(found)


ERROR_TYPES: tuple[type[ConfigdError], ...] = _all_error_types()
"""Every error type, for mapping an ErrorInfo reason back to its class."""

BY_REASON: dict[str, type[ConfigdError]] = {cls.reason: cls for cls in ERROR_TYPES}
