"""configd.v1.AdminService: operations that are not about configuration itself."""

from __future__ import annotations

import time
from typing import Any, TypeAlias

from configd import __version__
from configd.service import ConfigService
from configd.watch import WatchHub
from configd_client._proto.configd.v1 import admin_pb2 as pb
from configd_client._proto.configd.v1 import admin_pb2_grpc as pb_grpc

# grpc ships no type information: its context is Any to the type checker.
Context: TypeAlias = Any


class AdminServicer(pb_grpc.AdminServiceServicer):  # type: ignore[misc]
    def __init__(
        self, service: ConfigService, hub: WatchHub, *, data_dir: str, started: float
    ) -> None:
        self._service = service
        self._hub = hub
        self._data_dir = data_dir
        self._started = started

    async def GetStatus(
        self, request: pb.GetStatusRequest, context: Context
    ) -> pb.GetStatusResponse:
        return pb.GetStatusResponse(
            version=__version__,
            uptime_seconds=time.monotonic() - self._started,
            revision=self._service.revision,
            compact_revision=self._service.compact_revision,
            namespace_count=len(self._service.namespaces),
            watcher_count=self._hub.watcher_count,
            data_dir=self._data_dir,
        )

    async def Compact(self, request: pb.CompactRequest, context: Context) -> pb.CompactResponse:
        compacted = await self._service.compact(request.revision)
        return pb.CompactResponse(compact_revision=compacted)
