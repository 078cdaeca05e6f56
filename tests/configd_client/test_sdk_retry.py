"""The SDK's one retry rule for reads (configd_client/_retry.py): which failures are sent
again, how often, within which time, and that writes and a caller's cancellation never are.

The failures are the real grpc.aio error objects with the statuses a server sends (built with
the SDK's own status encoder); the rolling-replacement test under real workers is
tests/configd/server/test_workers_rolling.py.
"""

from __future__ import annotations

import asyncio
import time

import grpc
import grpc.aio
import pytest

from configd_client._backoff import Backoff
from configd_client._retry import (
    ATTEMPTS,
    WRITE_ATTEMPTS,
    is_read,
    is_write,
    may_retry,
    retry_call,
    retry_read,
)
from configd_client.errors import (
    ConfigdError,
    PreconditionFailed,
    RevisionNotApplied,
    StorageFailure,
    StoreRegressed,
    Unavailable,
)
from configd_client.wire import config_pb2 as pb
from configd_client.wire.status import to_grpc_status


def failure(code: grpc.StatusCode, details: str = "") -> grpc.aio.AioRpcError:
    return grpc.aio.AioRpcError(code, grpc.aio.Metadata(), grpc.aio.Metadata(), details)


def server_error(error: ConfigdError) -> grpc.aio.AioRpcError:
    """The error as a configd server sends it (rich status in the trailers)."""
    status = to_grpc_status(error)
    return grpc.aio.AioRpcError(
        status.code,
        grpc.aio.Metadata(),
        grpc.aio.Metadata(*status.trailing_metadata),
        status.details,
    )


@pytest.mark.parametrize(
    ("exc", "retried"),
    [
        (failure(grpc.StatusCode.UNAVAILABLE, "failed to connect to all addresses"), True),
        (server_error(Unavailable("the server is shutting down")), True),
        (failure(grpc.StatusCode.CANCELLED, "CANCELLED"), True),
        (server_error(RevisionNotApplied("at 3, asked 9", applied=3, wanted=9)), False),
        (server_error(StorageFailure("disk full")), False),
        (server_error(StoreRegressed("the store went back", store_revision=2, applied=3)), False),
        (server_error(PreconditionFailed("k changed")), False),
        (failure(grpc.StatusCode.DEADLINE_EXCEEDED, "Deadline Exceeded"), False),
        (failure(grpc.StatusCode.INTERNAL), False),
    ],
    ids=[
        "unavailable-transport",
        "unavailable-stopping",
        "cancelled-by-server",
        "revision-not-applied",
        "storage-failure",
        "store-regressed",
        "precondition",
        "deadline",
        "internal",
    ],
)
def test_which_failures_a_read_retries(exc: grpc.aio.AioRpcError, retried: bool) -> None:
    assert may_retry(exc) is retried


def test_only_reads_are_retried_as_reads() -> None:
    reads = [pb.GetRequest(), pb.GetNamespaceRequest(), pb.ListNamespacesRequest()]
    reads += [pb.GetSchemaRequest(), pb.HistoryRequest()]
    writes = [pb.PutRequest(), pb.DeleteRequest(), pb.TxnRequest(), pb.ApplyRequest()]
    writes += [pb.RollbackRequest(), pb.CreateNamespaceRequest(), pb.SetSchemaRequest()]
    assert [is_read(r) for r in reads] == [True] * len(reads)
    assert [is_read(w) for w in writes] == [False] * len(writes)


async def test_a_read_is_sent_again_after_a_drain_then_answers() -> None:
    attempts: list[float | None] = []

    async def attempt(remaining: float | None) -> str:
        attempts.append(remaining)
        if len(attempts) == 1:
            raise failure(grpc.StatusCode.CANCELLED)  # reached a worker as it began to stop
        if len(attempts) == 2:
            raise failure(grpc.StatusCode.UNAVAILABLE)  # its connection went away
        return "answer"

    assert await retry_read(attempt, 10.0, backoff=Backoff(0.001, 0.002)) == "answer"
    assert len(attempts) == 3
    # Each attempt gets what is left of the one deadline, not a fresh one.
    assert attempts[0] is not None
    assert attempts[2] is not None
    assert attempts[0] > attempts[2]


async def test_retries_stop_after_the_attempts_with_the_last_failure() -> None:
    calls = 0

    async def attempt(remaining: float | None) -> str:
        nonlocal calls
        calls += 1
        raise failure(grpc.StatusCode.UNAVAILABLE, f"down {calls}")

    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await retry_read(attempt, None, backoff=Backoff(0.001, 0.002))
    assert calls == ATTEMPTS
    assert raised.value.details() == f"down {ATTEMPTS}"


async def test_retries_stop_when_the_deadline_would_pass() -> None:
    calls = 0

    async def attempt(remaining: float | None) -> str:
        nonlocal calls
        calls += 1
        raise failure(grpc.StatusCode.UNAVAILABLE)

    started = time.monotonic()
    with pytest.raises(grpc.aio.AioRpcError):
        await retry_read(attempt, 0.05, backoff=Backoff(1.0, 1.0))
    assert calls == 1  # a 0.5-1 s backoff does not fit in 0.05 s: no second attempt
    assert time.monotonic() - started < 0.5


async def test_a_callers_cancellation_is_not_retried() -> None:
    calls = 0
    entered = asyncio.Event()

    async def attempt(remaining: float | None) -> str:
        nonlocal calls
        calls += 1
        entered.set()
        await asyncio.sleep(30)
        return "late"

    task = asyncio.create_task(retry_read(attempt, 10.0))
    await entered.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert calls == 1


async def test_a_write_gets_one_request_id_and_every_attempt_sends_it() -> None:
    put = pb.PutRequest(namespace="ns", key="k", value_json="1")
    sent: list[str] = []

    async def attempt(remaining: float | None) -> str:
        sent.append(put.request_id)
        if len(sent) < 3:
            raise server_error(Unavailable("the outcome of the write is unknown"))
        return "answer"

    assert is_write(put)
    assert await retry_call(put, attempt, 10.0, backoff=Backoff(0.001, 0.002)) == "answer"
    assert len(sent) == 3
    assert len(set(sent)) == 1
    assert len(sent[0]) == 32  # a uuid4 in hex
    # An id the caller chose is kept.
    chosen = pb.ApplyRequest(namespace="ns", document_json="{}", request_id="mine")
    await retry_call(chosen, lambda remaining: asyncio.sleep(0, "ok"), 1.0)
    assert chosen.request_id == "mine"


async def test_a_write_is_retried_more_often_than_a_read() -> None:
    calls = 0

    async def attempt(remaining: float | None) -> str:
        nonlocal calls
        calls += 1
        raise failure(grpc.StatusCode.UNAVAILABLE)

    with pytest.raises(grpc.aio.AioRpcError):
        await retry_call(
            pb.DeleteRequest(namespace="ns", key="k"), attempt, None, backoff=Backoff(0.001, 0.002)
        )
    assert calls == WRITE_ATTEMPTS > ATTEMPTS
