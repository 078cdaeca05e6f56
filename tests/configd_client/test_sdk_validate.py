"""The client's own schema check of each document it is about to publish."""

from __future__ import annotations

import json

import pytest

from configd_client import InvalidSchema, SchemaViolation
from configd_client._validate import DocumentChecker
from configd_client.errors import FieldViolation

SCHEMA = json.dumps(
    {
        "type": "object",
        "properties": {"port": {"type": "integer"}, "name": {"type": "string"}},
        "additionalProperties": False,
    }
)


def test_valid_document_passes() -> None:
    assert DocumentChecker().check("a", 3, SCHEMA, {"port": 80}) is None


def test_empty_schema_text_means_any_object() -> None:
    assert DocumentChecker().check("a", 3, "", {"anything": [1]}) is None


def test_violation_names_path_keyword_and_revision() -> None:
    error = DocumentChecker().check("a", 3, SCHEMA, {"port": "80", "nmae": "x"})
    assert isinstance(error, SchemaViolation)
    assert error.violations == (
        FieldViolation(
            "/nmae",
            "additionalProperties",
            "'nmae' is not allowed here: the schema does not define it "
            "(keyword 'additionalProperties'); check the spelling",
        ),
        FieldViolation("/port", "type", '"80" is not of type "integer" (keyword \'type\')'),
    )
    assert str(error).startswith(
        "configd: namespace 'a' at revision 3 does not satisfy its schema ("
    )
    assert str(error).endswith("); keeping the last good values")


def test_local_schema_is_checked_too() -> None:
    checker = DocumentChecker({"a": {"type": "object", "required": ["port"]}})
    error = checker.check("a", 4, SCHEMA, {"name": "x"})
    assert error is not None
    assert "the application's local schema" in str(error)
    assert error.violations[0].keyword == "required"
    assert checker.check("other", 4, SCHEMA, {"name": "x"}) is None


def test_local_schema_must_be_a_schema() -> None:
    with pytest.raises(InvalidSchema, match="the local schema for 'a' is not a valid JSON Schema"):
        DocumentChecker({"a": {"type": 12}})


def test_remote_ref_is_never_fetched() -> None:
    schema = json.dumps({"$ref": "https://example.invalid/schema.json"})
    error = DocumentChecker().check("a", 1, schema, {})
    assert error is not None
    assert "configd never fetches remote schemas" in error.violations[0].message
