"""configd.v1.AdminService: operations that are not about configuration itself."""

from __future__ import annotations

import asyncio
import os
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, TypeAlias

import grpc

from configd import __version__
from configd.api.token_servicer import TokenServicer
from configd.core.errors import Unavailable
from configd.storage.base import StorageAdmin
from configd.store.service import ConfigService
from configd.watch.hub import WatchHub
from configd_client.wire import admin_pb2 as pb
from configd_client.wire import admin_pb2_grpc as pb_grpc

# The servicer's view of a call (types-grpcio); messages are the methods' own.
Context: TypeAlias = grpc.aio.ServicerContext[Any, Any]

BACKUP_CHUNK = 1 << 20


class AdminServicer(pb_grpc.AdminServiceServicer):
    def __init__(
        self,
        service: ConfigService,
        hub: WatchHub,
        *,
        data_dir: str,
        started: float,
        storage: StorageAdmin | None = None,
        tokens: TokenServicer | None = None,
    ) -> None:
        self._tokens = tokens
        self._storage = storage
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

    # Token management lives in api.token_servicer.
    def _token_servicer(self) -> TokenServicer:
        if self._tokens is None:
            raise Unavailable("this server has no token registry")
        return self._tokens

    async def CreateToken(
        self, request: pb.CreateTokenRequest, context: Context
    ) -> pb.CreateTokenResponse:
        return await self._token_servicer().CreateToken(request, context)

    async def ListTokens(
        self, request: pb.ListTokensRequest, context: Context
    ) -> pb.ListTokensResponse:
        return await self._token_servicer().ListTokens(request, context)

    async def RevokeToken(
        self, request: pb.RevokeTokenRequest, context: Context
    ) -> pb.RevokeTokenResponse:
        return await self._token_servicer().RevokeToken(request, context)

    async def Backup(
        self, request: pb.BackupRequest, context: Context
    ) -> AsyncIterator[pb.BackupChunk]:
        if self._storage is None:
            raise Unavailable("this server cannot make backups (its storage offers none)")
        path = _temporary_file()
        try:
            info = await self._storage.backup(path)
            with path.open("rb") as file:
                while data := await asyncio.to_thread(file.read, BACKUP_CHUNK):
                    yield pb.BackupChunk(
                        data=data,
                        revision=info.revision,
                        total_bytes=info.size,
                        sha256=info.sha256,
                    )
        finally:
            path.unlink(missing_ok=True)


def _temporary_file() -> Path:
    """A fresh temporary file for a backup in progress (the caller removes it)."""
    fd, name = tempfile.mkstemp(prefix="configd-backup-")
    os.close(fd)
    return Path(name)
