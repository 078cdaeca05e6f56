"""`configctl export` and `configctl import` (from an export, or from a Consul KV export)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click

from configd_client.cli import archive, consul, diffs, importer, output
from configd_client.cli.context import (
    confirm,
    execute,
    message_option,
    output_option,
    settings,
    yes_option,
)
from configd_client.cli.session import Session, Settings
from configd_client.wire import config_pb2, jsontext

FORMAT_CHOICE = click.Choice(["json", "yaml"])


@click.command()
@click.argument("prefix", default="")
@click.option(
    "-d",
    "--dir",
    "directory",
    metavar="DIR",
    help="Write one file per namespace into DIR (new or empty).",
)
@click.option(
    "-f",
    "--file",
    "file",
    metavar="FILE",
    help="Write everything into one FILE (default: stdout).",
)
@click.option(
    "--format",
    "file_format",
    type=FORMAT_CHOICE,
    help="json or yaml (default: from the file suffix, else json).",
)
def export(prefix: str, directory: str | None, file: str | None, file_format: str | None) -> None:
    """Export every namespace (or those under PREFIX) with its schema and document.

    All namespaces are read at one revision, so the export is consistent.

    \b
    Examples:
      configctl export -d backup/
      configctl export payments/ -f payments-export.yaml
      configctl export > everything.json
    """
    if directory and file:
        raise click.UsageError("give either --dir or --file, not both")
    current = settings()

    async def work(session: Session) -> tuple[list[archive.NamespaceExport], int]:
        found, revision = await session.list_namespaces(prefix)
        items = []
        for info in found:
            view = await session.get_namespace(info.name, revision)
            schema = await session.call(
                session.config.GetSchema,
                config_pb2.GetSchemaRequest(name=info.name, version=view.namespace.schema_version),
            )
            items.append(
                archive.NamespaceExport(
                    name=info.name,
                    schema=jsontext.loads(schema.schema_json) if schema.schema_json else None,
                    document=jsontext.loads(view.document_json or "{}"),
                )
            )
        return items, revision

    items, revision = execute(current, work)
    if directory:
        fmt = file_format or "json"
        archive.write_directory(Path(directory), items, revision, fmt)
        target = directory
    else:
        path = file or "-"
        if path == "-" and file_format is None and current.output == "yaml":
            file_format = "yaml"
        fmt = archive.file_format(path, file_format)
        archive.write_file(path, items, revision, fmt)
        target = "stdout" if path == "-" else path
    output.note(f"exported {len(items)} namespaces at revision {revision} to {target}")


def _consul_targets(
    source: str, rules: Sequence[str], strings: bool
) -> tuple[list[importer.Target], consul.Mapping]:
    entries = consul.load_export(source)
    mapping = consul.map_entries(
        entries, [consul.MapRule.parse(rule) for rule in rules], strings=strings
    )
    targets = [
        importer.Target(name=name, document=document, merge=True)
        for name, document in sorted(mapping.documents.items())
    ]
    return targets, mapping


def _consul_notes(mapping: consul.Mapping) -> list[str]:
    notes = []
    groups = (
        ("stored as JSON strings (their values are not JSON)", mapping.as_strings),
        ("skipped: no --map rule matches", mapping.unmapped),
        ("skipped: Consul folder entries", mapping.folders),
        ("Consul flags not carried over", mapping.flagged),
    )
    for title, keys in groups:
        if keys:
            notes.append(f"{title} ({len(keys)}):")
            notes.extend(f"  {key}" for key in keys)
    return notes


def _consul_data(mapping: consul.Mapping) -> dict[str, Any]:
    return {
        "as_strings": mapping.as_strings,
        "unmapped": mapping.unmapped,
        "folders": mapping.folders,
        "flagged": mapping.flagged,
    }


def _show_report(
    current: Settings, plans: Sequence[importer.NamespacePlan], notes: list[str], show_diff: bool
) -> None:
    """The dry-run report for people (stderr when stdout carries json or yaml)."""
    to_stderr = current.output != "table"
    lines = [importer.report_table(plans)] if plans else ["nothing to import"]
    if show_diff:
        for item in plans:
            if item.changes:
                lines.append(f"{item.name}: {diffs.summary(item.changes)}")
                lines.extend(f"  {line}" for line in diffs.render(item.changes))
    lines.extend(notes)
    for line in lines:
        click.echo(line, err=to_stderr)


@click.command("import")
@click.argument("source", required=False, metavar="[SOURCE]")
@click.option(
    "--from-consul",
    "consul_file",
    metavar="FILE",
    help="Read a `consul kv export` JSON file instead of a configd export.",
)
@click.option(
    "--map",
    "rules",
    multiple=True,
    metavar="PREFIX=NAMESPACE",
    help="With --from-consul: Consul keys under PREFIX go to NAMESPACE (repeatable).",
)
@click.option(
    "--values",
    type=click.Choice(["auto", "string"]),
    default="auto",
    show_default=True,
    help="With --from-consul: auto parses JSON values and keeps other text as strings; "
    "string keeps every value as a string.",
)
@click.option("--dry-run", is_flag=True, help="Report what would change; write nothing.")
@click.option("--diff", "show_diff", is_flag=True, help="Show each namespace's per-key diff.")
@message_option
@yes_option
@output_option
def import_(
    source: str | None,
    consul_file: str | None,
    rules: tuple[str, ...],
    values: str,
    dry_run: bool,
    show_diff: bool,
    message: str,
    yes: bool,
    output_format: str | None,
) -> None:
    """Import namespaces from SOURCE (an export file, directory, or -) or from Consul.

    Prints a report first (namespaces to create or update, keys to add, change and remove,
    server validation), then asks for confirmation unless --yes. Each namespace is imported
    atomically: fully, or not at all. An export replaces whole documents and schemas; a Consul
    import adds its keys to existing documents and creates missing namespaces without schema.

    \b
    Consul: `--map PREFIX=NAMESPACE` sends Consul key PREFIX+KEY to KEY of NAMESPACE; the
    longest matching prefix wins, unmatched keys are skipped and listed. Values that are
    JSON text become that JSON value; other text is stored as a JSON string.

    \b
    Examples:
      configctl import backup/ --dry-run
      configctl import everything.json -m "restore" --yes
      consul kv export app/ > consul.json
      configctl import --from-consul consul.json \\
          --map 'app/prod/=app/prod' --map 'app/staging/=app/staging' --dry-run
    """
    if (source is None) == (consul_file is None):
        raise click.UsageError("give either SOURCE (a configd export) or --from-consul FILE")
    if rules and consul_file is None:
        raise click.UsageError("--map only applies to --from-consul")
    notes: list[str] = []
    extra: dict[str, Any] = {}
    if consul_file is not None:
        targets, mapping = _consul_targets(consul_file, rules, values == "string")
        notes = _consul_notes(mapping)
        extra = {"consul": _consul_data(mapping)}
    else:
        assert source is not None
        targets = [
            importer.Target(name=item.name, document=item.document, schema=item.schema)
            for item in archive.read(source)
        ]
    current = settings(output_format)
    message = message or "configctl import"

    async def work(session: Session) -> list[importer.NamespacePlan]:
        plans = await importer.plan(session, targets)
        _show_report(current, plans, notes, show_diff)
        failure = importer.invalid_failure(plans)
        if failure is not None:
            raise failure
        pending = [item for item in plans if item.action != "unchanged"]
        if dry_run or not pending:
            output.note("dry run: nothing was written" if dry_run else "nothing to change")
            return plans
        confirm(f"Import {len(pending)} namespace(s)?", yes=yes)
        for item in pending:
            try:
                item.revision = await importer.write(session, item, message)
            except Exception:
                item.status = "failed"
                done = [p.name for p in pending if p.status == "imported"]
                output.note(
                    f"import of {item.name} failed; nothing was written to it. "
                    + (f"Already imported: {', '.join(done)}." if done else "")
                )
                raise
            item.status = "imported"
            if current.output == "table":
                click.echo(f"imported {item.name} at revision {item.revision}")
        return plans

    plans = execute(current, work)
    if current.output != "table":
        data = {"dry_run": dry_run, "namespaces": [p.as_data() for p in plans], **extra}
        output.emit(current.output, data, lambda: None)


COMMANDS = (export, import_)
