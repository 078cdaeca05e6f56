"""Reading a `consul kv export` file and mapping its keys onto namespaces.

The export is a JSON array of `{"key": ..., "flags": N, "value": BASE64}`. A `--map` rule
`PREFIX=NAMESPACE` sends every Consul key that starts with PREFIX to NAMESPACE, under the rest
of the key: with `--map app/prod/=app/prod`, `app/prod/db_url` becomes key `db_url` of
namespace `app/prod` (and `app/prod/db/pool` becomes key `db/pool`). The longest matching
prefix wins; keys no rule matches are skipped and listed. Folder entries (keys ending in `/`
with an empty value) are skipped. Values that are JSON text are stored as that JSON value
(`42`, `true`, `{"a": 1}`); any other text is stored as a JSON string. Consul flags are not
carried over.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, field
from typing import Any

from configd_client.cli import documents
from configd_client.cli.exits import CliFailure, ExitCode
from configd_client.wire import jsontext


def _fail(message: str) -> CliFailure:
    return CliFailure(message, code=ExitCode.USAGE)


@dataclass(frozen=True, slots=True)
class MapRule:
    """Consul keys starting with `prefix` go to `namespace` (the rest of the key is the key)."""

    prefix: str
    namespace: str

    @classmethod
    def parse(cls, text: str) -> MapRule:
        # Namespace names never contain '=', Consul keys may: split at the last one.
        prefix, sep, namespace = text.rpartition("=")
        if not sep or not namespace:
            raise _fail(f"--map {text!r} must be PREFIX=NAMESPACE, e.g. --map 'app/prod/=app/prod'")
        return cls(prefix=prefix, namespace=namespace)


@dataclass(frozen=True, slots=True)
class ConsulEntry:
    key: str
    flags: int
    value: bytes


@dataclass(slots=True)
class Mapping:
    """The outcome of mapping an export: documents per namespace and what needs saying."""

    documents: dict[str, dict[str, Any]] = field(default_factory=dict)
    origin: dict[tuple[str, str], str] = field(default_factory=dict)
    as_strings: list[str] = field(default_factory=list)  # Consul keys stored as JSON strings
    unmapped: list[str] = field(default_factory=list)
    folders: list[str] = field(default_factory=list)
    flagged: list[str] = field(default_factory=list)  # non-zero flags, not carried over


def parse_export(data: Any, source: str) -> list[ConsulEntry]:
    """Entries of a `consul kv export` document, refusing anything malformed."""
    if not isinstance(data, list):
        raise _fail(
            f"{source} is not a Consul KV export: expected a JSON array of "
            f'{{"key", "flags", "value"}} objects, got {documents.type_name(data)}'
        )
    entries = []
    for index, item in enumerate(data):
        where = f"{source}: entry {index}"
        if not isinstance(item, dict):
            raise _fail(f"{where} is {documents.type_name(item)}, not an object")
        key = item.get("key")
        if not isinstance(key, str) or not key:
            raise _fail(f"{where} has no 'key' string")
        where = f"{where} ({key})"
        flags = item.get("flags", 0)
        if isinstance(flags, bool) or not isinstance(flags, int):
            raise _fail(f"{where}: 'flags' must be an integer")
        if "value" not in item:
            raise _fail(f"{where} has no 'value'")
        raw = item["value"]
        if raw is None:
            raw = ""
        if not isinstance(raw, str):
            raise _fail(f"{where}: 'value' must be a base64 string")
        try:
            value = base64.b64decode(raw, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise _fail(f"{where}: 'value' is not valid base64") from exc
        entries.append(ConsulEntry(key=key, flags=flags, value=value))
    return entries


def load_export(source: str) -> list[ConsulEntry]:
    text = documents.read_text(source)
    try:
        data = jsontext.loads(text)
    except ValueError as exc:
        raise _fail(f"{source} is not a Consul KV export: invalid JSON ({exc})") from exc
    return parse_export(data, source)


def decode_value(entry: ConsulEntry, *, strings: bool) -> tuple[Any, bool]:
    """The JSON value for a Consul value, and whether it was kept as a string."""
    try:
        text = entry.value.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _fail(
            f"the value of Consul key {entry.key} is not UTF-8 text; "
            "configd stores JSON, so binary values cannot be imported"
        ) from exc
    if strings:
        return text, True
    try:
        return documents.check_json_value(jsontext.loads(text), source=entry.key), False
    except (ValueError, CliFailure):
        return text, True


def map_entries(
    entries: list[ConsulEntry], rules: list[MapRule], *, strings: bool = False
) -> Mapping:
    """Apply the longest-prefix rule to every entry; a clash of two keys is an error."""
    if not rules:
        raise _fail(
            "give at least one --map PREFIX=NAMESPACE rule, e.g. --map 'app/prod/=app/prod'"
        )
    ordered = sorted(rules, key=lambda r: len(r.prefix), reverse=True)
    result = Mapping()
    for entry in entries:
        if entry.key.endswith("/") and not entry.value:
            result.folders.append(entry.key)
            continue
        rule = next((r for r in ordered if entry.key.startswith(r.prefix)), None)
        if rule is None:
            result.unmapped.append(entry.key)
            continue
        key = entry.key[len(rule.prefix) :]
        if not key:
            raise _fail(
                f"Consul key {entry.key} equals the prefix of its --map rule, so it has no "
                "key name left; end the prefix before the last segment, e.g. 'app/' not 'app/x'"
            )
        value, as_string = decode_value(entry, strings=strings)
        document = result.documents.setdefault(rule.namespace, {})
        if key in document:
            raise _fail(
                f"Consul keys {result.origin[(rule.namespace, key)]} and {entry.key} both map "
                f"to key {key!r} of namespace {rule.namespace}; adjust the --map rules"
            )
        document[key] = value
        result.origin[(rule.namespace, key)] = entry.key
        if as_string and not strings:
            result.as_strings.append(entry.key)
        if entry.flags:
            result.flagged.append(entry.key)
    return result
