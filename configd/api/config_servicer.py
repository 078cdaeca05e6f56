"""configd.v1.ConfigService: request -> service call -> response. No rules live here."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Any, TypeAlias

import grpc

from configd.api import convert
from configd.api.identity import author, stream_guard
from configd.core.releases import ClientIdentity
from configd.store.clients import ClientRegistry, check_identity
from configd.store.service import ConfigService
from configd.watch.hub import Selector, WatchHub
from configd_client.wire import config_pb2 as pb
from configd_client.wire import config_pb2_grpc as pb_grpc

# The servicer's view of a call (types-grpcio); messages are the methods' own.
Context: TypeAlias = grpc.aio.ServicerContext[Any, Any]


class ConfigServicer(pb_grpc.ConfigServiceServicer):
    def __init__(
        self, service: ConfigService, hub: WatchHub, registry: ClientRegistry | None = None
    ) -> None:
        self._service = service
        self._hub = hub
        self._registry = registry

    async def CreateNamespace(
        self, request: pb.CreateNamespaceRequest, context: Context
    ) -> pb.CreateNamespaceResponse:
        result = await self._service.create_namespace(
            request.name,
            request.schema_json,
            author=author(),
            message=request.message,
            document_json=request.document_json,
            request_id=request.request_id,
        )
        # A retry of a create whose record is compacted away: the namespace as it is now.
        namespace = result.namespace or self._service.namespaces.get(request.name)
        return pb.CreateNamespaceResponse(
            namespace=convert.namespace_info(namespace) if namespace else pb.NamespaceInfo(),
            revision=result.revision,
        )

    async def GetNamespace(
        self, request: pb.GetNamespaceRequest, context: Context
    ) -> pb.GetNamespaceResponse:
        if not 0 <= request.min_revision <= self._service.revision:
            await self._service.wait_applied(request.min_revision)
        view = await self._service.get_namespace(request.name, request.revision)
        return pb.GetNamespaceResponse(
            namespace=convert.namespace_info(view.namespace),
            document_json=view.namespace.document_json(),
            keys=convert.key_metas(view.namespace),
            revision=view.revision,
            current_revision=view.current_revision,
            compact_revision=view.compact_revision,
        )

    async def ListNamespaces(
        self, request: pb.ListNamespacesRequest, context: Context
    ) -> pb.ListNamespacesResponse:
        if not 0 <= request.min_revision <= self._service.revision:
            await self._service.wait_applied(request.min_revision)
        page = self._service.list_namespaces(
            request.prefix, page_size=request.page_size, after=request.page_token
        )
        return pb.ListNamespacesResponse(
            namespaces=[convert.namespace_info(n) for n in page.namespaces],
            next_page_token=page.next_after,
            revision=page.revision,
        )

    async def DeleteNamespace(
        self, request: pb.DeleteNamespaceRequest, context: Context
    ) -> pb.WriteResponse:
        result = await self._service.delete_namespace(
            request.name,
            force=request.force,
            preconditions=convert.preconditions(request.preconditions),
            author=author(),
            message=request.message,
            request_id=request.request_id,
        )
        return convert.write_response(result)

    async def GetSchema(
        self, request: pb.GetSchemaRequest, context: Context
    ) -> pb.GetSchemaResponse:
        schema = await self._service.get_schema(request.name, request.version)
        return pb.GetSchemaResponse(
            schema_json=schema.schema_json, version=schema.version, revision=schema.revision
        )

    async def SetSchema(
        self, request: pb.SetSchemaRequest, context: Context
    ) -> pb.SetSchemaResponse:
        result = await self._service.set_schema(
            request.name,
            request.schema_json,
            preconditions=convert.preconditions(request.preconditions),
            author=author(),
            message=request.message,
            request_id=request.request_id,
        )
        return pb.SetSchemaResponse(
            version=result.change_set.schema.version, revision=result.revision
        )

    async def Get(self, request: pb.GetRequest, context: Context) -> pb.GetResponse:
        # Read your writes: one comparison when applied (or 0); the wait is the service's.
        if not 0 <= request.min_revision <= self._service.revision:
            await self._service.wait_applied(request.min_revision)
        entry, revision = await self._service.get(request.namespace, request.key, request.revision)
        return pb.GetResponse(
            value_json=entry.value_json,
            meta=pb.KeyMeta(
                key=request.key,
                create_revision=entry.create_revision,
                mod_revision=entry.mod_revision,
                version=entry.version,
            ),
            revision=revision,
        )

    async def Put(self, request: pb.PutRequest, context: Context) -> pb.WriteResponse:
        result = await self._service.put(
            request.namespace,
            request.key,
            request.value_json,
            preconditions=convert.preconditions(request.preconditions),
            author=author(),
            message=request.message,
            request_id=request.request_id,
        )
        return convert.write_response(result)

    async def Delete(self, request: pb.DeleteRequest, context: Context) -> pb.WriteResponse:
        result = await self._service.delete(
            request.namespace,
            request.key,
            preconditions=convert.preconditions(request.preconditions),
            author=author(),
            message=request.message,
            request_id=request.request_id,
        )
        return convert.write_response(result)

    async def Txn(self, request: pb.TxnRequest, context: Context) -> pb.WriteResponse:
        result = await self._service.txn(
            request.namespace,
            convert.txn_ops(request.ops),
            preconditions=convert.preconditions(request.preconditions),
            author=author(),
            message=request.message,
            request_id=request.request_id,
        )
        return convert.write_response(result)

    async def Apply(self, request: pb.ApplyRequest, context: Context) -> pb.ApplyResponse:
        result = await self._service.apply(
            request.namespace,
            request.document_json,
            preconditions=convert.preconditions(request.preconditions),
            author=author(),
            message=request.message,
            dry_run=request.dry_run,
            schema_json=request.schema_json if request.HasField("schema_json") else None,
            request_id=request.request_id,
        )
        return pb.ApplyResponse(
            revision=result.revision,
            changes=convert.key_changes(result.changes),
            valid=result.valid,
            violations=[
                pb.Violation(path=v.path, keyword=v.keyword, message=v.message)
                for v in result.violations
            ],
            namespace_revision=result.namespace_revision,
            schema_changed=result.schema_changed,
        )

    async def History(self, request: pb.HistoryRequest, context: Context) -> pb.HistoryResponse:
        page = await self._service.history(
            request.namespace,
            request.key,
            page_size=request.page_size,
            before=convert.page_token(request.page_token),
        )
        return pb.HistoryResponse(
            entries=[convert.change_set(cs) for cs in page.entries],
            next_page_token=str(page.next_before) if page.next_before else "",
            compact_revision=page.compact_revision,
        )

    async def Rollback(self, request: pb.RollbackRequest, context: Context) -> pb.WriteResponse:
        result = await self._service.rollback(
            request.namespace,
            request.to_revision,
            preconditions=convert.preconditions(request.preconditions),
            author=author(),
            message=request.message,
            request_id=request.request_id,
        )
        return convert.write_response(result, self._service.namespaces.get(request.namespace))

    # Bytes, not messages: api.handlers sends encoded WatchResponses as they are.
    def Watch(  # type: ignore[override]
        self, request: pb.WatchRequest, context: Context
    ) -> AsyncGenerator[bytes, None]:
        """WatchResponse messages already encoded by the hub (see api.handlers). The hub's own
        generator, not one wrapped around it: thousands of streams hold one each."""
        selector = self._hub.selector(request.namespaces, request.prefixes)
        guard = stream_guard.get()  # set by api.auth: revocation ends the stream
        identity = None
        if request.HasField("client") and self._registry is not None:
            identity = check_identity(request.client.client_id, request.client.labels)
        sent: dict[str, tuple[int, float]] | None = {} if identity is not None else None
        stream = self._hub.stream(
            selector,
            request.start_revision,
            request.send_snapshot,
            min_revision=request.min_revision,
            owner=guard.owner if guard is not None else "",
            check=guard.check if guard is not None else None,
            client=identity,
            sent=sent,
        )
        if identity is None or sent is None:
            return stream
        return self._identified(stream, identity, selector, sent)

    async def _identified(
        self,
        stream: AsyncGenerator[bytes, None],
        identity: ClientIdentity,
        selector: Selector,
        sent: dict[str, tuple[int, float]],
    ) -> AsyncGenerator[bytes, None]:
        """A watch whose client said who it is: listed (configctl clients) while it lasts."""
        assert self._registry is not None
        connection = self._registry.connect(identity, selector.names, selector.prefixes, sent)
        try:
            async for data in stream:
                yield data
        finally:
            await stream.aclose()
            self._registry.disconnect(connection)
