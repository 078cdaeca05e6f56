"""Helpers for the tests that call a real configd through the raw gRPC stubs."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any

import grpc

from configd_client import errors
from configd_client.wire.status import from_rpc_error


async def failure(call: Awaitable[Any]) -> errors.ConfigdError:
    """The typed error a call fails with (fails the test if it succeeds)."""
    try:
        await call
    except grpc.RpcError as exc:
        return from_rpc_error(exc)
    raise AssertionError("the call succeeded")
