"""Authentication and the role x RPC matrix, against a real configd with auth on."""

from __future__ import annotations

import asyncio
import os
import stat
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import grpc
import grpc.aio
import pytest

from configd.api.auth import ACCESS, DEFAULT_ACCESS, access_for
from configd.testing import ConfigdProcess
from configd_client.wire import admin_pb2, admin_pb2_grpc
from configd_client.wire import config_pb2 as pb
from configd_client.wire import config_pb2_grpc as pb_grpc
from tests.configd.http.grpcweb import grpcweb_helpers as web

NS = "m/x"
DENIED = grpc.StatusCode.PERMISSION_DENIED
UNAUTH = grpc.StatusCode.UNAUTHENTICATED


@pytest.fixture(scope="module")
def auth_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ConfigdProcess]:
    server = ConfigdProcess(tmp_path_factory.mktemp("auth") / "data", auth=True)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def md(secret: str | None) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {secret}"),) if secret else ()


async def code_of(call: Any) -> grpc.StatusCode:
    try:
        await call
    except grpc.aio.AioRpcError as exc:
        return exc.code()
    return grpc.StatusCode.OK


async def stream_code(call: Any) -> grpc.StatusCode:
    """The status of a stream's first message (OK if one arrives)."""
    try:
        await asyncio.wait_for(call.read(), 10)
    except grpc.aio.AioRpcError as exc:
        return exc.code()
    finally:
        call.cancel()
    return grpc.StatusCode.OK


@pytest.fixture(scope="module")
def secrets(auth_server: ConfigdProcess) -> dict[str, str]:
    """Tokens by principal: r/w/a = read/write/admin on "m/", g = admin on everything."""

    async def setup() -> dict[str, str]:
        admin = auth_server.admin_token
        async with grpc.aio.insecure_channel(auth_server.grpc_addr) as channel:
            config = pb_grpc.ConfigServiceStub(channel)
            tokens = admin_pb2_grpc.AdminServiceStub(channel)
            await config.CreateNamespace(pb.CreateNamespaceRequest(name=NS), metadata=md(admin))
            await config.Put(
                pb.PutRequest(namespace=NS, key="k", value_json="1"), metadata=md(admin)
            )
            await config.CreateNamespace(
                pb.CreateNamespaceRequest(name="other/y"), metadata=md(admin)
            )
            found = {"g": admin}
            for name, role in (
                ("r", admin_pb2.ROLE_READ),
                ("w", admin_pb2.ROLE_WRITE),
                ("a", admin_pb2.ROLE_ADMIN),
            ):
                reply = await tokens.CreateToken(
                    admin_pb2.CreateTokenRequest(
                        name=f"tok-{name}", grants=[admin_pb2.Grant(prefix="m/", role=role)]
                    ),
                    metadata=md(admin),
                )
                found[name] = reply.secret
            return found

    return asyncio.run(setup())


@pytest.fixture
async def channel(auth_server: ConfigdProcess) -> AsyncIterator[grpc.aio.Channel]:
    async with grpc.aio.insecure_channel(auth_server.grpc_addr) as ch:
        yield ch


# -- the matrix ---------------------------------------------------------------------------

