"""JSON Schema (draft 2020-12) for namespace documents: check on upload, compile once.

On upload, jsonschema checks the schema against the metaschema (its messages point into the
schema) and every `$ref` is checked to stay inside the schema: the server never fetches. The
compiled validator (configd_client.wire.schema, shared with the SDK so both judge a document the
same way) asserts `format`: an operator writing "format": "uri" expects it checked.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import referencing
import referencing.exceptions
import referencing.jsonschema
from jsonschema import Draft202012Validator

from configd.core import jsontext
from configd.core.errors import FieldViolation, InvalidSchema, SchemaViolation
from configd.core.model import JSONValue
from configd.core.schema_cost import check_cost
from configd_client.wire.schema import DocumentSchema, pointer

DEFAULT_SCHEMA_JSON = '{"type":"object"}'
MAX_VIOLATIONS = 100
_BASE_URI = "urn:configd:schema"


def _refuse_retrieval(uri: str) -> referencing.Resource[Any]:
    raise referencing.exceptions.NoSuchResource(ref=uri)  # type: ignore[call-arg]


_NO_REMOTE = referencing.Registry(retrieve=_refuse_retrieval)  # type: ignore[call-arg]


# Root keywords that judge each key's value on its own, and ones that only look at key names.
_PER_KEY = frozenset({"properties", "patternProperties", "additionalProperties"})
_KEY_SET = frozenset(
    {"required", "dependentRequired", "minProperties", "maxProperties", "propertyNames"}
)
_INERT = frozenset(
    {
        "$schema",
        "$id",
        "$defs",
        "definitions",
        "$comment",
        "title",
        "description",
        "examples",
        "default",
        "deprecated",
        "readOnly",
        "writeOnly",
        "type",
        "$anchor",
    }
)


@dataclass(frozen=True, slots=True)
class _Split:
    """A root schema split into what checks changed values and what checks the key set."""

    per_key: DocumentSchema
    key_set: DocumentSchema | None


def _split(schema: JSONValue) -> _Split | None:
    """Split the schema if the whole-document check equals: every value passes the per-key
    keywords, and the set of keys passes the key-set keywords. None if it does not."""
    if not isinstance(schema, dict) or not set(schema) <= _PER_KEY | _KEY_SET | _INERT:
        return None
    if schema.get("type", "object") not in ("object", ["object"]):
        return None
    if any(ref.startswith(tuple(f"#/{k}" for k in _KEY_SET)) for ref in _refs(schema)):
        return None
    per_key = {k: v for k, v in schema.items() if k not in _KEY_SET}
    key_set = {k: v for k, v in schema.items() if k not in _PER_KEY}
    return _Split(
        DocumentSchema(per_key),
        DocumentSchema(key_set) if set(key_set) & _KEY_SET else None,
    )


@dataclass(frozen=True, slots=True)
class CompiledSchema:
    """A checked schema with its validator, shared by every namespace with the same text."""

    schema_json: str
    document_schema: DocumentSchema
    split: _Split | None

    def violations(self, document: JSONValue) -> tuple[FieldViolation, ...]:
        """Every violation (up to 100), sorted by path; empty if valid."""
        return self.document_schema.violations(document)

    def is_valid_change(self, document: Mapping[str, JSONValue], changed: Iterable[str]) -> bool:
        """Whether `document` is valid, given that before the change of keys `changed` it
        satisfied this schema's per-key rules (true of every stored document: each write
        checks them, and a schema change checks the whole document). Checks only the
        changed values and the key names when the schema allows it, else everything."""
        if self.split is None:
            return self.document_schema.is_valid(_plain(document))
        values = {key: document[key] for key in changed if key in document}
        if not self.split.per_key.is_valid(values):
            return False
        return self.split.key_set is None or self.split.key_set.is_valid(dict.fromkeys(document))

    def validate(
        self,
        document: Mapping[str, JSONValue] | JSONValue,
        *,
        what: str,
        changed: Iterable[str] | None = None,
    ) -> None:
        """Raise SchemaViolation listing every violation if `document` is invalid.

        With `changed`, the precondition of is_valid_change applies. A Mapping that is not a
        dict (Namespace.document_view) is copied into one only if the whole document must be
        checked."""
        if changed is not None and isinstance(document, Mapping):
            if self.is_valid_change(document, changed):
                return
        elif self.document_schema.is_valid(_plain(document)):
            return
        document = _plain(document)
        violations = self.violations(document)
        if not violations:
            return
        first = violations[0]
        more = f" (and {len(violations) - 1} more)" if len(violations) > 1 else ""
        raise SchemaViolation(
            f"{what} does not satisfy the namespace schema: "
            f"{first.path or '/'}: {first.message}{more}; nothing was stored",
            violations=violations,
        )


def _plain(document: Mapping[str, JSONValue] | JSONValue) -> JSONValue:
    """A dict for the validator, which takes JSON types only."""
    if isinstance(document, Mapping) and not isinstance(document, dict):
        return dict(document)
    return document


def _refs(node: JSONValue) -> Iterator[str]:
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            for keyword in ("$ref", "$dynamicRef"):
                ref = item.get(keyword)
                if isinstance(ref, str):
                    yield ref
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def _ids(node: JSONValue) -> set[str]:
    found: set[str] = set()
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            if isinstance(item.get("$id"), str):
                found.add(item["$id"].rstrip("#"))
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return found


def _check_refs(schema: JSONValue) -> None:
    """Refuse references outside the schema, and local ones that resolve to nothing."""
    ids = _ids(schema)
    root_id = schema.get("$id") if isinstance(schema, dict) else None
    base = root_id if isinstance(root_id, str) else _BASE_URI
    resource = referencing.jsonschema.DRAFT202012.create_resource(schema)
    resolver = _NO_REMOTE.with_resource(base, resource).resolver(base_uri=base)
    for ref in _refs(schema):
        if ref.startswith("#"):
            if ids - {base.rstrip("#")}:
                continue  # nested $id changes the base URI; resolution is checked at use
            try:
                resolver.lookup(ref)
            except referencing.exceptions.Unresolvable:
                raise InvalidSchema(
                    f"schema $ref {ref!r} does not point to anything in the schema; "
                    "define the target under $defs",
                    field="schema_json",
                ) from None
        elif ref.split("#", 1)[0].rstrip("/") not in ids:
            raise InvalidSchema(
                f"schema $ref {ref!r} points outside the schema; configd never fetches remote "
                "schemas: copy the referenced schema under $defs and use '#/$defs/...'",
                field="schema_json",
            )


def _schema_errors(schema: JSONValue) -> list[FieldViolation]:
    meta = Draft202012Validator(Draft202012Validator.META_SCHEMA, registry=_NO_REMOTE)
    return [
        FieldViolation(pointer(e.absolute_path), str(e.validator), e.message)
        for e in sorted(meta.iter_errors(schema), key=lambda e: list(map(str, e.absolute_path)))
    ][:MAX_VIOLATIONS]


@functools.lru_cache(maxsize=512)
def _compile(schema_json: str) -> CompiledSchema:
    schema = jsontext.loads(schema_json, field="schema_json")
    if not isinstance(schema, dict | bool):
        raise InvalidSchema(
            'schema_json must be a JSON Schema object (for example {"type": "object"})',
            field="schema_json",
        )
    errors = _schema_errors(schema)
    if errors:
        first = errors[0]
        raise InvalidSchema(
            f"schema_json is not a valid JSON Schema (draft 2020-12): "
            f"{first.path or '/'}: {first.message}",
            violations=errors,
        )
    declared = schema.get("$schema") if isinstance(schema, dict) else None
    if declared is not None and declared.rstrip("#") not in (
        "https://json-schema.org/draft/2020-12/schema",
    ):
        raise InvalidSchema(
            f"schema_json declares $schema {declared!r}; configd uses draft 2020-12: "
            'set "$schema": "https://json-schema.org/draft/2020-12/schema" or leave it out',
            field="schema_json",
        )
    _check_refs(schema)
    check_cost(schema)  # $ref cycles and fan-out bombs (schema_cost)
    try:
        document_schema = DocumentSchema(schema)
        split = _split(schema)
    except ValueError as exc:
        raise InvalidSchema(
            f"schema_json cannot be compiled: {exc}. Patterns use a linear-time regex "
            "engine: lookaround and backreferences are not supported",
            field="schema_json",
        ) from None
    return CompiledSchema(schema_json, document_schema, split)


def compile_schema(schema_json: str) -> CompiledSchema:
    """Check `schema_json` (metaschema, no remote $ref) and compile it; cached by text."""
    return _compile(schema_json)


def canonical(schema_json: str) -> str:
    """The schema text as stored: compact, with its original key order."""
    return jsontext.dumps(jsontext.loads(schema_json, field="schema_json"))


def fingerprint(schema_json: str) -> str:
    return hashlib.sha256(schema_json.encode()).hexdigest()[:16]
