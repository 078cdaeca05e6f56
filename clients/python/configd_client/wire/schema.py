"""Validating a document against its namespace schema: one validator for server and SDK.

jsonschema-rs (draft 2020-12) does the validating: it is fast enough to check the whole
document on every write, its regex engine runs in linear time (no catastrophic
backtracking), and it never fetches a remote `$ref`. `format` is asserted.
"""

from __future__ import annotations

from typing import Any

import jsonschema_rs

from configd_client.errors import FieldViolation

MAX_VIOLATIONS = 100


def pointer(parts: Any) -> str:
    """An RFC 6901 JSON pointer from path parts (keys and indexes)."""
    return "".join("/" + str(part).replace("~", "~0").replace("/", "~1") for part in parts)


def _refuse(uri: str) -> Any:
    raise ValueError(f"configd never fetches remote schemas ({uri})")


class DocumentSchema:
    """A compiled schema. Raises ValueError (with the library's reason) if it cannot compile."""

    def __init__(self, schema: Any) -> None:
        try:
            self._validator = jsonschema_rs.Draft202012Validator(
                schema,
                validate_formats=True,
                ignore_unknown_formats=True,
                pattern_options=jsonschema_rs.RegexOptions(),
                retriever=_refuse,
            )
        except (jsonschema_rs.ValidationError, jsonschema_rs.ReferencingError) as exc:
            raise ValueError(str(exc)) from None

    def is_valid(self, document: Any) -> bool:
        return bool(self._validator.is_valid(document))

    def violations(self, document: Any) -> tuple[FieldViolation, ...]:
        """Every violation (up to MAX_VIOLATIONS), sorted by path; empty if valid."""
        if self._validator.is_valid(document):
            return ()
        found: list[FieldViolation] = []
        for error in self._validator.iter_errors(document):
            found.extend(_explain(error))
            if len(found) >= MAX_VIOLATIONS:
                break
        return tuple(sorted(found[:MAX_VIOLATIONS], key=lambda v: (v.path, v.keyword)))


def _explain(error: jsonschema_rs.ValidationError) -> list[FieldViolation]:
    """Violations a person can act on, pointing at the missing or unexpected key itself."""
    keywords = [part for part in error.schema_path if isinstance(part, str)]
    keyword = keywords[-1] if keywords else ""
    path = pointer(error.instance_path)
    kind = error.kind
    if isinstance(kind, jsonschema_rs.ValidationErrorKind.Required):
        name = str(kind.property)
        return [
            FieldViolation(
                f"{path}{pointer([name])}",
                keyword,
                f"{name!r} is required but missing (keyword {keyword!r})",
            )
        ]
    if isinstance(
        kind,
        jsonschema_rs.ValidationErrorKind.AdditionalProperties
        | jsonschema_rs.ValidationErrorKind.UnevaluatedProperties,
    ):
        return [
            FieldViolation(
                f"{path}{pointer([name])}",
                keyword,
                f"{name!r} is not allowed here: the schema does not define it "
                f"(keyword {keyword!r}); check the spelling",
            )
            for name in kind.unexpected
        ]
    if isinstance(kind, jsonschema_rs.ValidationErrorKind.Format):
        # jsonschema-rs says `"x" is not a "email"`; the instance is its message's first part.
        quoted = error.message.rsplit(" is not a ", 1)[0]
        return [
            FieldViolation(
                path,
                keyword,
                f"{quoted} does not match the format {str(kind.format)!r} (keyword {keyword!r})",
            )
        ]
    return [FieldViolation(path, keyword, f"{error.message} (keyword {keyword!r})")]
