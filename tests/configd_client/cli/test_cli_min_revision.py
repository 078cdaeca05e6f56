"""configctl and read your writes across replicas: the highest revision a command has seen
travels as min_revision on its reads; `--min-revision` / CONFIGD_MIN_REVISION set it for
scripts (e.g. `configctl put ...` on one replica, then `configctl get` on another)."""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace

import pytest
from cli_helpers import Configctl

from configd.testing import ConfigdProcess
from configd_client._channel import ConnectOptions
from configd_client.cli.session import Session, Settings
from configd_client.wire import config_pb2 as pb
from tests.waits import MIN_REVISION_WAIT

BOUND = MIN_REVISION_WAIT


@pytest.fixture
def server(short_wait_server: ConfigdProcess) -> ConfigdProcess:
    return short_wait_server


@pytest.fixture
def ctl(server: ConfigdProcess) -> Configctl:
    return Configctl(server.grpc_addr)


def settings(server: ConfigdProcess) -> Settings:
    return Settings(connect=ConnectOptions(addr=server.grpc_addr))


async def test_a_session_sends_the_highest_revision_it_has_seen(
    server: ConfigdProcess, ns: str
) -> None:
    async with Session(settings(server)) as session:
        await session.call(session.config.CreateNamespace, pb.CreateNamespaceRequest(name=ns))
        put = await session.call(
            session.config.Put, pb.PutRequest(namespace=ns, key="k", value_json="1")
        )
        assert session.seen_revision == put.revision
        request = pb.GetRequest(namespace=ns, key="k")
        await session.call(session.config.Get, request)
        assert request.min_revision == put.revision  # what went on the wire
        listing = pb.ListNamespacesRequest()
        await session.call(session.config.ListNamespaces, listing)
        assert listing.min_revision == put.revision


async def test_a_session_ahead_of_the_server_reads_only_after_the_write_lands(
    server: ConfigdProcess, ns: str
) -> None:
    """Observable through the server: the read is answered at the revision it asked for."""
    async with Session(settings(server)) as writer:
        created = await writer.call(
            writer.config.CreateNamespace, pb.CreateNamespaceRequest(name=ns)
        )
        ahead = created.revision + 1
        async with Session(replace(settings(server), min_revision=ahead)) as session:
            read = asyncio.ensure_future(session.get_namespace(ns))
            done, _ = await asyncio.wait({read}, timeout=BOUND / 10)
            assert not done
            await writer.call(
                writer.config.Put, pb.PutRequest(namespace=ns, key="k", value_json="7")
            )
            reply = await read
        assert (reply.revision, reply.document_json) == (ahead, '{"k":7}')


def test_min_revision_flag_and_env(ctl: Configctl, ns: str) -> None:
    ctl.ok("ns", "create", ns)
    put = ctl.ok("-o", "json", "put", ns, "k", "1")
    at = int(json.loads(put.stdout)["revision"])
    got = json.loads(ctl.ok("get", ns, "k", "--min-revision", str(at), "-o", "json").stdout)
    assert got["value"] == 1
    assert ctl.ok("ns", "list", ns, "--min-revision", str(at)).code == 0
    far = at + 1_000_000
    run = ctl("get", ns, "k", "--min-revision", str(far))
    assert run.code == 3  # unavailable: retry
    assert run.errors[-1].startswith(
        f"Error: this server has applied revision {at}, not yet revision {far} "
        "(--min-revision, or the highest revision this command saw); it did not arrive within "
        f"{BOUND:g} s: retry"
    ), run
    # The global option (and so CONFIGD_MIN_REVISION) does the same for every read.
    env_run = ctl.script("get", ns, "k")
    assert env_run.code == 0
    negative = ctl("get", ns, "k", "--min-revision", "-1")
    assert negative.code == 2
    assert "--min-revision" in negative.stderr
