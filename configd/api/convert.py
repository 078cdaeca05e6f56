"""Model <-> protobuf conversion; the only place that knows both shapes."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from google.protobuf.timestamp_pb2 import Timestamp

from configd.core.errors import InvalidArgument
from configd.core.model import (
    ChangeSet,
    KeyAbsent,
    KeyChange,
    KeyModRevision,
    Namespace,
    NamespaceRevision,
    Precondition,
    TxnDelete,
    TxnOp,
    TxnPut,
    WriteResult,
)
from configd_client.wire import config_pb2 as pb


def namespace_info(namespace: Namespace) -> pb.NamespaceInfo:
    return pb.NamespaceInfo(
        name=namespace.name,
        create_revision=namespace.create_revision,
        mod_revision=namespace.mod_revision,
        schema_version=namespace.schema.version,
        key_count=len(namespace.entries),
    )


def key_metas(namespace: Namespace) -> list[pb.KeyMeta]:
    return [
        pb.KeyMeta(
            key=key,
            create_revision=entry.create_revision,
            mod_revision=entry.mod_revision,
            version=entry.version,
        )
        for key, entry in sorted(namespace.entries.items())
    ]


def key_change(change: KeyChange) -> pb.KeyChange:
    message = pb.KeyChange(key=change.key)
    if change.old is not None:
        message.old_value_json = change.old.value_json
    if change.new is not None:
        message.new_value_json = change.new.value_json
    return message


def key_changes(changes: Iterable[KeyChange]) -> list[pb.KeyChange]:
    return [key_change(c) for c in changes]


def timestamp(seconds: float) -> Timestamp:
    stamp = Timestamp()
    stamp.FromNanoseconds(int(seconds * 1e9))
    return stamp


def change_set(cs: ChangeSet) -> pb.ChangeSet:
    message = pb.ChangeSet(
        revision=cs.revision,
        namespace=cs.namespace,
        kind=f"WRITE_KIND_{cs.kind.name}",
        changes=key_changes(cs.changes),
        author=cs.author,
        message=cs.message,
        time=timestamp(cs.time),
        schema_version=cs.schema.version,
    )
    if cs.sets_schema:
        message.schema_json = cs.schema.schema_json
    if cs.release is not None:
        message.release_id = cs.release.id
    return message


def write_response(
    result: WriteResult | None, fallback: Namespace | None = None
) -> pb.WriteResponse:
    """A committed write; a write that changed nothing has revision 0."""
    if result is None:
        namespace = pb.NamespaceInfo() if fallback is None else namespace_info(fallback)
        return pb.WriteResponse(revision=0, namespace=namespace)
    namespace = (
        namespace_info(result.namespace)
        if result.namespace is not None
        else pb.NamespaceInfo(name=result.change_set.namespace)
    )
    return pb.WriteResponse(
        revision=result.revision,
        namespace=namespace,
        changes=key_changes(result.change_set.changes),
    )


def preconditions(messages: Sequence[pb.Precondition]) -> list[Precondition]:
    result: list[Precondition] = []
    for index, message in enumerate(messages):
        which = message.WhichOneof("condition")
        if which == "key_mod_revision":
            result.append(
                KeyModRevision(message.key_mod_revision.key, message.key_mod_revision.mod_revision)
            )
        elif which == "key_absent":
            result.append(KeyAbsent(message.key_absent))
        elif which == "namespace_revision":
            result.append(NamespaceRevision(message.namespace_revision))
        else:
            raise InvalidArgument(
                f"preconditions[{index}] is empty: set key_mod_revision, key_absent or "
                "namespace_revision",
                field=f"preconditions[{index}]",
            )
    return result


def txn_ops(messages: Sequence[pb.TxnOp]) -> list[TxnOp]:
    result: list[TxnOp] = []
    for index, message in enumerate(messages):
        which = message.WhichOneof("op")
        if which == "put":
            result.append(TxnPut(message.put.key, message.put.value_json))
        elif which == "delete":
            result.append(TxnDelete(message.delete))
        else:
            raise InvalidArgument(
                f"ops[{index}] is empty: set put or delete", field=f"ops[{index}]"
            )
    return result


def page_token(token: str, *, field: str = "page_token") -> int:
    """History page tokens are the revision to continue below."""
    if not token:
        return 0
    if not token.isdigit() or len(token) > 19:
        raise InvalidArgument(
            f"{field} {token[:40]!r} is not a token this server issued; "
            "pass next_page_token from the previous page",
            field=field,
        )
    return int(token)
