"""TLS and mutual TLS on both listeners, with certificates generated inside the test."""

from __future__ import annotations

import asyncio
import signal
import ssl
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import grpc
import grpc.aio
import pytest

from configd.testing import ConfigdProcess
from configd_client._channel import ConnectOptions, TLSOptions, open_channel
from configd_client.wire import config_pb2 as pb
from configd_client.wire import config_pb2_grpc as pb_grpc
from tests.pki import CA, Issued, Pki, make_pki


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory)


def serve(directory: Path, pki: Pki, *, mutual: bool) -> Iterator[ConfigdProcess]:
    args = ["--tls-cert", str(pki.server.cert), "--tls-key", str(pki.server.key)]
    if mutual:
        args += ["--tls-client-ca", str(pki.ca.path)]
    server = ConfigdProcess(directory / "data", *args)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory: pytest.TempPathFactory, pki: Pki) -> Iterator[ConfigdProcess]:
    yield from serve(tmp_path_factory.mktemp("tls"), pki, mutual=False)


@pytest.fixture(scope="module")
def mtls_server(tmp_path_factory: pytest.TempPathFactory, pki: Pki) -> Iterator[ConfigdProcess]:
    yield from serve(tmp_path_factory.mktemp("mtls"), pki, mutual=True)


async def list_namespaces(addr: str, tls: TLSOptions | None) -> grpc.StatusCode:
    async with open_channel(ConnectOptions(addr=addr, tls=tls)) as channel:
        try:
            await pb_grpc.ConfigServiceStub(channel).ListNamespaces(
                pb.ListNamespacesRequest(), timeout=5
            )
        except grpc.aio.AioRpcError as exc:
            return exc.code()
    return grpc.StatusCode.OK


def https_get(url: str, ca: Path, client: Issued | None = None) -> int:
    context = ssl.create_default_context(cafile=str(ca))
    if client is not None:
        context.load_cert_chain(str(client.cert), str(client.key))
    with urllib.request.urlopen(url, context=context, timeout=5) as response:
        return int(response.status)


def https_url(server: ConfigdProcess) -> str:
    return f"https://127.0.0.1:{server.http_port}"


async def test_tls_handshake_and_plaintext_refused(tls_server: ConfigdProcess, pki: Pki) -> None:
    addr = tls_server.grpc_addr
    assert await list_namespaces(addr, TLSOptions(ca_file=pki.ca.path)) is grpc.StatusCode.OK
    assert await list_namespaces(addr, None) is grpc.StatusCode.UNAVAILABLE
    wrong_ca = TLSOptions(ca_file=pki.rogue_client.cert)  # not the server's issuer
    assert await list_namespaces(addr, wrong_ca) is grpc.StatusCode.UNAVAILABLE


async def test_https_listener_and_gateway(tls_server: ConfigdProcess, pki: Pki) -> None:
    url = https_url(tls_server)
    assert await asyncio.to_thread(https_get, url + "/healthz", pki.ca.path) == 200
    with pytest.raises((urllib.error.URLError, ConnectionError)):  # plain HTTP is refused
        await asyncio.to_thread(
            urllib.request.urlopen, f"http://127.0.0.1:{tls_server.http_port}/healthz", timeout=5
        )
    # gRPC-Web reaches the TLS gRPC server through the gateway's private socket.
    body = b"\x00" + len(b"").to_bytes(4, "big")
    request = urllib.request.Request(
        url + "/configd.v1.ConfigService/ListNamespaces",
        data=body,
        headers={"content-type": "application/grpc-web+proto", "x-grpc-web": "1"},
    )
    context = ssl.create_default_context(cafile=str(pki.ca.path))

    def post() -> bytes:
        with urllib.request.urlopen(request, context=context, timeout=5) as response:
            return bytes(response.read())

    data = await asyncio.to_thread(post)
    assert b"grpc-status:0" in data.replace(b" ", b"")


async def test_mtls_requires_a_client_certificate_from_the_ca(
    mtls_server: ConfigdProcess, pki: Pki
) -> None:
    addr = mtls_server.grpc_addr
    good = TLSOptions(ca_file=pki.ca.path, cert_file=pki.client.cert, key_file=pki.client.key)
    assert await list_namespaces(addr, good) is grpc.StatusCode.OK
    assert await list_namespaces(addr, TLSOptions(ca_file=pki.ca.path)) is (
        grpc.StatusCode.UNAVAILABLE
    )
    rogue = TLSOptions(
        ca_file=pki.ca.path, cert_file=pki.rogue_client.cert, key_file=pki.rogue_client.key
    )
    assert await list_namespaces(addr, rogue) is grpc.StatusCode.UNAVAILABLE
    url = https_url(mtls_server) + "/healthz"
    assert await asyncio.to_thread(https_get, url, pki.ca.path, pki.client) == 200
    with pytest.raises((urllib.error.URLError, ssl.SSLError, ConnectionError)):
        await asyncio.to_thread(https_get, url, pki.ca.path)


def test_configctl_over_mtls(mtls_server: ConfigdProcess, pki: Pki) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "configd_client.cli",
            "--addr",
            mtls_server.grpc_addr,
            "--tls-ca",
            str(pki.ca.path),
            "--tls-cert",
            str(pki.client.cert),
            "--tls-key",
            str(pki.client.key),
            "ns",
            "create",
            "over/mtls",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "created namespace over/mtls" in result.stdout


async def test_sighup_reloads_certificates(tmp_path: Path, pki: Pki) -> None:
    cert, key = tmp_path / "server.crt", tmp_path / "server.key"
    cert.write_bytes(pki.server.cert.read_bytes())
    key.write_bytes(pki.server.key.read_bytes())
    server = ConfigdProcess(tmp_path / "data", "--tls-cert", str(cert), "--tls-key", str(key))
    await asyncio.to_thread(server.start)
    try:
        second = CA(tmp_path, "second-ca")
        renewed = second.issue("renewed", server=True)
        old, new = TLSOptions(ca_file=pki.ca.path), TLSOptions(ca_file=second.path)
        assert await list_namespaces(server.grpc_addr, new) is grpc.StatusCode.UNAVAILABLE
        cert.write_bytes(renewed.cert.read_bytes())
        key.write_bytes(renewed.key.read_bytes())
        assert server.process is not None
        server.process.send_signal(signal.SIGHUP)
        for _ in range(100):
            if "TLS certificates reloaded" in server.logs():
                break
            await asyncio.sleep(0.1)
        else:
            raise AssertionError(f"no reload logged after SIGHUP:\n{server.logs()[-2000:]}")
        assert await list_namespaces(server.grpc_addr, new) is grpc.StatusCode.OK
        assert await list_namespaces(server.grpc_addr, old) is grpc.StatusCode.UNAVAILABLE
        url = https_url(server) + "/healthz"
        assert await asyncio.to_thread(https_get, url, second.path) == 200
    finally:
        await asyncio.to_thread(server.stop)


def test_mismatched_key_is_refused_at_start(tmp_path: Path, pki: Pki) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "configd",
            "serve",
            "--no-auth",
            "--data-dir",
            str(tmp_path / "data"),
            "--listen",
            "127.0.0.1:0",
            "--http-listen",
            "127.0.0.1:0",
            "--tls-cert",
            str(pki.server.cert),
            "--tls-key",
            str(pki.client.key),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    assert "cannot use the TLS files" in result.stderr
