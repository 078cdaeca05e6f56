"""Client request ids: the one rule for what an id may be and when a retry is the same write.

A write may carry a request id chosen by the client (the SDK and configctl send a fresh one per
write and keep it across retries). A retry whose id names a committed write is answered with
that write's revision and stores nothing, so a client that lost the answer (connection lost
during COMMIT, a commit past the server's deadline) can simply send the write again.

A retry must be the same write. Rather than a digest kept beside the id (which every replica and
every restart would need too), the retry is compared with the write as stored: its namespace,
kind and message, the keys it changed with their new values, the document and schema after it.
So the check holds on any replica, after a restart, and for ids loaded from storage alike. A
different write under a used id is the client's bug and is refused (FAILED_PRECONDITION), as
etcd and Stripe refuse a reused idempotency key with another payload.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from configd.core.errors import InvalidArgument, PreconditionFailed
from configd.core.model import ChangeSet, Namespace, WriteKind

MAX_REQUEST_ID_CHARS = 128


def check_request_id(request_id: str) -> str:
    """`request_id` if it is a valid id ("" = none): at most 128 printable ASCII characters."""
    if len(request_id) > MAX_REQUEST_ID_CHARS:
        raise InvalidArgument(
            f"request_id has {len(request_id)} characters, over the limit of "
            f"{MAX_REQUEST_ID_CHARS}; send a shorter id (a UUID is 32 hex characters)",
            field="request_id",
        )
    for index, char in enumerate(request_id):
        if not " " <= char <= "~":
            raise InvalidArgument(
                f"request_id has {char!r} at position {index}: an id is printable ASCII "
                "characters only (a UUID's hex digits do)",
                field="request_id",
            )
    return request_id


@dataclass(frozen=True, slots=True)
class WriteIntent:
    """What a write asks for, as far as its stored record can show it again.

    `keys`: each key the write sets (its canonical value text) or deletes (None), exactly the
    keys it changes (put, delete, txn, a create with a document). `document`: the whole document
    after it (apply, rollback, create), as key -> value text. `schema_json`: the schema in force
    after it (set_schema, create, an apply that carries one). None: not compared."""

    request_id: str
    namespace: str
    kind: WriteKind
    message: str
    keys: Mapping[str, str | None] | None = None
    document: Mapping[str, str] | None = None
    schema_json: str | None = None


def check_same_write(intent: WriteIntent, stored: ChangeSet, after: Namespace | None) -> None:
    """Refuse a retry that is not the write stored under its id. `after` is the namespace as
    that write left it (None: unknown, e.g. compacted; the document is then not compared)."""
    same = (
        stored.namespace == intent.namespace
        and stored.kind is intent.kind
        and stored.message == intent.message
        and (intent.keys is None or _changed(stored) == dict(intent.keys))
        and (intent.schema_json is None or stored.schema.schema_json == intent.schema_json)
        and (
            intent.document is None
            or after is None
            or {k: e.value_json for k, e in after.entries.items()} == dict(intent.document)
        )
    )
    if not same:
        raise PreconditionFailed(
            f"request id {intent.request_id!r} was used for a different write (revision "
            f"{stored.revision}, a {stored.kind.name.lower()} in namespace {stored.namespace!r}); "
            "send a new request id for a new write"
        )


def _changed(change_set: ChangeSet) -> dict[str, str | None]:
    return {c.key: None if c.new is None else c.new.value_json for c in change_set.changes}
