"""A store that went back in time under a running `configd serve` (issue 17): the newest
commits are deleted from its SQLite file, as an asynchronous standby promoted without them
would have lost them. The server notices within its follower's poll (1 s), refuses writes with
a message an operator can act on, is not ready, counts it, ends every watch so that the SDK
resyncs from a fresh snapshot; restarted, it serves the store as it is.
"""

from __future__ import annotations

import asyncio
import time

import grpc
import grpc.aio

from configd.storage.sqlite.files import DB_FILE
from configd.testing import ConfigdProcess
from configd_client import AsyncConfigClient, ClientState
from configd_client.errors import StoreRegressed
from configd_client.wire import config_pb2 as pb
from configd_client.wire import config_pb2_grpc as pb_grpc
from tests.configd.api.calls import failure
from tests.configd.server.http_probes import readyz, regressed_metric
from tests.configd.store.lost_commits import lose_commits_after
from tests.waits import until_async

DEADLINE = 30.0
FAST = {"backoff_initial": 0.05, "backoff_max": 0.2}


async def test_lost_commits_stop_writes_and_watchers_resync_after_a_restart(
    configd_server: ConfigdProcess,
) -> None:
    server = configd_server
    async with grpc.aio.insecure_channel(server.grpc_addr) as channel:
        stub = pb_grpc.ConfigServiceStub(channel)
        await stub.CreateNamespace(pb.CreateNamespaceRequest(name="app"))
        kept = (await stub.Put(pb.PutRequest(namespace="app", key="a", value_json="1"))).revision
        at_kept = await stub.GetNamespace(pb.GetNamespaceRequest(name="app"))
        await stub.Put(pb.PutRequest(namespace="app", key="a", value_json="2"))
        applied = (await stub.Put(pb.PutRequest(namespace="app", key="b", value_json="3"))).revision
        async with AsyncConfigClient("app", addr=server.grpc_addr, **FAST) as client:
            await until_async(lambda: client.revision == applied, "the SDK is current", DEADLINE)
            watch = stub.Watch(pb.WatchRequest(namespaces=["app"], start_revision=applied + 1))
            lose_commits_after(server.data_dir / DB_FILE, kept)
            # Noticed without a write, within the follower's poll.
            started = time.monotonic()
            while (await readyz(server))[0] == 200:
                assert time.monotonic() - started < 5, "the regression was not noticed"
                await asyncio.sleep(0.05)
            status, body = await readyz(server)
            assert status == 503
            message = (
                f"the store is at revision {kept}, below the {applied} this replica applied: "
                "commits were lost (an asynchronous standby promoted, or the database restored "
                "under a running server?); this replica refuses writes and watches until it is "
                "restarted, and then serves the store's state; see docs/architecture.md, \"When "
                'the store goes back in time"'
            )
            assert message.replace('"', '\\"') in body
            assert await regressed_metric(server) == "configd_store_regressed 1.0"
            # A write is refused, with no retry by the SDK: the message says what to do.
            refused = await failure(
                stub.Put(pb.PutRequest(namespace="app", key="c", value_json="1"))
            )
            assert isinstance(refused, StoreRegressed)
            assert refused.code == "UNAVAILABLE"
            assert str(refused) == f"configd: {message}"
            assert (refused.store_revision, refused.applied) == (kept, applied)
            # Watches end with it (an open one; a new one is refused), and a read of a lost
            # revision is refused; the current state from memory is still read.
            ended = await failure(watch.read())
            assert isinstance(ended, StoreRegressed)
            again = stub.Watch(pb.WatchRequest(namespaces=["app"], send_snapshot=True))
            assert isinstance(await failure(again.read()), StoreRegressed)
            lost = await failure(
                stub.GetNamespace(pb.GetNamespaceRequest(name="app", revision=applied))
            )
            assert isinstance(lost, StoreRegressed)
            now = await stub.GetNamespace(pb.GetNamespaceRequest(name="app"))
            assert now.revision == applied
            # The SDK keeps its values meanwhile and says why it is not connected.
            await until_async(
                lambda: isinstance(client.status.last_error, StoreRegressed),
                "the SDK hears the regression",
                DEADLINE,
            )
            assert client.status.state is ClientState.RECONNECTING
            assert client.snapshot().to_dict() == {"a": 2, "b": 3}
            # Recovery: a restart loads the store as it is, and the SDK takes it whole.
            server.restart()
            await until_async(lambda: client.revision == kept, "the SDK resyncs", DEADLINE)
            assert client.snapshot().to_dict() == {"a": 1}
            await until_async(
                lambda: client.status.state is ClientState.CONNECTED, "connected", DEADLINE
            )
        async with grpc.aio.insecure_channel(server.grpc_addr) as fresh:
            after = await pb_grpc.ConfigServiceStub(fresh).GetNamespace(
                pb.GetNamespaceRequest(name="app")
            )
        assert after == at_kept
        assert (await readyz(server))[0] == 200
        assert await regressed_metric(server) == "configd_store_regressed 0.0"
    log = server.log_path.read_text()
    assert log.count("this replica refuses writes and watches") == 1
