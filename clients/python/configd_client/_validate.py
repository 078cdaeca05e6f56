"""The client's own check of each new document against its namespace's schema.

The server validates every write; the client checks again before it publishes a document, so
a service never swaps to values that break the schema it received (a server bug, an older
server, or the application's own stricter `schemas=` override). It uses the very validator
the server uses (configd_client.wire.schema), so both judge a document the same way. Validators
are compiled once per schema text. A remote `$ref` is never fetched: it fails as a violation.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from configd_client.errors import FieldViolation, InvalidSchema, SchemaViolation
from configd_client.wire import jsontext
from configd_client.wire.schema import DocumentSchema

MAX_VIOLATIONS = 10
_MAX_COMPILED = 64


def compile_schema(schema: Mapping[str, Any] | bool, *, where: str) -> DocumentSchema:
    """A validator for `schema` (draft 2020-12)."""
    try:
        return DocumentSchema(schema)
    except ValueError as exc:
        raise InvalidSchema(f"{where} is not a valid JSON Schema: {exc}") from None


class DocumentChecker:
    """Checks documents against the schema the server sent plus an optional local schema."""

    def __init__(self, local_schemas: Mapping[str, Mapping[str, Any] | str] | None = None) -> None:
        self._local: dict[str, DocumentSchema] = {}
        for name, schema in (local_schemas or {}).items():
            parsed = jsontext.loads(schema) if isinstance(schema, str) else schema
            self._local[name] = compile_schema(parsed, where=f"the local schema for {name!r}")
        self._compiled: dict[str, DocumentSchema] = {}

    def _server_validator(self, schema_json: str) -> DocumentSchema:
        validator = self._compiled.get(schema_json)
        if validator is None:
            if len(self._compiled) >= _MAX_COMPILED:
                self._compiled.clear()
            validator = compile_schema(jsontext.loads(schema_json), where="the namespace schema")
            self._compiled[schema_json] = validator
        return validator

    def check(
        self, namespace: str, revision: int, schema_json: str, document: Mapping[str, Any]
    ) -> SchemaViolation | None:
        """None if `document` satisfies both schemas, else the error to report."""
        found: tuple[FieldViolation, ...] = ()
        source = "its schema"
        if schema_json.strip():
            try:
                found = self._server_validator(schema_json).violations(document)
            except (InvalidSchema, ValueError) as exc:
                found = (FieldViolation("", "$schema", f"the schema cannot be used: {exc}"),)
        local = self._local.get(namespace)
        if not found and local is not None:
            found = local.violations(document)
            source = "the application's local schema"
        if not found:
            return None
        found = found[:MAX_VIOLATIONS]
        summary = "; ".join(f"{v.path or '/'}: {v.message}" for v in found[:3])
        return SchemaViolation(
            f"namespace {namespace!r} at revision {revision} does not satisfy {source} "
            f"({summary}); keeping the last good values",
            violations=found,
        )