CONFIG_REQUESTS: dict[str, Callable[[], Any]] = {
    "Get": lambda: pb.GetRequest(namespace=NS, key="k"),
    "GetNamespace": lambda: pb.GetNamespaceRequest(name=NS),
    "ListNamespaces": lambda: pb.ListNamespacesRequest(prefix="m/"),
    "GetSchema": lambda: pb.GetSchemaRequest(name=NS),
    "History": lambda: pb.HistoryRequest(namespace=NS),
    "Watch": lambda: pb.WatchRequest(namespaces=[NS], send_snapshot=True),
    "Put": lambda: pb.PutRequest(namespace=NS, key="k", value_json="2"),
    "Delete": lambda: pb.DeleteRequest(namespace=NS, key="absent"),
    "Txn": lambda: pb.TxnRequest(
        namespace=NS, ops=[pb.TxnOp(put=pb.TxnPut(key="t", value_json="1"))]
    ),
    "Apply": lambda: pb.ApplyRequest(namespace=NS, document_json='{"k": 3}', dry_run=True),
    "Rollback": lambda: pb.RollbackRequest(namespace=NS, to_revision=1),
    "SetSchema": lambda: pb.SetSchemaRequest(name=NS, schema_json='{"type": "object"}'),
    "CreateNamespace": lambda: pb.CreateNamespaceRequest(name=f"m/new-{time.time_ns()}"),
    "DeleteNamespace": lambda: pb.DeleteNamespaceRequest(name="m/absent"),
}
ADMIN_REQUESTS: dict[str, Callable[[], Any]] = {
    "GetStatus": lambda: admin_pb2.GetStatusRequest(),
    "Compact": lambda: admin_pb2.CompactRequest(revision=1),
    "ListTokens": lambda: admin_pb2.ListTokensRequest(),
    "RevokeToken": lambda: admin_pb2.RevokeTokenRequest(name="absent"),
    "CreateToken": lambda: admin_pb2.CreateTokenRequest(
        name=f"made-{time.time_ns()}",
        grants=[admin_pb2.Grant(prefix="m/", role=admin_pb2.ROLE_READ)],
    ),
}
READ = ("Get", "GetNamespace", "ListNamespaces", "GetSchema", "History", "Watch")
WRITE = ("Put", "Delete", "Txn", "Apply", "Rollback")
ADMIN_ON_PREFIX = ("SetSchema", "CreateNamespace", "DeleteNamespace", "CreateToken")
RANK = {"r": 1, "w": 2, "a": 3, "g": 4}


def needed(method: str) -> int:
    if method in READ:
        return 1
    if method in WRITE:
        return 2
    if method in ADMIN_ON_PREFIX:
        return 3
    return 4  # admin on everything


MATRIX = [
    (method, who)
    for method in (*CONFIG_REQUESTS, *ADMIN_REQUESTS)
    for who in ("none", "bad", "r", "w", "a", "g")
]


@pytest.mark.parametrize(("method", "who"), MATRIX)
async def test_role_matrix(
    channel: grpc.aio.Channel, secrets: dict[str, str], method: str, who: str
) -> None:
    secret = {"none": None, "bad": "cfgd_not-a-token"}.get(who, secrets.get(who))
    if method in CONFIG_REQUESTS:
        stub: Any = pb_grpc.ConfigServiceStub(channel)
        request = CONFIG_REQUESTS[method]()
    else:
        stub = admin_pb2_grpc.AdminServiceStub(channel)
        request = ADMIN_REQUESTS[method]()
    call = getattr(stub, method)(request, metadata=md(secret), timeout=10)
    code = await (stream_code(call) if method == "Watch" else code_of(call))
    if who in ("none", "bad"):
        assert code is UNAUTH
    elif RANK[who] >= needed(method):
        assert code not in (DENIED, UNAUTH), f"{who} should be allowed {method}"
    else:
        assert code is DENIED, f"{who} should be denied {method}"


def test_every_rpc_has_an_access_rule() -> None:
    services = (
        pb.DESCRIPTOR.services_by_name["ConfigService"],
        admin_pb2.DESCRIPTOR.services_by_name["AdminService"],
    )
    for service in services:
        for method in service.methods:
            name = f"/{service.full_name}/{method.name}"
            assert name in ACCESS, f"{name} has no access rule"
    assert access_for("/configd.v1.AdminService/NotYetWritten") is DEFAULT_ACCESS


# -- behaviour beyond the matrix ----------------------------------------------------------


async def test_bootstrap_token_file_is_private(auth_server: ConfigdProcess) -> None:
    path = auth_server.data_dir / "admin.token"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert auth_server.admin_token.startswith("cfgd_")
    assert auth_server.admin_token not in auth_server.logs()


