"""`configctl compact REVISION`: drop history below a revision now, whatever the retention."""

from __future__ import annotations

import asyncio

import click

from configd_client.cli import output
from configd_client.cli.context import settings
from configd_client.cli.exits import failure_from
from configd_client.cli.session import admin_channel, checked_call
from configd_client.errors import ConfigdError
from configd_client.wire import admin_pb2, admin_pb2_grpc


@click.command()
@click.argument("revision", type=click.IntRange(min=1))
def compact(revision: int) -> None:
    """Drop the history below REVISION (needs an admin token).

    Reads of older revisions then fail, and watches resuming below it get a fresh snapshot.
    The server refuses to compact past what a configd process sharing its store has not
    applied yet (it still needs that history); the refusal names the highest revision you
    can compact at now. Background compaction follows `configd serve --history-keep-*`.

    \b
    Example:
      configctl compact 1200
    """
    current = settings()

    async def call() -> int:
        async with admin_channel(current) as channel:
            stub = admin_pb2_grpc.AdminServiceStub(channel)
            reply = await checked_call(
                current, stub.Compact, admin_pb2.CompactRequest(revision=revision)
            )
            return int(reply.compact_revision)

    try:
        compacted = asyncio.run(call())
    except ConfigdError as error:
        raise failure_from(error, addr=current.connect.addr) from error
    output.note(f"history below revision {compacted} is compacted")


COMMANDS = (compact,)
