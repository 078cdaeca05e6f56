"""`configctl release start|status|promote|abort` and `configctl clients`: progressive
delivery of a namespace's document to a labelled slice of its clients."""

from __future__ import annotations

import asyncio
import functools
import time
from typing import Any

import click

from configd_client.cli import documents, output
from configd_client.cli.context import execute, message_option, output_option, settings
from configd_client.cli.durations import parse_duration
from configd_client.cli.exits import CliFailure, ExitCode
from configd_client.cli.session import Session
from configd_client.wire import jsontext, release_pb2
from configd_client.wire.labels import label_key_problem, label_value_problem

_STATES = {
    release_pb2.RELEASE_STATE_RUNNING: "running",
    release_pb2.RELEASE_STATE_PROMOTED: "promoted",
    release_pb2.RELEASE_STATE_ABORTED: "aborted",
}
_OUTCOMES = {
    release_pb2.ACK_OUTCOME_APPLIED: "applied",
    release_pb2.ACK_OUTCOME_REJECTED: "rejected",
    release_pb2.ACK_OUTCOME_PENDING: "pending",
}


def _selector(text: str) -> release_pb2.LabelSelector:
    label, sep, value = text.partition("=")
    problem = (
        "use LABEL=VALUE, e.g. zone=eu-west-1"
        if not sep
        else label_key_problem(label, field="--select")
        or label_value_problem(label, value, field="--select")
    )
    if problem:
        raise click.BadParameter(f"{text!r}: {problem}", param_hint="--select")
    return release_pb2.LabelSelector(label=label, value=value)


def _release_data(release: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": release.id,
        "namespace": release.namespace,
        "state": _STATES.get(release.state, "unknown"),
        "selectors": {s.label: s.value for s in release.selectors},
        "percent": release.percent,
        "max_failures": release.max_failures if release.HasField("max_failures") else None,
        "bake_seconds": release.bake_seconds,
        "started_by": release.started_by,
        "message": release.message,
        "started_at": output.timestamp(release.started_at),
        "changes": [
            {
                "key": c.key,
                "old": output.value(c.old_value_json) if c.HasField("old_value_json") else None,
                "new": output.value(c.new_value_json) if c.HasField("new_value_json") else None,
            }
            for c in release.changes
        ],
    }
    if release.end_revision:
        data.update(
            end_revision=release.end_revision,
            ended_by=release.ended_by,
            end_message=release.end_message,
            ended_at=output.timestamp(release.ended_at),
        )
    return data


def _status_data(reply: Any) -> dict[str, Any]:
    release = _release_data(reply.release)
    return {
        "state": release["state"],
        "targeted": reply.tally.targeted,
        "applied": reply.tally.applied,
        "rejected": reply.tally.rejected,
        "pending": reply.tally.pending,
        "release": release,
        "clients": [
            {
                "client_id": c.client_id,
                "labels": dict(c.labels),
                "replica": c.replica,
                "outcome": _OUTCOMES.get(c.outcome, "unknown"),
                "reason": c.reason,
                "revision": c.revision,
                "connected": c.connected,
            }
            for c in reply.clients
        ],
    }


def _bar(applied: int, rejected: int, pending: int, width: int = 30) -> str:
    total = applied + rejected + pending
    if not total:
        return "[" + " " * width + "]"
    a = round(width * applied / total)
    r = round(width * rejected / total)
    return "[" + "#" * a + "x" * r + "." * max(0, width - a - r) + "]"


