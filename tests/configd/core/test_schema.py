import json

import pytest

from configd.core.errors import FieldViolation, InvalidSchema, SchemaViolation
from configd.core.model import DocumentView, Entry
from configd.core.schema import compile_schema

DB_SCHEMA = """{
  "type": "object",
  "properties": {
    "pool_size": {"type": "integer", "minimum": 1, "maximum": 100},
    "url": {"type": "string", "format": "uri"},
    "mode": {"enum": ["primary", "replica"]}
  },
  "required": ["url"],
  "additionalProperties": false
}"""


def test_valid_document_has_no_violations() -> None:
    assert compile_schema(DB_SCHEMA).violations({"url": "postgres://db/x", "pool_size": 5}) == ()


def test_every_violation_points_at_the_offending_key() -> None:
    violations = compile_schema(DB_SCHEMA).violations(
        {"pool_size": 500, "mode": "other", "poolsize": 1}
    )
    assert violations == (
        FieldViolation(
            "/mode", "enum", '"other" is not one of "primary" or "replica" (keyword \'enum\')'
        ),
        FieldViolation(
            "/pool_size", "maximum", "500 is greater than the maximum of 100 (keyword 'maximum')"
        ),
        FieldViolation(
            "/poolsize",
            "additionalProperties",
            "'poolsize' is not allowed here: the schema does not define it "
            "(keyword 'additionalProperties'); check the spelling",
        ),
        FieldViolation("/url", "required", "'url' is required but missing (keyword 'required')"),
    )


def test_format_is_asserted() -> None:
    violations = compile_schema(DB_SCHEMA).violations({"url": "not a uri"})
    assert [v.keyword for v in violations] == ["format"]


def test_nested_paths_are_json_pointers_with_escapes() -> None:
    schema = compile_schema('{"properties": {"a/b": {"properties": {"c~d": {"type": "integer"}}}}}')
    assert schema.violations({"a/b": {"c~d": "x"}})[0].path == "/a~1b/c~0d"


def test_validate_raises_with_a_summary_and_all_violations() -> None:
    with pytest.raises(SchemaViolation) as caught:
        compile_schema(DB_SCHEMA).validate({"pool_size": 0}, what="the document")
    assert str(caught.value) == (
        "configd: the document does not satisfy the namespace schema: /pool_size: 0 is less "
        "than the minimum of 1 (keyword 'minimum') (and 1 more); nothing was stored"
    )
    assert len(caught.value.violations) == 2


@pytest.mark.parametrize(
    ("schema", "message"),
    [
        (
            '{"$ref": "https://example.com/schema.json"}',
            "configd: schema $ref 'https://example.com/schema.json' points outside the schema; "
            "configd never fetches remote schemas: copy the referenced schema under $defs and use "
            "'#/$defs/...'",
        ),
        (
            '{"properties": {"a": {"$ref": "other.json#/x"}}}',
            "configd: schema $ref 'other.json#/x' points outside the schema; configd never fetches "
            "remote schemas: copy the referenced schema under $defs and use '#/$defs/...'",
        ),
        (
            '{"$ref": "#/$defs/missing"}',
            "configd: schema $ref '#/$defs/missing' does not point to anything in the schema; "
            "define the target under $defs",
        ),
        (
            '{"type": "objekt"}',
            "configd: schema_json is not a valid JSON Schema (draft 2020-12): /type: 'objekt' is "
            "not valid under any of the given schemas",
        ),
        (
            '{"minimum": "3"}',
            "configd: schema_json is not a valid JSON Schema (draft 2020-12): /minimum: '3' is not "
            "of type 'number'",
        ),
        (
            "[]",
            'configd: schema_json must be a JSON Schema object (for example {"type": "object"})',
        ),
        (
            '{"$schema": "http://json-schema.org/draft-07/schema#"}',
            "configd: schema_json declares $schema 'http://json-schema.org/draft-07/schema#'; "
            'configd uses draft 2020-12: set "$schema": '
            '"https://json-schema.org/draft/2020-12/schema" or leave it out',
        ),
        (
            "{nope",
            "configd: schema_json is not valid JSON: Expecting property name enclosed "
            "in double quotes at line 1 column 2",
        ),
    ],
)
def test_bad_schemas_are_refused_with_a_clear_message(schema: str, message: str) -> None:
    with pytest.raises(InvalidSchema if "JSON:" not in message else Exception) as caught:
        compile_schema(schema)
    assert str(caught.value) == message


def test_local_refs_work() -> None:
    schema = compile_schema(
        '{"$defs": {"port": {"type": "integer", "maximum": 65535}},'
        ' "properties": {"port": {"$ref": "#/$defs/port"}}}'
    )
    assert [v.path for v in schema.violations({"port": 70000})] == ["/port"]


def test_compiled_schemas_are_cached_by_text() -> None:
    assert compile_schema(DB_SCHEMA) is compile_schema(DB_SCHEMA)


SPLITTABLE = """{
  "type": "object",
  "properties": {"a": {"type": "integer"}, "b": {"$ref": "#/$defs/small"}},
  "patternProperties": {"^x_": {"type": "string"}},
  "additionalProperties": false,
  "required": ["a"],
  "dependentRequired": {"b": ["a"]},
  "maxProperties": 3,
  "$defs": {"small": {"type": "integer", "maximum": 9}}
}"""
# The same rules under allOf: not split, checked whole.
_RULES = json.loads(SPLITTABLE)
NOT_SPLITTABLE = json.dumps({"$defs": _RULES.pop("$defs"), "allOf": [_RULES]})


@pytest.mark.parametrize("schema_text", [SPLITTABLE, NOT_SPLITTABLE], ids=["split", "whole"])
@pytest.mark.parametrize(
    ("before", "after"),
    [
        ({"a": 1}, {"a": 1, "b": 5}),
        ({"a": 1}, {"a": 1, "b": 50}),
        ({"a": 1}, {"b": 5}),
        ({"a": 1}, {"a": 1, "x_1": "s", "x_2": "t"}),
        ({"a": 1}, {"a": 1, "x_1": 3}),
        ({"a": 1}, {"a": 1, "typo": 3}),
        ({"a": 1, "b": 2}, {"a": "one", "b": 2}),
    ],
)
def test_checking_a_change_agrees_with_checking_the_whole_document(
    schema_text: str, before: dict[str, object], after: dict[str, object]
) -> None:
    schema = compile_schema(schema_text)
    assert schema.violations(before) == ()
    changed = {k for k in before.keys() | after.keys() if before.get(k) != after.get(k)}
    assert schema.is_valid_change(after, changed) == (schema.violations(after) == ())
    # Writes pass the document as a view over the namespace's entries, not a built dict.
    view = DocumentView({k: Entry(json.dumps(v), v, 1, 1, 1) for k, v in after.items()})
    if schema.violations(after):
        with pytest.raises(SchemaViolation) as refused:
            schema.validate(view, what="the document", changed=changed)
        assert refused.value.violations == schema.violations(after)
    else:
        schema.validate(view, what="the document", changed=changed)


def test_only_schemas_of_the_simple_shape_are_split() -> None:
    assert compile_schema(SPLITTABLE).split is not None
    assert compile_schema(NOT_SPLITTABLE).split is None
    assert compile_schema('{"type": "array"}').split is None
