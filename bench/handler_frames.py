"""What api/handlers.py's per-call layers cost, in-process, without gRPC around them.

    .venv/bin/python bench/handler_frames.py [--calls 200000] [--rounds 5]

Registers a stub ConfigService servicer through configd.api.handlers.generic_handler as
`configd serve` does (request metrics on a registry of its own, max_request_bytes, --no-auth),
then calls the Get and Put handlers' coroutines directly on uvloop with a stub context: Get
returns at once, Put suspends once (as a real put does, waiting for its commit). Prints the
microseconds per call spent in the handler (servicer work is nil), medians over --rounds.
What it isolates is the layers' own Python (frames, metrics, the announcement, decoding), the
part of a call that api/handlers.py decides; gRPC's own cost per call is not in it.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from typing import Any

import uvloop
from prometheus_client import CollectorRegistry

from configd.api.handlers import generic_handler
from configd.api.metrics import RequestMetrics
from configd_client.wire import config_pb2 as pb

SERVICE = pb.DESCRIPTOR.services_by_name["ConfigService"]


class _Servicer:
    get_reply = pb.GetResponse(value_json="1", revision=1)
    put_reply = pb.WriteResponse(revision=1)

    async def Get(self, request: Any, context: Any) -> Any:
        return self.get_reply

    async def Put(self, request: Any, context: Any) -> Any:
        await asyncio.sleep(0)  # one suspension, as a put's wait for its commit
        return self.put_reply

    def __getattr__(self, name: str) -> Any:
        async def unused(request: Any, context: Any) -> Any:
            raise NotImplementedError(name)

        return unused


class _Context:
    def set_trailing_metadata(self, metadata: Any) -> None:
        pass

    def invocation_metadata(self) -> Any:
        return ()

    def code(self) -> Any:
        return None


class _Details:
    def __init__(self, method: str) -> None:
        self.method = method
        self.invocation_metadata = ()


def handler(method: str) -> Any:
    generic = generic_handler(
        _Servicer(),
        SERVICE,
        RequestMetrics(CollectorRegistry()),
        max_request_bytes=4 << 20,
    )
    found = generic.service(_Details(f"/configd.v1.ConfigService/{method}"))
    return found.unary_unary, found.request_deserializer


async def per_call_us(method: str, calls: int) -> float:
    behavior, deserialize = handler(method)
    request = deserialize(b"")
    context = _Context()
    started = time.perf_counter()
    for _ in range(calls):
        await behavior(request, context)
    return (time.perf_counter() - started) / calls * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    for method in ("Get", "Put"):
        runs = [uvloop.run(per_call_us(method, args.calls)) for _ in range(args.rounds)]
        print(
            f"{method}: {statistics.median(runs):.2f} us per call in the handler "
            f"(rounds {', '.join(f'{r:.2f}' for r in runs)})"
        )


if __name__ == "__main__":
    main()