def _status_text(data: dict[str, Any]) -> str:
    release = data["release"]
    selectors = ", ".join(f"{k}={v}" for k, v in release["selectors"].items()) or "every client"
    lines = [
        f"release {release['id']} of {release['namespace']}: {data['state']}"
        + (
            f" (r{release['end_revision']} by {release['ended_by']})"
            if "ended_by" in release
            else ""
        ),
        f"  slice: {selectors}, {release['percent']}%"
        + (
            f", max failures {release['max_failures']}"
            if release["max_failures"] is not None
            else ""
        )
        + (f", bake {release['bake_seconds']:g}s" if release["bake_seconds"] else ""),
        f"  started by {release['started_by'] or 'anonymous'} at {release['started_at']}"
        + (f": {release['message']}" if release["message"] else ""),
    ]
    if release.get("end_message"):
        lines.append(f"  ended: {release['end_message']}")
    lines.append(
        f"  {_bar(data['applied'], data['rejected'], data['pending'])} "
        f"targeted {data['targeted']}, applied {data['applied']}, rejected {data['rejected']}, "
        f"pending {data['pending']}"
    )
    groups: dict[str, dict[str, list[int]]] = {}
    for client in data["clients"]:
        for label, value in sorted(client["labels"].items()):
            counts = groups.setdefault(label, {}).setdefault(value, [0, 0, 0])
            counts[["applied", "rejected", "pending"].index(client["outcome"])] += 1
    for label, values in sorted(groups.items()):
        for value, (a, r, p) in sorted(values.items()):
            lines.append(f"    {label}={value}: {a} applied, {r} rejected, {p} pending")
    for client in data["clients"]:
        if client["outcome"] == "rejected":
            lines.append(f"  rejected by {client['client_id']}: {client['reason']}")
    return "\n".join(lines)


@click.group()
def release() -> None:
    """Release a new document to a labelled slice of a namespace's clients first.

    The clients that match every --select (and --percent) get the staged document through
    their watch; every client reports whether it applied or rejected it. Promote to make it
    the namespace's document for everyone, or abort to send the slice back. While a release
    runs, direct writes to the namespace are refused (--force on a write aborts it first;
    a --dry-run never does).

    \b
    Examples:
      configctl release start payments/prod -f new.yaml --select zone=eu-west-1 \\
          --percent 10 --max-failures 0 --bake 10m -m "pool size 50"
      configctl release status payments/prod --watch
      configctl release promote payments/prod -m "looks good"
      configctl release abort payments/prod -m "latency up"
    """


@release.command("start")
@click.argument("namespace")
@click.option(
    "-f",
    "--file",
    "source",
    required=True,
    metavar="FILE",
    help="The whole new document: a JSON or YAML object of key: value (- for stdin).",
)
@click.option(
    "--select",
    "selectors",
    multiple=True,
    metavar="LABEL=VALUE",
    help="Only clients with this label value (repeatable: every one must match; none: all).",
)
@click.option(
    "--percent",
    type=click.IntRange(1, 100),
    default=100,
    show_default=True,
    help="Of the matching clients, this stable percent (by client id).",
)
@click.option(
    "--max-failures",
    type=click.IntRange(min=0),
    default=None,
    help="Abort by itself once more clients than this reject it [default: never].",
)
@click.option(
    "--bake",
    metavar="DURATION",
    help="Promote by itself once every targeted client applied it and none rejected it "
    "for DURATION (30s, 10m, 1h) [default: never].",
)
@message_option
@output_option
def start(
    namespace: str,
    source: str,
    selectors: tuple[str, ...],
    percent: int,
    max_failures: int | None,
    bake: str | None,
    message: str,
    output_format: str | None,
) -> None:
    """Stage FILE as NAMESPACE's document for the selected clients.

    \b
    Example:
      configctl release start payments/prod -f new.yaml --select zone=eu-west-1 \\
          --percent 10 --max-failures 0 --bake 10m -m "pool size 50"
    """
    request = release_pb2.StartReleaseRequest(
        namespace=namespace,
        selectors=[_selector(s) for s in selectors],
        percent=percent,
        bake_seconds=parse_duration(bake, flag="--bake", example="30s, 10m, 1h"),
        message=message,
    )
    if max_failures is not None:
        request.max_failures = max_failures
    request.document_json = jsontext.dumps(documents.load_document(source))
    current = settings(output_format)

    async def work(session: Session) -> Any:
        return await session.call(session.releases.StartRelease, request)

    reply = execute(current, work)
    data = {"revision": reply.revision, "release": _release_data(reply.release)}
    output.emit(
        current.output,
        data,
        lambda: (
            f"started release {reply.release.id} of {namespace} at r{reply.revision} "
            f"({len(reply.release.changes)} keys staged)"
        ),
    )


def _end(namespace: str, message: str, output_format: str | None, promote: bool) -> None:
    current = settings(output_format)
    request = release_pb2.EndReleaseRequest(namespace=namespace, message=message)

    async def work(session: Session) -> Any:
        method = session.releases.PromoteRelease if promote else session.releases.AbortRelease
        return await session.call(method, request)

    reply = execute(current, work)
    verb = "promoted" if promote else "aborted"
    output.emit(
        current.output,
        {"revision": reply.revision, "release": _release_data(reply.release)},
        lambda: f"{verb} release {reply.release.id} of {namespace} at r{reply.revision}",
    )


