"""configd.v1.AdminService: operations that are not about configuration itself."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from configd import __version__
from configd.service import ConfigService
from configd_client._proto.configd.v1 import admin_pb2 as pb
from configd_client._proto.configd.v1 import admin_pb2_grpc as pb_grpc

if TYPE_CHECKING:
    import grpc.aio

    from configd.watch import WatchHub

    Context = grpc.aio.ServicerContext[Any, Any]
else:
    Context = Any


class AdminServicer(pb_grpc.AdminServiceServicer):  # type: ignore[misc]
    def __init__(
        self, service: ConfigService, hub: WatchHub | None, *, data_dir: str, started: float
    ) -> None:
        self._service = service
        self._hub = hub
        self._data_dir = data_dir
        self._started = started

    async def GetStatus(  # noqa: N802
        self, request: pb.GetStatusRequest, context: Context
    ) -> pb.GetStatusResponse:
        return pb.GetStatusResponse(
            version=__version__,
            uptime_seconds=time.monotonic() - self._started,
            revision=self._service.revision,
            compact_revision=self._service.compact_revision,
            namespace_count=len(self._service.namespaces),
            watcher_count=self._hub.watcher_count if self._hub is not None else 0,
            data_dir=self._data_dir,
        )

    async def Compact(  # noqa: N802
        self, request: pb.CompactRequest, context: Context
    ) -> pb.CompactResponse:
        compacted = await self._service.compact(request.revision)
        return pb.CompactResponse(compact_revision=compacted)
