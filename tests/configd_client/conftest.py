"""SDK test helpers: a plain (blocking) writer that commits through the real server's API."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

import grpc
import pytest

from configd_client.wire import config_pb2 as pb
from configd_client.wire import config_pb2_grpc as pb_grpc

if TYPE_CHECKING:
    from configd.testing import ConfigdProcess


class Writer:
    """Commits writes with a synchronous channel; every method returns the write's revision.

    Blocking on purpose: called from an async test it also holds the client's loop, so the
    client observes the writes only afterwards (which makes "missed while away" deterministic).
    """

    def __init__(self, addr: str) -> None:
        self.addr = addr
        self._channel = grpc.insecure_channel(addr)
        self.stub: Any = pb_grpc.ConfigServiceStub(self._channel)

    def close(self) -> None:
        self._channel.close()

    def _call(self, method: str, request: Any) -> Any:
        # wait_for_ready: after a server restart the channel may still be reconnecting.
        return getattr(self.stub, method)(request, timeout=10, wait_for_ready=True)

    def create(self, namespace: str, schema: Mapping[str, Any] | None = None) -> int:
        response = self._call(
            "CreateNamespace",
            pb.CreateNamespaceRequest(
                name=namespace, schema_json=json.dumps(schema) if schema is not None else ""
            ),
        )
        return int(response.revision)

    def put(self, namespace: str, key: str, value: Any) -> int:
        response = self._call(
            "Put", pb.PutRequest(namespace=namespace, key=key, value_json=json.dumps(value))
        )
        return int(response.revision)

    def delete(self, namespace: str, key: str) -> int:
        response = self._call("Delete", pb.DeleteRequest(namespace=namespace, key=key))
        return int(response.revision)

    def txn(self, namespace: str, values: Mapping[str, Any]) -> int:
        ops = [
            pb.TxnOp(put=pb.TxnPut(key=key, value_json=json.dumps(value)))
            for key, value in values.items()
        ]
        response = self._call("Txn", pb.TxnRequest(namespace=namespace, ops=ops))
        return int(response.revision)

    def apply(self, namespace: str, document: Mapping[str, Any]) -> int:
        response = self._call(
            "Apply", pb.ApplyRequest(namespace=namespace, document_json=json.dumps(document))
        )
        return int(response.revision)

    def set_schema(self, namespace: str, schema: Mapping[str, Any]) -> int:
        response = self._call(
            "SetSchema", pb.SetSchemaRequest(name=namespace, schema_json=json.dumps(schema))
        )
        return int(response.revision)

    def delete_namespace(self, namespace: str) -> int:
        response = self._call(
            "DeleteNamespace", pb.DeleteNamespaceRequest(name=namespace, force=True)
        )
        return int(response.revision)


@pytest.fixture
def writer(shared_server: ConfigdProcess) -> Iterator[Writer]:
    w = Writer(shared_server.grpc_addr)
    try:
        yield w
    finally:
        w.close()


@pytest.fixture
def own_writer(configd_server: ConfigdProcess) -> Iterator[Writer]:
    """A writer to the test's own server (for tests that stop or kill it)."""
    w = Writer(configd_server.grpc_addr)
    try:
        yield w
    finally:
        w.close()


@pytest.fixture
def sdk_log(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.INFO, logger="configd_client")
    return caplog