@release.command("promote")
@click.argument("namespace")
@message_option
@output_option
def promote(namespace: str, message: str, output_format: str | None) -> None:
    """Make the staged document NAMESPACE's document, for every client.

    \b
    Example:
      configctl release promote payments/prod -m "looks good"
    """
    _end(namespace, message, output_format, promote=True)


@release.command("abort")
@click.argument("namespace")
@message_option
@output_option
def abort(namespace: str, message: str, output_format: str | None) -> None:
    """Send the slice back to NAMESPACE's document; the staged one is dropped.

    \b
    Example:
      configctl release abort payments/prod -m "latency up in eu-west-1"
    """
    _end(namespace, message, output_format, promote=False)


@release.command("status")
@click.argument("namespace")
@click.option("--release-id", type=click.IntRange(min=0), default=0, help="An older release.")
@click.option("--watch", "follow", is_flag=True, help="Redraw until the release ends.")
@click.option(
    "--interval",
    type=click.FloatRange(min=0.1),
    default=1.0,
    show_default=True,
    help="Seconds between redraws with --watch.",
)
@output_option
def status(
    namespace: str, release_id: int, follow: bool, interval: float, output_format: str | None
) -> None:
    """NAMESPACE's running (or newest) release and every targeted client's outcome.

    With --watch it redraws until the release ends, then exits 0 if promoted and 10 if
    aborted.

    \b
    Examples:
      configctl release status payments/prod --watch
      configctl release status payments/prod -o json
    """
    current = settings(output_format)
    request = release_pb2.GetReleaseRequest(namespace=namespace, release_id=release_id)

    async def work(session: Session) -> dict[str, Any]:
        while True:
            data = _status_data(await session.call(session.releases.GetRelease, request))
            if not follow or data["state"] != "running":
                return data
            output.emit(current.output, data, functools.partial(_redraw, data))
            await asyncio.sleep(interval)

    started = time.monotonic()
    data = execute(current, work)
    output.emit(current.output, data, lambda: _status_text(data))
    if follow and data["state"] == "aborted":
        raise CliFailure(
            f"release {data['release']['id']} was aborted after "
            f"{time.monotonic() - started:.0f}s watching",
            code=ExitCode.RELEASE_ABORTED,
        )


def _redraw(data: dict[str, Any]) -> str:
    return _status_text(data) + "\n"


@click.command()
@click.argument("namespace", required=False, default="")
@output_option
def clients(namespace: str, output_format: str | None) -> None:
    """Clients watching (NAMESPACE, or any), on every replica: labels, replica, applied.

    \b
    Example:
      configctl clients payments/prod -o json
    """
    current = settings(output_format)

    async def work(session: Session) -> Any:
        return await session.call(
            session.releases.ListClients, release_pb2.ListClientsRequest(namespace=namespace)
        )

    reply = execute(current, work)
    data = [
        {
            "client_id": c.client_id,
            "labels": dict(c.labels),
            "replica": c.replica,
            "connected": c.connected,
            "seen_at": output.timestamp(c.seen_at),
            "namespaces": list(c.namespaces),
            "prefixes": list(c.prefixes),
            "applied": [
                {
                    "namespace": a.namespace,
                    "applied_revision": a.applied_revision,
                    "rejected_revision": a.rejected_revision,
                    "reason": a.reason,
                    "behind": a.behind,
                }
                for a in c.applied
            ],
        }
        for c in reply.clients
    ]

    def human() -> str:
        rows = [
            [
                c["client_id"],
                ",".join(f"{k}={v}" for k, v in sorted(c["labels"].items())),
                c["replica"],
                "yes" if c["connected"] else "no",
                "; ".join(
                    f"{a['namespace']}@r{a['applied_revision']}"
                    + (" (behind)" if a["behind"] else "")
                    + (f" rejected r{a['rejected_revision']}" if a["rejected_revision"] else "")
                    for a in c["applied"]
                ),
            ]
            for c in data
        ]
        return output.table(["CLIENT", "LABELS", "REPLICA", "CONNECTED", "APPLIED"], rows)

    output.emit(current.output, data, human)


COMMANDS = (release, clients)