async def test_writes_record_the_token_name(
    channel: grpc.aio.Channel, secrets: dict[str, str]
) -> None:
    stub = pb_grpc.ConfigServiceStub(channel)
    await stub.Put(
        pb.PutRequest(namespace=NS, key="authored", value_json='"x"', message="who"),
        metadata=md(secrets["w"]),
    )
    history = await stub.History(
        pb.HistoryRequest(namespace=NS, key="authored"), metadata=md(secrets["r"])
    )
    assert history.entries[0].author == "tok-w"


async def test_listing_shows_only_readable_namespaces(
    channel: grpc.aio.Channel, secrets: dict[str, str]
) -> None:
    stub = pb_grpc.ConfigServiceStub(channel)
    mine = await stub.ListNamespaces(pb.ListNamespacesRequest(), metadata=md(secrets["r"]))
    names = {n.name for n in mine.namespaces}
    assert names
    assert all(name.startswith("m/") for name in names)
    everything = await stub.ListNamespaces(pb.ListNamespacesRequest(), metadata=md(secrets["g"]))
    assert "other/y" in {n.name for n in everything.namespaces}
    code = await code_of(
        stub.ListNamespaces(pb.ListNamespacesRequest(prefix="other/"), metadata=md(secrets["r"]))
    )
    assert code is DENIED


async def test_watch_needs_read_on_every_selection(
    channel: grpc.aio.Channel, secrets: dict[str, str]
) -> None:
    stub = pb_grpc.ConfigServiceStub(channel)
    call = stub.Watch(pb.WatchRequest(prefixes=["m/", "other/"]), metadata=md(secrets["r"]))
    assert await stream_code(call) is DENIED
    call = stub.Watch(pb.WatchRequest(prefixes=[""]), metadata=md(secrets["r"]))
    assert await stream_code(call) is DENIED


async def test_prefix_admin_cannot_grant_beyond_its_prefix(
    channel: grpc.aio.Channel, secrets: dict[str, str]
) -> None:
    stub = admin_pb2_grpc.AdminServiceStub(channel)
    for prefix in ("", "other/", "m"):
        request = admin_pb2.CreateTokenRequest(
            name=f"escalate-{len(prefix)}",
            grants=[admin_pb2.Grant(prefix=prefix, role=admin_pb2.ROLE_READ)],
        )
        assert await code_of(stub.CreateToken(request, metadata=md(secrets["a"]))) is DENIED


async def test_token_names_are_never_reused(
    channel: grpc.aio.Channel, secrets: dict[str, str]
) -> None:
    stub = admin_pb2_grpc.AdminServiceStub(channel)
    admin = md(secrets["g"])
    grant = [admin_pb2.Grant(prefix="m/", role=admin_pb2.ROLE_READ)]
    await stub.CreateToken(admin_pb2.CreateTokenRequest(name="once", grants=grant), metadata=admin)
    await stub.RevokeToken(admin_pb2.RevokeTokenRequest(name="once"), metadata=admin)
    again = stub.CreateToken(
        admin_pb2.CreateTokenRequest(name="once", grants=grant), metadata=admin
    )
    assert await code_of(again) is grpc.StatusCode.ALREADY_EXISTS
    bad_name = stub.CreateToken(
        admin_pb2.CreateTokenRequest(name="Bad Name", grants=grant), metadata=admin
    )
    assert await code_of(bad_name) is grpc.StatusCode.INVALID_ARGUMENT
    listed = await stub.ListTokens(admin_pb2.ListTokensRequest(), metadata=admin)
    once = next(t for t in listed.tokens if t.name == "once")
    assert once.HasField("revoked_at")


async def ended(watch: Any, each: float) -> grpc.aio.AioRpcError:
    """Read a stream until it fails; each read must come within `each` seconds."""
    try:
        while True:
            await asyncio.wait_for(watch.read(), each)
    except grpc.aio.AioRpcError as exc:
        return exc


async def new_token(channel: grpc.aio.Channel, admin: str, name: str, ttl: int = 0) -> str:
    reply = await admin_pb2_grpc.AdminServiceStub(channel).CreateToken(
        admin_pb2.CreateTokenRequest(
            name=name,
            grants=[admin_pb2.Grant(prefix="m/", role=admin_pb2.ROLE_WRITE)],
            ttl_seconds=ttl,
        ),
        metadata=md(admin),
    )
    return str(reply.secret)


