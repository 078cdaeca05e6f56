"""The SDK against a server with authentication and (mutual) TLS: the options it offers work."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from configd.testing import ConfigdProcess
from configd_client import (
    AlreadyExists,
    AsyncConfigClient,
    ClientState,
    TLSOptions,
    Unauthenticated,
    Unavailable,
)
from configd_client._channel import ConnectOptions, open_channel
from configd_client.wire import config_pb2 as pb
from configd_client.wire import config_pb2_grpc as pb_grpc
from configd_client.wire.status import from_rpc_error
from tests.pki import Pki, make_pki


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory)


@pytest.fixture(scope="module")
def secure_server(tmp_path_factory: pytest.TempPathFactory, pki: Pki) -> Iterator[ConfigdProcess]:
    """Authentication on, and mutual TLS on both listeners."""
    server = ConfigdProcess(
        tmp_path_factory.mktemp("secure") / "data",
        "--tls-cert",
        str(pki.server.cert),
        "--tls-key",
        str(pki.server.key),
        "--tls-client-ca",
        str(pki.ca.path),
        auth=True,
    )
    server.start()
    try:
        yield server
    finally:
        server.stop()


def mutual_tls(pki: Pki) -> TLSOptions:
    return TLSOptions(ca_file=pki.ca.path, cert_file=pki.client.cert, key_file=pki.client.key)


async def publish(server: ConfigdProcess, pki: Pki, namespace: str, value: str) -> int:
    options = ConnectOptions(server.grpc_addr, server.admin_token, mutual_tls(pki))
    async with open_channel(options) as channel:
        stub = pb_grpc.ConfigServiceStub(channel)
        with contextlib.suppress(AlreadyExists):
            try:
                await stub.CreateNamespace(pb.CreateNamespaceRequest(name=namespace))
            except grpc.RpcError as exc:
                raise from_rpc_error(exc) from exc
        reply = await stub.Put(pb.PutRequest(namespace=namespace, key="k", value_json=value))
        return int(reply.revision)


async def test_token_and_mutual_tls_reach_the_server_and_follow_changes(
    secure_server: ConfigdProcess, pki: Pki
) -> None:
    await publish(secure_server, pki, "secure/app", '"one"')
    async with AsyncConfigClient(
        "secure/app",
        addr=secure_server.grpc_addr,
        token=secure_server.admin_token,
        tls=mutual_tls(pki),
    ) as client:
        assert client.get("k") == "one"
        assert client.status.state is ClientState.CONNECTED
        revision = await publish(secure_server, pki, "secure/app", '"two"')
        await client.wait_for_revision(revision, timeout=10)
        assert client.get("k") == "two"


async def test_a_wrong_token_fails_start_clearly(
    secure_server: ConfigdProcess, pki: Pki, tmp_path: Path
) -> None:
    client = AsyncConfigClient(
        "secure/app",
        addr=secure_server.grpc_addr,
        token="cfgd_not-a-real-token",
        tls=mutual_tls(pki),
        cache_path=tmp_path / "cache.json",
        start_timeout=10,
    )
    with pytest.raises(Unauthenticated):
        await asyncio.wait_for(client.__aenter__(), 20)


async def test_without_a_client_certificate_the_handshake_fails(
    secure_server: ConfigdProcess, pki: Pki, tmp_path: Path
) -> None:
    client = AsyncConfigClient(
        "secure/app",
        addr=secure_server.grpc_addr,
        token=secure_server.admin_token,
        tls=TLSOptions(ca_file=pki.ca.path),
        start_timeout=2,
    )
    # The server drops the handshake: the client cannot connect, and says so.
    with pytest.raises(Unavailable, match="could not load namespaces 'secure/app'"):
        await asyncio.wait_for(client.__aenter__(), 20)
