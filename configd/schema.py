"""JSON Schema (draft 2020-12) for namespace documents: check on upload, compile once, explain.

Wraps jsonschema rather than extending it. The server never fetches a remote `$ref`: such a
schema is refused on upload, and the compiled validator's registry refuses retrieval anyway.
`format` is asserted (draft 2020-12 only annotates it by default; an operator writing
"format": "uri" expects it checked).
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import referencing
import referencing.exceptions
import referencing.jsonschema
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError, best_match

from configd import jsontext
from configd.errors import FieldViolation, InvalidSchema, SchemaViolation
from configd.model import JSONValue

DEFAULT_SCHEMA_JSON = '{"type":"object"}'
MAX_VIOLATIONS = 100
_BASE_URI = "urn:configd:schema"


def _refuse_retrieval(uri: str) -> referencing.Resource[Any]:
    raise referencing.exceptions.NoSuchResource(ref=uri)  # type: ignore[call-arg]


_NO_REMOTE = referencing.Registry(retrieve=_refuse_retrieval)  # type: ignore[call-arg]


def pointer(path: Any) -> str:
    """An RFC 6901 JSON pointer for a jsonschema path (a deque of keys and indexes)."""
    return "".join("/" + str(part).replace("~", "~0").replace("/", "~1") for part in path)


@dataclass(frozen=True, slots=True)
class CompiledSchema:
    """A checked schema with its validator, shared by every namespace with the same text."""

    schema_json: str
    validator: Draft202012Validator

    def violations(self, document: JSONValue) -> tuple[FieldViolation, ...]:
        """Every violation (up to MAX_VIOLATIONS), sorted by path; empty if valid."""
        found: list[FieldViolation] = []
        try:
            for error in self.validator.iter_errors(document):
                found.extend(_explain(error))
                if len(found) >= MAX_VIOLATIONS:
                    break
        except referencing.exceptions.Unresolvable as exc:
            raise InvalidSchema(
                f"the namespace schema has a $ref that does not resolve ({exc}); fix the schema"
            ) from None
        return tuple(sorted(found[:MAX_VIOLATIONS], key=lambda v: (v.path, v.keyword)))

    def validate(self, document: JSONValue, *, what: str) -> None:
        """Raise SchemaViolation listing every violation if `document` is invalid."""
        violations = self.violations(document)
        if violations:
            first = violations[0]
            more = f" (and {len(violations) - 1} more)" if len(violations) > 1 else ""
            raise SchemaViolation(
                f"{what} does not satisfy the namespace schema: "
                f"{first.path or '/'}: {first.message}{more}; nothing was stored",
                violations=violations,
            )


def _explain(error: ValidationError) -> Iterator[FieldViolation]:
    """Violations a person can act on: pointing at the missing or unexpected key itself."""
    if error.context:
        # anyOf/oneOf: the branch error that best explains the failure is more useful.
        error = best_match(error.context) or error
    keyword = str(error.validator)
    path = pointer(error.absolute_path)
    instance = error.instance
    if keyword == "required" and isinstance(instance, dict):
        for name in error.validator_value:
            if name not in instance and repr(name) in error.message:
                yield FieldViolation(
                    f"{path}/{pointer([name])[1:]}",
                    keyword,
                    f"{name!r} is required but missing (keyword 'required')",
                )
                return
    if keyword in ("additionalProperties", "unevaluatedProperties") and isinstance(instance, dict):
        schema = error.schema if isinstance(error.schema, dict) else {}
        known = schema.get("properties", {})
        patterns = list(schema.get("patternProperties", {}))
        validator = Draft202012Validator({})
        extras = [
            name
            for name in instance
            if name not in known
            and not any(validator.is_type(name, "string") and _matches(p, name) for p in patterns)
        ]
        if extras:
            for name in extras:
                yield FieldViolation(
                    f"{path}{pointer([name])}",
                    keyword,
                    f"{name!r} is not allowed here: the schema does not define it "
                    f"(keyword {keyword!r}); check the spelling",
                )
            return
    yield FieldViolation(path, keyword, f"{error.message} (keyword {keyword!r})")


def _matches(pattern: str, name: str) -> bool:
    import re

    try:
        return re.search(pattern, name) is not None
    except re.error:
        return False


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
    validator = Draft202012Validator(
        schema, registry=_NO_REMOTE, format_checker=Draft202012Validator.FORMAT_CHECKER
    )
    return CompiledSchema(schema_json, validator)


def compile_schema(schema_json: str) -> CompiledSchema:
    """Check `schema_json` (metaschema, no remote $ref) and compile it; cached by text."""
    return _compile(schema_json)


def canonical(schema_json: str) -> str:
    """The schema text as stored: compact, with its original key order."""
    return jsontext.dumps(jsontext.loads(schema_json, field="schema_json"))


def fingerprint(schema_json: str) -> str:
    return hashlib.sha256(schema_json.encode()).hexdigest()[:16]
