"""Reading operator input (JSON or YAML files, `@file` and literal values) as JSON text.

JSON is read by configd's one strict reader (configd_client.wire.jsontext): integers stay exact;
NaN/Infinity, duplicate keys and too deep nesting are refused, as the server refuses them.
YAML is read with a safe loader (YAML 1.1) that refuses duplicate keys with the same reason as
JSON: integers are exact, but unquoted `yes`, `no`, `on`, `off` are booleans and `2024-01-31`
is a date; dates and other non-JSON types are refused with a hint to quote them, rather than
silently changed.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import sys
from pathlib import Path
from typing import Any

import yaml

from configd_client.cli.exits import CliFailure, ExitCode
from configd_client.wire import jsontext
from configd_client.wire.jsontext import JSONTextError, dumps

YAML_SUFFIXES = (".yaml", ".yml")
_YAML_MERGE = "tag:yaml.org,2002:merge"


class _StrictYamlLoader(yaml.SafeLoader):
    """yaml.SafeLoader, except that a mapping naming one key twice is an error, not last-wins.

    Keys brought in by a merge (`<<: *base`) may still be overridden: only the keys written in
    the mapping itself must be distinct."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            if key_node.tag == _YAML_MERGE:
                continue
            key = self.construct_object(key_node, deep=True)
            try:
                repeated = key in seen
            except TypeError:  # an unhashable key: the base class explains it
                continue
            if repeated:
                raise yaml.constructor.ConstructorError(
                    None,
                    None,
                    jsontext.duplicate_key(key)
                    if isinstance(key, str)
                    else f"duplicate key {key!r}",
                    key_node.start_mark,
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def parse_yaml(text: str) -> Any:
    """YAML (the strict safe loader above); raises yaml.YAMLError."""
    return yaml.load(text, Loader=_StrictYamlLoader)


def _yaml_error(exc: yaml.YAMLError) -> str:
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    where = f" at line {mark.line + 1} column {mark.column + 1}" if mark is not None else ""
    return f"{problem}{where}"


def read_text(source: str) -> str:
    """The text of a file, or of stdin for `-`."""
    if source == "-":
        return sys.stdin.read()
    try:
        return Path(source).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise CliFailure(f"cannot read {source}: {reason}", code=ExitCode.USAGE) from exc


def parse_text(text: str, *, source: str) -> Any:
    """JSON or YAML by the file's suffix; other files and stdin: JSON first, then YAML."""
    suffix = Path(source).suffix.lower()
    if suffix == ".json":
        try:
            return check_json_value(jsontext.loads(text), source=source)
        except JSONTextError as exc:
            raise CliFailure(f"invalid JSON in {source}: {exc}", code=ExitCode.USAGE) from exc
    if suffix not in YAML_SUFFIXES:
        try:
            return check_json_value(jsontext.loads(text), source=source)
        except JSONTextError:
            pass
    try:
        loaded = parse_yaml(text)
    except yaml.YAMLError as exc:
        raise CliFailure(
            f"invalid YAML in {source}: {_yaml_error(exc)}", code=ExitCode.USAGE
        ) from exc
    return check_json_value(loaded, source=source)


def load(source: str) -> Any:
    return parse_text(read_text(source), source=source)


def load_document(source: str) -> dict[str, Any]:
    """A whole-namespace document: a JSON or YAML object whose properties are the keys."""
    return require_object(load(source), source=source, what="a namespace document")


def require_object(value: Any, *, source: str, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise CliFailure(
            f"{source} must contain {what} (a JSON/YAML object of key: value), "
            f"not {type_name(value)}",
            code=ExitCode.USAGE,
        )
    return value


def load_schema(source: str) -> str:
    """A JSON Schema from a .json or .yaml file, as JSON text (an object or a boolean)."""
    schema = load(source)
    if not isinstance(schema, dict | bool):
        raise CliFailure(
            f"{source} must contain a JSON Schema (an object), not {type_name(schema)}",
            code=ExitCode.USAGE,
        )
    return dumps(schema)


def type_name(value: Any) -> str:
    if value is None:
        return "null (empty document)"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def check_json_value(value: Any, *, source: str) -> Any:
    """`value` if it is plain JSON data; otherwise a usage error naming where and why."""
    stack: list[tuple[Any, str]] = [(value, "")]
    while stack:
        item, path = stack.pop()
        problem = ""
        if isinstance(item, dict):
            for key, child in item.items():
                if not isinstance(key, str):
                    problem = (
                        f"key {key!r} is a {type(key).__name__}, not a string "
                        f"(YAML reads unquoted yes/no/on/off and numbers as such; quote it)"
                    )
                    break
                stack.append((child, f"{path}/{_pointer(key)}"))
        elif isinstance(item, list):
            stack.extend((child, f"{path}/{index}") for index, child in enumerate(item))
        elif isinstance(item, float) and not math.isfinite(item):
            problem = f"{item!r} is not a JSON number"
        elif isinstance(item, dt.date | dt.datetime):
            problem = f"YAML read {item.isoformat()} as a date; quote it to keep a string"
        elif not (item is None or isinstance(item, bool | int | float | str)):
            problem = f"a {type(item).__name__} value is not JSON"
        if problem:
            raise CliFailure(f"{source}: at {path or '/'}: {problem}", code=ExitCode.USAGE)
    return value


def _pointer(key: str) -> str:
    return key.replace("~", "~0").replace("/", "~1")


def value_argument(argument: str) -> str:
    """A `put` value: JSON text, or `@FILE` (JSON or YAML, `@-` for stdin); as JSON text."""
    if argument.startswith("@"):
        return dumps(load(argument[1:]))
    try:
        return dumps(check_json_value(jsontext.loads(argument), source="VALUE"))
    except JSONTextError as exc:
        quoted = json.dumps(argument, ensure_ascii=False)
        raise CliFailure(
            f"VALUE must be JSON ({exc}); to store the text as a string, "
            f"quote it: '{quoted}' (or use @FILE)",
            code=ExitCode.USAGE,
        ) from exc
