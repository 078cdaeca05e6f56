"""Protobuf encoding of watch messages (the hub's Encoder), done once per change set."""

from __future__ import annotations

from collections.abc import Sequence

from configd.api import convert
from configd.core.model import ChangeSet, Namespace
from configd_client.wire import config_pb2 as pb


class ProtoEncoder:
    def change_set(self, change_set: ChangeSet) -> bytes:
        message = pb.WatchResponse(change_set=convert.change_set(change_set))
        return message.SerializeToString()

    def snapshot(
        self,
        revision: int,
        resync: bool,
        namespaces: Sequence[Namespace],
        compact_revision: int,
    ) -> bytes:
        message = pb.WatchResponse(
            snapshot=pb.Snapshot(
                revision=revision,
                resync=resync,
                compact_revision=compact_revision,
                namespaces=[
                    pb.NamespaceDocument(
                        namespace=convert.namespace_info(ns),
                        document_json=ns.document_json(),
                        schema_json=ns.schema.schema_json,
                        keys=convert.key_metas(ns),
                    )
                    for ns in namespaces
                ],
            )
        )
        return message.SerializeToString()

    def progress(self, revision: int, compact_revision: int) -> bytes:
        message = pb.WatchResponse(
            progress=pb.Progress(revision=revision, compact_revision=compact_revision)
        )
        return message.SerializeToString()
