"""`configctl schema get|set`."""

from __future__ import annotations

from typing import Any

import click

from configd_client.cli import documents, output
from configd_client.cli.context import (
    execute,
    force_option,
    if_revision_option,
    message_option,
    output_option,
    settings,
)
from configd_client.cli.session import Session
from configd_client.wire import config_pb2, jsontext


@click.group()
def schema() -> None:
    """Show or change a namespace's JSON Schema (versioned).

    \b
    Examples:
      configctl schema get payments/prod > payments.schema.json
      configctl schema set payments/prod payments.schema.yaml -m "require timeout_ms"
    """


@schema.command("get")
@click.argument("namespace")
@click.option("--version", type=click.IntRange(min=1), help="An older schema version.")
@output_option
def get(namespace: str, version: int | None, output_format: str | None) -> None:
    """Print NAMESPACE's schema (in table mode the bare schema, ready for `schema set`).

    \b
    Example:
      configctl schema get payments/prod --version 2
    """
    current = settings(output_format)

    async def work(session: Session) -> Any:
        return await session.call(
            session.config.GetSchema,
            config_pb2.GetSchemaRequest(name=namespace, version=version or 0),
        )

    reply = execute(current, work)
    parsed = jsontext.loads(reply.schema_json) if reply.schema_json else {}
    data = {
        "namespace": namespace,
        "version": reply.version,
        "revision": reply.revision,
        "schema": parsed,
    }
    output.emit(current.output, data, lambda: output.pretty(parsed))


@schema.command("set")
@click.argument("namespace")
@click.argument("schema_file", metavar="FILE")
@if_revision_option
@message_option
@force_option
@output_option
def set_(
    namespace: str,
    schema_file: str,
    if_revision: int | None,
    message: str,
    force: bool,
    output_format: str | None,
) -> None:
    """Replace NAMESPACE's schema with FILE (.json or .yaml).

    Refused if the current document does not satisfy the new schema.

    \b
    Example:
      configctl schema set payments/prod payments.schema.yaml -m "require timeout_ms"
    """
    schema_json = documents.load_schema(schema_file)
    current = settings(output_format, force=force, message=message)
    preconditions = [config_pb2.Precondition(namespace_revision=if_revision)] if if_revision else []

    async def work(session: Session) -> Any:
        return await session.call(
            session.config.SetSchema,
            config_pb2.SetSchemaRequest(
                name=namespace,
                schema_json=schema_json,
                message=message,
                preconditions=preconditions,
            ),
        )

    reply = execute(current, work)
    output.emit(
        current.output,
        {"namespace": namespace, "version": reply.version, "revision": reply.revision},
        lambda: f"schema of {namespace} is now version {reply.version} (revision {reply.revision})",
    )
