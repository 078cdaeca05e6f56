"""configd.v1.ReleaseService: request -> release call -> response. No rules live here."""

from __future__ import annotations

from typing import Any, TypeAlias

import grpc

from configd.api import release_convert as convert
from configd.api.identity import author
from configd.core.errors import InvalidArgument
from configd.core.model import ReleaseState
from configd.store.clients import Ack, ClientRegistry
from configd.store.releases import Releases
from configd.store.service import ConfigService
from configd_client.wire import release_pb2 as pb
from configd_client.wire import release_pb2_grpc as pb_grpc

Context: TypeAlias = grpc.aio.ServicerContext[Any, Any]


class ReleaseServicer(pb_grpc.ReleaseServiceServicer):
    def __init__(
        self, service: ConfigService, releases: Releases, registry: ClientRegistry
    ) -> None:
        self._service = service
        self._releases = releases
        self._registry = registry

    def _response(self, namespace: str, revision: int) -> pb.ReleaseResponse:
        current = self._service.namespaces.get(namespace)
        response = pb.ReleaseResponse(revision=revision)
        if current is not None and current.release is not None:
            response.release.CopyFrom(convert.release(current.release, current))
        return response

    async def StartRelease(
        self, request: pb.StartReleaseRequest, context: Context
    ) -> pb.ReleaseResponse:
        result = await self._service.start_release(
            request.namespace,
            request.document_json,
            selectors=[(s.label, s.value) for s in request.selectors],
            percent=request.percent,
            max_failures=request.max_failures if request.HasField("max_failures") else None,
            bake_seconds=request.bake_seconds,
            author=author(),
            message=request.message,
            request_id=request.request_id,
        )
        release = result.change_set.release
        response = pb.ReleaseResponse(revision=result.revision)
        if release is not None:
            response.release.CopyFrom(convert.release(release, result.namespace))
        return response

    async def _end(self, request: pb.EndReleaseRequest, state: ReleaseState) -> pb.ReleaseResponse:
        result = await self._releases.end(
            request.namespace,
            state,
            release_id=request.release_id,
            author=author(),
            message=request.message,
            request_id=request.request_id,
        )
        response = pb.ReleaseResponse(revision=result.revision)
        if result.change_set.release is not None:
            response.release.CopyFrom(convert.release(result.change_set.release, None))
        return response

    async def PromoteRelease(
        self, request: pb.EndReleaseRequest, context: Context
    ) -> pb.ReleaseResponse:
        return await self._end(request, ReleaseState.PROMOTED)

    async def AbortRelease(
        self, request: pb.EndReleaseRequest, context: Context
    ) -> pb.ReleaseResponse:
        return await self._end(request, ReleaseState.ABORTED)

    async def GetRelease(
        self, request: pb.GetReleaseRequest, context: Context
    ) -> pb.GetReleaseResponse:
        status = await self._releases.status(request.namespace, request.release_id)
        return convert.release_status(status, self._service.namespaces.get(request.namespace))

    async def ListClients(
        self, request: pb.ListClientsRequest, context: Context
    ) -> pb.ListClientsResponse:
        views = await self._releases.clients(request.namespace)
        return pb.ListClientsResponse(clients=[convert.connected_client(v) for v in views])

    async def Ack(self, request: pb.AckRequest, context: Context) -> pb.AckResponse:
        acks = []
        for index, ack in enumerate(request.acks):
            if ack.outcome not in (pb.ACK_OUTCOME_APPLIED, pb.ACK_OUTCOME_REJECTED):
                raise InvalidArgument(
                    f"acks[{index}].outcome must be APPLIED or REJECTED",
                    field=f"acks[{index}].outcome",
                )
            acks.append(
                Ack(ack.namespace, ack.revision, ack.outcome == pb.ACK_OUTCOME_APPLIED, ack.reason)
            )
        self._registry.check_acks(request.client_id, acks, self._service.revision)
        await self._registry.ack(request.client_id, acks)
        return pb.AckResponse()
