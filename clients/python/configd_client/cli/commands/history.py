"""`configctl history`: who changed what, when and why, newest first."""

from __future__ import annotations

from typing import Any

import click

from configd_client.cli import diffs, output
from configd_client.cli.context import execute, output_option, settings
from configd_client.cli.session import Session
from configd_client.wire import config_pb2


def kind_name(kind: int) -> str:
    """`WRITE_KIND_SET_SCHEMA` -> `set-schema`."""
    try:
        name = config_pb2.WriteKind.Name(kind)
    except ValueError:
        return str(kind)
    return str(name).removeprefix("WRITE_KIND_").lower().replace("_", "-")


def change_set(entry: Any) -> dict[str, Any]:
    """A ChangeSet (history entry or watch event) as plain data."""
    data: dict[str, Any] = {
        "revision": entry.revision,
        "namespace": entry.namespace,
        "kind": kind_name(entry.kind),
        "time": output.timestamp(entry.time),
        "author": entry.author,
        "message": entry.message,
        "keys": [change.key for change in entry.changes],
        "changes": [d.as_data() for d in diffs.from_changes(entry.changes)],
        "schema_version": entry.schema_version,
    }
    if entry.HasField("schema_json"):
        data["schema"] = output.value(entry.schema_json) if entry.schema_json else None
    return data


def keys_cell(entry: Any, limit: int = 60) -> str:
    text = ", ".join(change.key for change in entry.changes)
    return text if len(text) <= limit else text[: limit - 1] + "…"


@click.command()
@click.argument("namespace")
@click.argument("key", required=False)
@click.option(
    "-n",
    "--limit",
    type=click.IntRange(min=1),
    default=20,
    show_default=True,
    help="Entries per page.",
)
@click.option("--page-token", default="", help="Continue after a previous page.")
@click.option("--all", "all_pages", is_flag=True, help="Every entry, all pages.")
@click.option("--diff", "show_diff", is_flag=True, help="Show each entry's per-key changes.")
@output_option
def history(
    namespace: str,
    key: str | None,
    limit: int,
    page_token: str,
    all_pages: bool,
    show_diff: bool,
    output_format: str | None,
) -> None:
    """Writes to NAMESPACE (or only those that changed KEY), newest first, a page at a time.

    \b
    Examples:
      configctl history payments/prod
      configctl history payments/prod timeout_ms --diff
      configctl history payments/prod --page-token TOKEN
    """
    current = settings(output_format)

    async def work(session: Session) -> tuple[list[Any], str, int]:
        entries: list[Any] = []
        token = page_token
        while True:
            page = await session.call(
                session.config.History,
                config_pb2.HistoryRequest(
                    namespace=namespace, key=key or "", page_size=limit, page_token=token
                ),
            )
            entries.extend(page.entries)
            token = page.next_page_token
            if not all_pages or not token:
                return entries, token, page.compact_revision

    entries, next_token, compact_revision = execute(current, work)
    data = {
        "namespace": namespace,
        "key": key,
        "entries": [change_set(entry) for entry in entries],
        "next_page_token": next_token,
        "compact_revision": compact_revision,
    }

    def human() -> str:
        lines: list[str] = []
        if show_diff:
            for entry in entries:
                lines.append(
                    f"revision {entry.revision}  {output.timestamp(entry.time)}  "
                    f"{kind_name(entry.kind)}  by {entry.author or '-'}"
                    + (f"  {entry.message!r}" if entry.message else "")
                )
                rendered = diffs.render(diffs.from_changes(entry.changes))
                lines.extend(f"  {line}" for line in rendered)
        elif entries:
            lines.append(
                output.table(
                    ["REVISION", "TIME", "AUTHOR", "KIND", "MESSAGE", "KEYS"],
                    [
                        [
                            e.revision,
                            output.timestamp(e.time),
                            e.author or "-",
                            kind_name(e.kind),
                            e.message,
                            keys_cell(e),
                        ]
                        for e in entries
                    ],
                )
            )
        if not entries:
            output.note(f"no history for {namespace}{' key ' + key if key else ''}")
        if next_token:
            output.note(
                f"more entries: configctl history {namespace}"
                f"{' ' + key if key else ''} --page-token {next_token} (or --all)"
            )
        elif compact_revision:
            output.note(f"history before revision {compact_revision} has been compacted")
        return "\n".join(lines)

    output.emit(current.output, data, human)


COMMANDS = (history,)
