"""`configctl watch`: print each change live until Ctrl-C (which exits 0).

After a lost connection it resumes from the last revision it saw (the watch contract replays
exactly the missed changes), so a server restart does not lose or repeat events.
"""

from __future__ import annotations

import json
from typing import Any

import click

from configd_client import WatchStream
from configd_client.cli import diffs, output
from configd_client.cli.commands.history import change_set, kind_name
from configd_client.cli.context import execute, output_option, settings
from configd_client.cli.exits import ExitCode
from configd_client.cli.session import Session, Settings
from configd_client.errors import ConfigdError, Unavailable
from configd_client.wire import jsontext

MAX_BACKOFF = 5.0


def _emit_event(fmt: str, data: dict[str, Any], human: list[str]) -> None:
    if fmt == "json":
        click.echo(json.dumps(data, ensure_ascii=False))  # one event per line (JSON Lines)
    elif fmt == "yaml":
        click.echo("---\n" + output.to_yaml(data), nl=False)
    else:
        click.echo("\n".join(human))


def _snapshot(fmt: str, snapshot: Any) -> None:
    documents = {
        doc.namespace.name: jsontext.loads(doc.document_json or "{}") for doc in snapshot.namespaces
    }
    data = {
        "type": "snapshot",
        "revision": snapshot.revision,
        "resync": snapshot.resync,
        "namespaces": documents,
    }
    human = [f"snapshot at revision {snapshot.revision}{' (resync)' if snapshot.resync else ''}"]
    for name, document in documents.items():
        human.append(f"  {name}: {json.dumps(document, ensure_ascii=False)}")
    _emit_event(fmt, data, human)


def _change(fmt: str, entry: Any) -> None:
    head = (
        f"revision {entry.revision}  {output.timestamp(entry.time)}  {entry.namespace}  "
        f"{kind_name(entry.kind)}  by {entry.author or '-'}"
        + (f"  {entry.message!r}" if entry.message else "")
    )
    lines = [head, *(f"  {line}" for line in diffs.render(diffs.from_changes(entry.changes)))]
    _emit_event(fmt, {"type": "change", **change_set(entry)}, lines)


async def _follow(current: Settings, stream_from: dict[str, Any], show: bool, what: str) -> None:
    """Print every message of the SDK's WatchStream (its resume and backoff) until cancelled."""
    announced = False

    def retry(error: ConfigdError, received: bool) -> bool:
        if not announced or not isinstance(error, Unavailable):
            return False  # never connected, or refused: report it like any other command
        if received:
            lost = error.detail.splitlines()[0] if error.detail else "connection lost"
            output.note(f"{lost}; resuming from revision {stream.revision + 1}")
        return True

    stream = WatchStream(
        current.connect, **stream_from, backoff_initial=0.2, backoff_max=MAX_BACKOFF, retry=retry
    )
    async with stream:
        async for message in stream:
            event = message.WhichOneof("event")
            if event == "snapshot":
                if show or message.snapshot.resync:
                    if message.snapshot.resync:
                        output.note("resync: changes before this snapshot were compacted")
                    _snapshot(current.output, message.snapshot)
            elif event == "change_set":
                _change(current.output, message.change_set)
            if not announced:
                output.note(f"watching {what} at revision {stream.revision} (Ctrl-C to stop)")
                announced = True


@click.command()
@click.argument("namespaces", nargs=-1)
@click.option(
    "-p",
    "--prefix",
    "prefixes",
    multiple=True,
    metavar="PREFIX",
    help="Watch every namespace whose name starts with PREFIX (repeatable; '' for all).",
)
@click.option(
    "--from-revision",
    type=click.IntRange(min=1),
    metavar="REV",
    help="Replay changes from REV on before following live.",
)
@click.option("--snapshot", is_flag=True, help="Print the watched documents first.")
@output_option
@click.pass_context
def watch(
    ctx: click.Context,
    namespaces: tuple[str, ...],
    prefixes: tuple[str, ...],
    from_revision: int | None,
    snapshot: bool,
    output_format: str | None,
) -> None:
    """Print every change to NAMESPACES (and/or --prefix) as it happens, until Ctrl-C.

    With -o json, one JSON object per line (JSON Lines); with -o yaml, one document each.

    \b
    Examples:
      configctl watch payments/prod
      configctl watch --prefix payments/ -o json | jq .
      configctl watch payments/prod --from-revision 40
    """
    if not namespaces and not prefixes:
        raise click.UsageError("name at least one NAMESPACE or --prefix (--prefix '' for all)")
    current = settings(output_format)
    what = ", ".join([*namespaces, *(f"{p}*" for p in prefixes)])

    stream_from = {
        "namespaces": namespaces,
        "prefixes": prefixes,
        "start_revision": from_revision or 0,
        # Without a start revision the snapshot tells us where we start (and proves we are in).
        "send_snapshot": snapshot or not from_revision,
    }

    async def work(session: Session) -> None:
        await _follow(current, stream_from, snapshot, what)

    try:
        execute(current, work)
    except KeyboardInterrupt:
        ctx.exit(ExitCode.OK)