async def test_revocation_cuts_calls_and_open_watches(
    channel: grpc.aio.Channel, secrets: dict[str, str]
) -> None:
    secret = await new_token(channel, secrets["g"], "to-revoke")
    stub = pb_grpc.ConfigServiceStub(channel)
    watch = stub.Watch(pb.WatchRequest(namespaces=[NS], send_snapshot=True), metadata=md(secret))
    assert (await asyncio.wait_for(watch.read(), 10)).HasField("snapshot")
    await admin_pb2_grpc.AdminServiceStub(channel).RevokeToken(
        admin_pb2.RevokeTokenRequest(name="to-revoke"), metadata=md(secrets["g"])
    )
    started = time.monotonic()
    cut = await ended(watch, 10)
    assert cut.code() is UNAUTH
    assert "revoked" in (cut.details() or "")
    assert time.monotonic() - started < 2.0  # at once, not at the next progress message
    after = stub.GetNamespace(pb.GetNamespaceRequest(name=NS), metadata=md(secret))
    assert await code_of(after) is UNAUTH


async def test_expiry_cuts_calls_and_open_watches(
    channel: grpc.aio.Channel, secrets: dict[str, str]
) -> None:
    secret = await new_token(channel, secrets["g"], "short-lived", ttl=2)
    stub = pb_grpc.ConfigServiceStub(channel)
    watch = stub.Watch(pb.WatchRequest(namespaces=[NS], send_snapshot=True), metadata=md(secret))
    assert (await asyncio.wait_for(watch.read(), 10)).HasField("snapshot")
    cut = await ended(watch, 6)  # progress comes only every 5 s: the cut must come first
    assert cut.code() is UNAUTH
    assert "expired" in (cut.details() or "")
    after = stub.GetNamespace(pb.GetNamespaceRequest(name=NS), metadata=md(secret))
    assert await code_of(after) is UNAUTH


async def test_grpc_web_gateway_applies_the_same_checks(
    auth_server: ConfigdProcess, secrets: dict[str, str]
) -> None:
    request = pb.GetNamespaceRequest(name=NS)
    async with aiohttp.ClientSession() as session:
        anonymous = await web.call(session, auth_server.http_url, "GetNamespace", request)
        assert anonymous.code == grpc.StatusCode.UNAUTHENTICATED.value[0]
        reader = await web.call(
            session,
            auth_server.http_url,
            "GetNamespace",
            request,
            headers={"authorization": f"Bearer {secrets['r']}"},
        )
        web.expect_ok(reader)
        denied = await web.call(
            session,
            auth_server.http_url,
            "Put",
            pb.PutRequest(namespace=NS, key="k", value_json="5"),
            headers={"authorization": f"Bearer {secrets['r']}"},
        )
        assert denied.code == DENIED.value[0]


async def test_admin_token_from_environment(tmp_path: Path) -> None:
    secret = "s3cret-" + "x" * 40
    server = ConfigdProcess(tmp_path / "data", auth=True)
    os.environ["CONFIGD_ADMIN_TOKEN"] = secret
    try:
        await asyncio.to_thread(server.start)
    finally:
        del os.environ["CONFIGD_ADMIN_TOKEN"]
    try:
        assert not (tmp_path / "data" / "admin.token").exists()
        async with grpc.aio.insecure_channel(server.grpc_addr) as ch:
            stub = pb_grpc.ConfigServiceStub(ch)
            await stub.CreateNamespace(pb.CreateNamespaceRequest(name="e"), metadata=md(secret))
            listed = await stub.ListNamespaces(pb.ListNamespacesRequest(), metadata=md(secret))
            assert [n.name for n in listed.namespaces] == ["e"]
    finally:
        await asyncio.to_thread(server.stop)


async def test_no_auth_logs_a_warning(configd_server: ConfigdProcess) -> None:
    assert "authentication is OFF (--no-auth)" in configd_server.logs()
