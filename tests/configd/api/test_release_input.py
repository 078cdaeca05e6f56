"""Malformed and hostile input to ReleaseService and to a Watch's ClientInfo: the right status,
a message that names what to fix, and nothing changed."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import grpc
import pytest

from configd.testing import ConfigdProcess
from configd_client.wire import config_pb2, config_pb2_grpc, release_pb2, release_pb2_grpc

NS = "input/app"
INVALID = grpc.StatusCode.INVALID_ARGUMENT


@pytest.fixture(scope="module")
def stubs(shared_server: ConfigdProcess) -> Iterator[tuple[Any, Any]]:
    channel = grpc.insecure_channel(shared_server.grpc_addr)
    config = config_pb2_grpc.ConfigServiceStub(channel)
    config.CreateNamespace(
        config_pb2.CreateNamespaceRequest(
            name=NS,
            schema_json=json.dumps({"type": "object", "properties": {"n": {"type": "integer"}}}),
            document_json='{"n": 1}',
        )
    )
    yield config, release_pb2_grpc.ReleaseServiceStub(channel)
    channel.close()


def refused(call: Any, request: Any) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as caught:
        call(request)
    return caught.value


def revision(config: Any) -> int:
    return int(config.GetNamespace(config_pb2.GetNamespaceRequest(name=NS)).revision)


def start(**fields: Any) -> release_pb2.StartReleaseRequest:
    request = release_pb2.StartReleaseRequest(namespace=NS, document_json='{"n": 2}')
    for name, value in fields.items():
        if name == "selectors":
            request.selectors.extend(release_pb2.LabelSelector(label=k, value=v) for k, v in value)
        else:
            setattr(request, name, value)
    return request


@pytest.mark.parametrize(
    ("request_fields", "code", "words"),
    [
        ({"namespace": "Bad Name"}, INVALID, "namespace"),
        ({"namespace": "input/missing"}, grpc.StatusCode.NOT_FOUND, "does not exist"),
        ({"document_json": "[1]"}, INVALID, "JSON object"),
        ({"document_json": '{"n": "x"}'}, INVALID, "schema"),
        ({"document_json": '{"n": 1}'}, INVALID, "nothing to release"),
        ({"selectors": [("Zone", "eu")]}, INVALID, "label name"),
        ({"selectors": [("zone", "eu"), ("zone", "us")]}, INVALID, "both"),
        ({"selectors": [("zone", "e\x00u")]}, INVALID, "control character"),
        ({"percent": 101}, INVALID, "percent"),
        ({"percent": -5}, INVALID, "percent"),
        ({"max_failures": -1}, INVALID, "max_failures"),
        ({"bake_seconds": float("nan")}, INVALID, "bake_seconds"),
        ({"bake_seconds": 1e12}, INVALID, "bake_seconds"),
        ({"request_id": "x" * 500}, INVALID, "request_id"),
    ],
)
def test_a_bad_release_start_is_refused_and_changes_nothing(
    stubs: tuple[Any, Any], request_fields: dict[str, Any], code: grpc.StatusCode, words: str
) -> None:
    config, releases = stubs
    before = revision(config)
    error = refused(releases.StartRelease, start(**request_fields))
    assert error.code() is code, error
    assert words in (error.details() or ""), error.details()
    assert revision(config) == before


def ack(client_id: str = "c1", **fields: Any) -> release_pb2.AckRequest:
    one = release_pb2.NamespaceAck(
        namespace=NS, revision=1, outcome=release_pb2.ACK_OUTCOME_APPLIED
    )
    for name, value in fields.items():
        setattr(one, name, value)
    return release_pb2.AckRequest(client_id=client_id, acks=[one])


@pytest.mark.parametrize(
    ("bad", "words"),
    [
        (ack(""), "client_id"),
        (ack("has space"), "client_id"),
        (ack("x" * 200), "client_id"),
        (release_pb2.AckRequest(client_id="c1"), "acks is empty"),
        (ack(revision=0), "revision"),
        (ack(namespace="../etc"), "namespace"),
        (ack(outcome=release_pb2.ACK_OUTCOME_PENDING), "outcome"),
        (ack(outcome=release_pb2.ACK_OUTCOME_REJECTED, reason="r" * 5000), "reason"),
    ],
)
def test_a_bad_ack_is_refused(
    stubs: tuple[Any, Any], bad: release_pb2.AckRequest, words: str
) -> None:
    _, releases = stubs
    error = refused(releases.Ack, bad)
    assert error.code() is INVALID, error
    assert words in (error.details() or ""), error.details()


def test_an_ack_past_the_servers_revision_is_retryable_and_records_nothing(
    stubs: tuple[Any, Any],
) -> None:
    # A client that moved from a replica ahead of this one acks what that one sent: not
    # malformed, only early, so UNAVAILABLE (its SDK retries) and nothing is recorded.
    _, releases = stubs
    error = refused(releases.Ack, ack("early-bird", revision=10**12))
    assert error.code() is grpc.StatusCode.UNAVAILABLE, error
    assert "has not applied it yet; retry" in (error.details() or ""), error.details()
    listed = releases.ListClients(release_pb2.ListClientsRequest(namespace=NS))
    assert "early-bird" not in {c.client_id for c in listed.clients}


def test_too_many_acks_in_one_call_are_refused(stubs: tuple[Any, Any]) -> None:
    _, releases = stubs
    many = release_pb2.AckRequest(
        client_id="c1",
        acks=[
            release_pb2.NamespaceAck(
                namespace=NS, revision=1, outcome=release_pb2.ACK_OUTCOME_APPLIED
            )
        ]
        * 1001,
    )
    error = refused(releases.Ack, many)
    assert error.code() is INVALID
    assert "at most 1000" in (error.details() or "").replace(",", "")


def test_a_client_flooding_acks_is_rate_limited(stubs: tuple[Any, Any]) -> None:
    _, releases = stubs

    def flood() -> None:
        for _ in range(300):
            releases.Ack(ack("flooder"))

    with pytest.raises(grpc.RpcError) as caught:
        flood()
    assert caught.value.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "Ack calls per second" in (caught.value.details() or "")


@pytest.mark.parametrize(
    ("client", "words"),
    [
        (config_pb2.ClientInfo(client_id=""), "client_id"),
        (config_pb2.ClientInfo(client_id="ok", labels={"Bad": "x"}), "label name"),
        (config_pb2.ClientInfo(client_id="ok", labels={"k": "v" * 300}), "longer than"),
        (
            config_pb2.ClientInfo(client_id="ok", labels={f"k{i}": "v" for i in range(40)}),
            "at most 32",
        ),
    ],
)
def test_a_watch_with_a_bad_client_info_is_refused(
    stubs: tuple[Any, Any], client: config_pb2.ClientInfo, words: str
) -> None:
    config, _ = stubs
    stream = config.Watch(config_pb2.WatchRequest(namespaces=[NS], client=client))
    with pytest.raises(grpc.RpcError) as caught:
        next(iter(stream))
    assert caught.value.code() is INVALID
    assert words in (caught.value.details() or "")


def test_status_and_ends_of_no_release_say_so(stubs: tuple[Any, Any]) -> None:
    config, releases = stubs
    error = refused(releases.GetRelease, release_pb2.GetReleaseRequest(namespace=NS))
    assert error.code() is grpc.StatusCode.NOT_FOUND
    assert "has not had any release" in (error.details() or "")
    before = revision(config)
    error = refused(releases.AbortRelease, release_pb2.EndReleaseRequest(namespace=NS))
    assert error.code() is grpc.StatusCode.FAILED_PRECONDITION
    error = refused(
        releases.PromoteRelease, release_pb2.EndReleaseRequest(namespace=NS, release_id=-3)
    )
    assert error.code() is INVALID
    assert revision(config) == before
    error = refused(releases.ListClients, release_pb2.ListClientsRequest(namespace="Bad"))
    assert error.code() is INVALID
