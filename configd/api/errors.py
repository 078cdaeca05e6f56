"""The one translation of errors to gRPC statuses, applied to every configd RPC (api.handlers).

Domain errors (ConfigdError) carry their status code and become a rich google.rpc.Status;
anything else is a bug: it is logged once with an incident id and answered as an
InternalError (INTERNAL, the id in the message and in ErrorInfo), which the SDK turns back
into configd_client.errors.InternalError.
"""

from __future__ import annotations

import logging
from typing import Any, NoReturn

import grpc
import grpc.aio

from configd.core.errors import ConfigdError, InternalError
from configd_client.wire.status import to_grpc_status

log = logging.getLogger("configd.api")


def status_for(exc: BaseException) -> grpc.Status | None:
    """The status a failed handler answers with (None for cancellation/abort, already final)."""
    if isinstance(exc, ConfigdError):
        return to_grpc_status(exc)
    return None


async def abort(
    context: grpc.aio.ServicerContext[Any, Any], exc: Exception, method: str
) -> NoReturn:
    """End the call with `exc`'s status (raises grpc.aio.AbortError); `method` names it in the
    log line of an incident."""
    if isinstance(exc, ConfigdError):
        await context.abort_with_status(to_grpc_status(exc))
    error = InternalError.new(
        "the server log has the details; retry, and report the incident id if it persists"
    )
    log.error("internal error in %s (incident %s)", method, error.incident, exc_info=exc)
    await context.abort_with_status(to_grpc_status(error))
