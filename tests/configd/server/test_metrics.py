"""/metrics, /readyz and /debug/configz on the HTTP listener (issue 8)."""

from __future__ import annotations

import asyncio
import json
import struct
import time
from pathlib import Path

import aiohttp
import grpc
import grpc.aio
import pytest
from prometheus_client.parser import text_string_to_metric_families

from configd.server.app import ConfigdServer, ServerConfig
from configd.testing import ConfigdProcess
from configd_client.wire import config_pb2 as pb
from configd_client.wire import config_pb2_grpc as pb_grpc

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


async def scrape(http_url: str) -> Samples:
    async with aiohttp.ClientSession() as session, session.get(f"{http_url}/metrics") as reply:
        assert reply.status == 200
        assert reply.headers["Content-Type"].startswith("text/plain")
        text = await reply.text()
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


async def grpc_web_get(http_url: str, namespace: str, key: str) -> None:
    """One Get through the gRPC-Web gateway (forwarded to the same gRPC server)."""
    message = pb.GetRequest(namespace=namespace, key=key).SerializeToString()
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            f"{http_url}/configd.v1.ConfigService/Get",
            data=struct.pack(">BI", 0, len(message)) + message,
            headers={"content-type": "application/grpc-web+proto", "x-grpc-web": "1"},
        ) as reply,
    ):
        assert reply.status == 200
        await reply.read()


async def test_metrics_count_requests_writes_validation_and_watches(
    configd_server: ConfigdProcess,
) -> None:
    schema = {"type": "object", "properties": {"n": {"type": "integer"}}}
    async with grpc.aio.insecure_channel(configd_server.grpc_addr) as channel:
        stub = pb_grpc.ConfigServiceStub(channel)
        await stub.CreateNamespace(
            pb.CreateNamespaceRequest(name="m", schema_json=json.dumps(schema))
        )
        watch = stub.Watch(pb.WatchRequest(namespaces=["m"], send_snapshot=True))
        assert (await watch.read()).HasField("snapshot")
        await stub.Put(pb.PutRequest(namespace="m", key="n", value_json="1"))
        assert (await watch.read()).HasField("change_set")
        await stub.Put(pb.PutRequest(namespace="m", key="n", value_json="2"))
        with pytest.raises(grpc.aio.AioRpcError):
            await stub.Put(pb.PutRequest(namespace="m", key="n", value_json='"x"'))
        with pytest.raises(grpc.aio.AioRpcError):
            await stub.Get(pb.GetRequest(namespace="m", key="absent"))
        await grpc_web_get(configd_server.http_url, "m", "n")
        samples = await scrape(configd_server.http_url)
        watch.cancel()

    requests = "configd_grpc_requests_total"
    put = "ConfigService/Put"
    get = "ConfigService/Get"
    assert value(samples, requests, method=put, code="OK") == 2
    assert value(samples, requests, method=put, code="INVALID_ARGUMENT") == 1
    assert value(samples, requests, method=get, code="NOT_FOUND") == 1
    assert value(samples, requests, method=get, code="OK") == 1  # the gRPC-Web call
    latency = "configd_grpc_request_duration_seconds_count"
    assert value(samples, latency, method=put, code="OK") == 2
    assert value(samples, "configd_validation_failures_total", method=put) == 1
    assert value(samples, "configd_writes_total", kind="put") == 2
    assert value(samples, "configd_writes_total", kind="create_namespace") == 1
    assert value(samples, "configd_commit_batch_size_count") == 3
    assert value(samples, "configd_commit_duration_seconds_count") == 3
    assert value(samples, "configd_commit_duration_seconds_sum") > 0
    assert value(samples, "configd_revision") == 3
    assert value(samples, "configd_compact_revision") == 0
    assert value(samples, "configd_namespaces") == 1
    assert value(samples, "configd_watchers") == 1
    assert value(samples, "configd_watch_delivery_lag_seconds_count") >= 1
    assert value(samples, "configd_watch_lagging_moves_total") == 0
    assert value(samples, "configd_database_size_bytes") > 0
    assert value(samples, "process_resident_memory_bytes") > 0
    # One process (--workers 1): the page of before workers existed, no worker label.
    assert not [labels for _, labels in samples if "worker" in dict(labels)]
    assert not list((configd_server.data_dir / "run").glob("metrics-*"))


async def test_readyz_and_configz(tmp_path: Path) -> None:
    # CLOCK_MONOTONIC is one clock for all processes: the server's uptime fits inside this span.
    before = time.monotonic()
    with ConfigdProcess(tmp_path / "data") as configd_server:
        async with aiohttp.ClientSession() as session:
            async with session.get(f"{configd_server.http_url}/readyz") as reply:
                assert reply.status == 200
                assert await reply.json() == {
                    "status": "ready",
                    "store": "sqlite",
                    "applied_revision": 0,
                    "store_revision": 0,
                    "lag_seconds": 0.0,
                }
            async with session.get(f"{configd_server.http_url}/debug/configz") as reply:
                assert reply.status == 200
                status = await reply.json()
        span = time.monotonic() - before
    assert status["revision"] == 0
    assert status["namespaces"] == 0
    assert status["watchers"] == 0
    assert status["ready"] is True
    assert status["data_dir"] == str(configd_server.data_dir.resolve())
    assert status["store"] == {
        "backend": "sqlite",
        "where": str((configd_server.data_dir / "configd.db").resolve()),
    }
    assert status["sqlite"]["synchronous"] == "full"
    assert status["limits"]["max_value_bytes"] > 0
    assert 0 < status["uptime_seconds"] <= span + 0.001  # rounded to milliseconds
    assert {"version", "pid", "log_level", "grpc_address", "retention"} <= status.keys()
    assert status["event_loop"] == "uvloop"  # configd serve runs on uvloop where it exists


async def test_not_ready_once_a_stop_begins(tmp_path: Path) -> None:
    config = ServerConfig(
        data_dir=tmp_path / "data", listen="127.0.0.1:0", http_listen="127.0.0.1:0", auth=False
    )
    server = ConfigdServer(config)
    await server.start()
    url = f"http://{server.http_address}/readyz"
    async with aiohttp.ClientSession() as session:
        async with session.get(url) as reply:
            assert reply.status == 200
        stopping = asyncio.create_task(server.stop())
        await asyncio.sleep(0)  # one loop turn: stop() clears readiness before its first await
        assert not server.ready
        try:
            async with session.get(url) as reply:
                assert reply.status == 503
        except aiohttp.ClientConnectionError:
            pass  # the listener is already closed: not ready either
        await stopping
