"""`configctl export` and `configctl import` (from an export, or from a Consul KV export)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click

from configd_client.cli import archive, consul, diffs, importer, output
from configd_client.cli.context import (
    execute,
    force_option,
    message_option,
    output_option,
    settings,
    yes_option,
)
from configd_client.cli.exits import CliFailure, ExitCode
from configd_client.cli.prompts import confirm
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
    exported = output.counted(len(items), "namespace")
    output.note(f"exported {exported} at revision {revision} to {target}")


def _consul_mapping(source: str, options: consul.Options) -> consul.Mapping:
    return consul.map_entries(consul.load_export(source), options)


def _consul_targets(mapping: consul.Mapping) -> list[importer.Target]:
    return [
        importer.Target(name=name, document=document, merge=True)
        for name, document in sorted(mapping.documents.items())
    ]


def _failure(mapping: consul.Mapping | None, plans: Sequence[importer.NamespacePlan]) -> None:
    """Refuse the import, naming every problem entry and every schema violation at once."""
    origin = None
    if mapping is not None:
        keys = mapping.consul_keys
        origin = lambda name, path: [consul.show_key(k) for k in keys(name, path)]  # noqa: E731
    invalid = importer.invalid_failure(plans, origin)
    problems = mapping.failure() if mapping is not None else None
    if problems is None:
        if invalid is not None:
            raise invalid
        return
    details = list(problems.details)
    if invalid is not None:
        details += [f"and {invalid.message}:", *invalid.details]
    raise CliFailure(problems.message, code=ExitCode.INVALID, details=details)


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
    type=click.Choice(consul.VALUE_MODES),
    default="auto",
    show_default=True,
    help="With --from-consul: auto stores a value as JSON when configd keeps its text (1.10 "
    "and ' 42' stay strings) and other text as strings; string keeps every value a string; "
    "json requires JSON. Every value read as JSON is listed in the report.",
)
@click.option(
    "--values-string",
    "string_prefixes",
    multiple=True,
    metavar="PREFIX",
    help="With --from-consul: keep the values of Consul keys starting with PREFIX as strings "
    "(repeatable; the longest matching --values-* prefix wins).",
)
@click.option(
    "--values-json",
    "json_prefixes",
    multiple=True,
    metavar="PREFIX",
    help="With --from-consul: read the values of Consul keys starting with PREFIX as JSON "
    "(whitespace allowed; refused if not JSON or if a number's text would change).",
)
@click.option(
    "--binary",
    type=click.Choice(consul.BINARY_MODES),
    default="fail",
    show_default=True,
    help="With --from-consul: a value that is not UTF-8 text is refused (fail), skipped "
    '(skip), or stored as {"base64": "<its bytes in base64>"} (base64).',
)
@click.option(
    "--nest",
    is_flag=True,
    help="With --from-consul: nested Consul keys become nested objects (app/prod/db/pool -> "
    "key db = {\"pool\": ...}) instead of flat keys containing '/'.",
)
@click.option(
    "--skip-invalid",
    is_flag=True,
    help="With --from-consul: leave out (and list) entries that cannot be imported "
    "instead of refusing the import.",
)
@click.option("--dry-run", is_flag=True, help="Report what would change; write nothing.")
@click.option("--diff", "show_diff", is_flag=True, help="Show each namespace's per-key diff.")
@message_option
@yes_option
@force_option
@output_option
def import_(
    source: str | None,
    consul_file: str | None,
    rules: tuple[str, ...],
    values: str,
    string_prefixes: tuple[str, ...],
    json_prefixes: tuple[str, ...],
    binary: str,
    nest: bool,
    skip_invalid: bool,
    dry_run: bool,
    show_diff: bool,
    message: str,
    yes: bool,
    force: bool,
    output_format: str | None,
) -> None:
    """Import namespaces from SOURCE (an export file, directory, or -) or from Consul.

    Prints a report first (namespaces to create or update, keys to add, change and remove,
    server validation), then asks for confirmation unless --yes. Each namespace is imported
    atomically: fully, or not at all. An export replaces whole documents and schemas; a Consul
    import adds its keys to existing documents and creates missing namespaces without schema.

    \b
    Consul: `--map PREFIX=NAMESPACE` sends Consul key PREFIX+KEY to KEY of
    NAMESPACE (PREFIX is a folder: a missing trailing '/' is implied); the
    longest matching prefix wins. The report names by Consul key every value
    read as JSON (before -> after) or kept as a string, and every entry
    skipped. Entries configd would refuse (bad key, too large, binary,
    repeated differently) are all listed and nothing is written, unless
    --skip-invalid. The dry run is the import itself, without the writes.

    \b
    Examples:
      configctl import backup/ --dry-run
      configctl import everything.json -m "restore" --yes
      consul kv export app/ > consul.json
      configctl import --from-consul consul.json --nest \\
          --map 'app/prod/=app/prod' --map 'app/staging/=app/staging' --dry-run
    """
    if (source is None) == (consul_file is None):
        raise click.UsageError("give either SOURCE (a configd export) or --from-consul FILE")
    consul_only = {
        "--map": bool(rules),
        "--values": values != "auto",
        "--values-string": bool(string_prefixes),
        "--values-json": bool(json_prefixes),
        "--binary": binary != "fail",
        "--nest": nest,
        "--skip-invalid": skip_invalid,
    }
    given = [flag for flag, used in consul_only.items() if used]
    if given and consul_file is None:
        raise click.UsageError(f"{', '.join(given)} only applies to --from-consul")
    mapping: consul.Mapping | None = None
    notes: list[str] = []
    extra: dict[str, Any] = {}
    if consul_file is not None:
        options = consul.Options(
            rules=[consul.MapRule.parse(rule) for rule in rules],
            values=values,
            value_rules=[consul.ValueRule(p, "string") for p in string_prefixes]
            + [consul.ValueRule(p, "json") for p in json_prefixes],
            binary=binary,
            nest=nest,
            skip_invalid=skip_invalid,
        )
        mapping = _consul_mapping(consul_file, options)
        targets = _consul_targets(mapping)
        notes = mapping.notes()
        extra = {"consul": mapping.as_data()}
    else:
        assert source is not None
        targets = [
            importer.Target(name=item.name, document=item.document, schema=item.schema)
            for item in archive.read(source)
        ]
    current = settings(output_format, force=force, dry_run=dry_run, message=message, yes=yes)
    message = message or "configctl import"

    async def work(session: Session) -> list[importer.NamespacePlan]:
        plans = await importer.plan(session, targets)
        _show_report(current, plans, notes, show_diff)
        _failure(mapping, plans)
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
