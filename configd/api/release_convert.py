"""Releases and clients <-> protobuf (configd.v1.ReleaseService messages)."""

from __future__ import annotations

from collections.abc import Mapping

from configd.api.convert import key_changes, timestamp
from configd.core.model import Namespace, Release, ReleaseState
from configd.core.releases import APPLIED, PENDING, REJECTED, ClientOutcome, staged_document_json
from configd.store.releases import ClientView, ReleaseStatus
from configd_client.wire import release_pb2 as pb

_OUTCOMES: Mapping[str, int] = {
    APPLIED: pb.ACK_OUTCOME_APPLIED,
    REJECTED: pb.ACK_OUTCOME_REJECTED,
    PENDING: pb.ACK_OUTCOME_PENDING,
}


def selectors(release: Release) -> list[pb.LabelSelector]:
    return [pb.LabelSelector(label=label, value=value) for label, value in release.selectors]


def release(release: Release, namespace: Namespace | None) -> pb.Release:
    """`namespace`: the namespace as it stands, for the staged document (None: unknown)."""
    message = pb.Release(
        id=release.id,
        namespace=release.namespace,
        state=f"RELEASE_STATE_{release.state.name}",
        selectors=selectors(release),
        percent=release.percent,
        bake_seconds=release.bake_seconds,
        changes=key_changes(release.changes),
        started_by=release.started_by,
        message=release.message,
        started_at=timestamp(release.started_at),
        end_revision=release.end_revision,
        ended_by=release.ended_by,
        end_message=release.end_message,
    )
    if release.max_failures is not None:
        message.max_failures = release.max_failures
    if release.state is not ReleaseState.RUNNING:
        message.ended_at.CopyFrom(timestamp(release.ended_at))
    if namespace is not None and release.state is ReleaseState.RUNNING:
        message.document_json = staged_document_json(namespace, release)
    return message


def client_outcome(client: ClientOutcome) -> pb.ReleaseClient:
    message = pb.ReleaseClient(
        client_id=client.client_id,
        labels=dict(client.labels),
        replica=client.replica,
        outcome=_OUTCOMES[client.outcome],  # type: ignore[arg-type]
        reason=client.reason,
        revision=client.revision,
        connected=client.connected,
    )
    if client.acked_at:
        message.acked_at.CopyFrom(timestamp(client.acked_at))
    return message


def release_status(status: ReleaseStatus, namespace: Namespace | None) -> pb.GetReleaseResponse:
    progress = status.progress
    return pb.GetReleaseResponse(
        release=release(status.release, namespace),
        tally=pb.ReleaseTally(
            targeted=progress.targeted,
            applied=progress.applied,
            rejected=progress.rejected,
            pending=progress.pending,
        ),
        clients=[client_outcome(c) for c in progress.clients],
        revision=status.revision,
    )


def connected_client(view: ClientView) -> pb.ConnectedClient:
    record = view.record
    return pb.ConnectedClient(
        client_id=record.client_id,
        labels=dict(record.labels),
        replica=record.replica,
        connected_at=timestamp(record.connected_at),
        seen_at=timestamp(record.seen_at),
        connected=record.connected,
        namespaces=list(record.names),
        prefixes=list(record.prefixes),
        applied=[
            pb.ClientNamespace(
                namespace=ack.namespace,
                applied_revision=ack.applied_revision,
                rejected_revision=ack.rejected_revision,
                reason=ack.reason,
                behind=behind,
            )
            for ack, behind in sorted(view.acks, key=lambda pair: pair[0].namespace)
        ],
    )
