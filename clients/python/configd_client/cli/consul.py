"""Reading a `consul kv export` file and mapping its entries onto namespaces.

The export is a JSON array of `{"key": ..., "flags": N, "value": BASE64}`. A `--map` rule
`PREFIX=NAMESPACE` sends every Consul key under the folder PREFIX to NAMESPACE, under the rest
of the key: with `--map app/prod/=app/prod`, `app/prod/db_url` becomes key `db_url` of
namespace `app/prod`, and `app/prod/db/pool` becomes key `db/pool` (or, with `--nest`, property
`pool` of the object in key `db`). A prefix is a folder: `app/prod` means `app/prod/`. The
longest matching prefix wins.

Every entry gets exactly one fate, and each fate other than "stored as written" is a report
line naming the Consul key: skipped (no rule, folder, repeated, binary), stored as JSON
(`--values auto` parses a value only when configd keeps every number's text: `1.10` stays the
string "1.10"; scalars padded with whitespace stay strings), stored as a string, stored as
`{"base64": "..."}` (`--binary base64`), or refused (a problem). Problems are checked with
the server's own rules (configd_client.wire.names, .limits, .jsontext) before anything is
planned, so a dry run refuses exactly what the import would, all at once. Consul flags are
not carried over; the report lists them with their values.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from configd_client.cli import documents
from configd_client.cli.exits import CliFailure, ExitCode
from configd_client.wire import jsontext, limits
from configd_client.wire.jsontext import JSONTextError
from configd_client.wire.names import key_problem, namespace_problem

VALUE_MODES = ("auto", "string", "json")
BINARY_MODES = ("fail", "skip", "base64")
BASE64_PROPERTY = "base64"  # --binary base64 stores {"base64": "<the bytes, base64>"}
_SHOWN_CHARS = 60  # a value quoted in the report is cut after this many characters
_SHOWN_KEY_CHARS = 100


def _fail(message: str) -> CliFailure:
    return CliFailure(message, code=ExitCode.USAGE)


@dataclass(frozen=True, slots=True)
class MapRule:
    """Consul keys under the folder `prefix` go to `namespace` (the rest of the key is the key)."""

    prefix: str
    namespace: str

    @classmethod
    def parse(cls, text: str) -> MapRule:
        # Namespace names never contain '=', Consul keys may: split at the last one.
        prefix, sep, namespace = text.rpartition("=")
        if not sep or not namespace:
            raise _fail(f"--map {text!r} must be PREFIX=NAMESPACE, e.g. --map 'app/prod/=app/prod'")
        problem = namespace_problem(namespace, field=f"--map {text!r}: the namespace")
        if problem is not None:
            raise _fail(problem)
        if prefix and not prefix.endswith("/"):
            prefix += "/"  # a folder: 'app/prod' must not match 'app/production/x' or give '/x'
        return cls(prefix=prefix, namespace=namespace)


@dataclass(frozen=True, slots=True)
class ValueRule:
    """Values of Consul keys starting with `prefix` are read as `mode` (longest prefix wins)."""

    prefix: str
    mode: str


@dataclass(frozen=True, slots=True)
class Options:
    rules: Sequence[MapRule]
    values: str = "auto"  # the mode where no ValueRule matches
    value_rules: Sequence[ValueRule] = ()
    binary: str = "fail"
    nest: bool = False
    skip_invalid: bool = False

    def mode_for(self, key: str) -> str:
        matching = [r for r in self.value_rules if key.startswith(r.prefix)]
        return max(matching, key=lambda r: len(r.prefix)).mode if matching else self.values


@dataclass(frozen=True, slots=True)
class ConsulEntry:
    key: str
    flags: int
    value: bytes


def show_key(key: str) -> str:
    """A Consul key for a report line: as is, or JSON-quoted if it holds control characters
    or surrounding spaces; a very long key is cut (the JSON report has it whole)."""
    shown = key
    if any(ord(c) < 0x20 or 0x7F <= ord(c) < 0xA0 for c in key) or key != key.strip():
        shown = json.dumps(key, ensure_ascii=False)
    if len(shown) > _SHOWN_KEY_CHARS:
        shown = f"{shown[:_SHOWN_KEY_CHARS]}... ({len(key.encode())} bytes)"
    return shown


def _quote(text: str) -> str:
    shown = json.dumps(text[:_SHOWN_CHARS], ensure_ascii=False)
    return shown if len(text) <= _SHOWN_CHARS else f'{shown[:-1]}..." ({len(text)} chars)'


def _clip(json_text: str) -> str:
    if len(json_text) <= _SHOWN_CHARS:
        return json_text
    return f"{json_text[:_SHOWN_CHARS]}... ({len(json_text)} chars)"


@dataclass(frozen=True, slots=True)
class Note:
    """One report line: a Consul key and what happened to it."""

    key: str
    detail: str = ""

    def line(self) -> str:
        return f"  {show_key(self.key)}" + (f": {self.detail}" if self.detail else "")

    def as_data(self) -> dict[str, str]:
        return {"consul_key": self.key, "detail": self.detail}


# The report's groups, in order: attribute of Mapping, title. `problems` are not here: they
# are the failure's details, or `skipped_invalid` with --skip-invalid.
GROUPS = (
    ("parsed", "stored as JSON values (Consul text -> stored JSON)"),
    ("kept_text", "stored as JSON strings: as JSON their text would change"),
    ("as_strings", "stored as JSON strings (their values are not JSON)"),
    ("base64", f'stored as {{"{BASE64_PROPERTY}": ...}}: not UTF-8 text (--binary base64)'),
    ("skipped_binary", "skipped: not UTF-8 text (--binary skip)"),
    ("skipped_invalid", "skipped: cannot be imported (--skip-invalid)"),
    ("repeated", "skipped: repeated entries of the export (same value and flags)"),
    ("unmapped", "skipped: no --map rule matches"),
    ("folders", "skipped: Consul folder entries"),
    ("flagged", "Consul flags not carried over"),
)


@dataclass(slots=True)
class Mapping:
    """The outcome of mapping an export: documents per namespace and what needs saying."""

    documents: dict[str, dict[str, Any]] = field(default_factory=dict)
    origin: dict[tuple[str, str], list[str]] = field(default_factory=dict)  # -> Consul keys
    stored: list[dict[str, Any]] = field(default_factory=list)  # every entry to be stored
    problems: list[Note] = field(default_factory=list)
    parsed: list[Note] = field(default_factory=list)
    kept_text: list[Note] = field(default_factory=list)
    as_strings: list[Note] = field(default_factory=list)
    base64: list[Note] = field(default_factory=list)
    skipped_binary: list[Note] = field(default_factory=list)
    skipped_invalid: list[Note] = field(default_factory=list)
    repeated: list[Note] = field(default_factory=list)
    unmapped: list[Note] = field(default_factory=list)
    folders: list[Note] = field(default_factory=list)
    flagged: list[Note] = field(default_factory=list)

    def notes(self) -> list[str]:
        lines = []
        for name, title in GROUPS:
            group: list[Note] = getattr(self, name)
            if group:
                lines.append(f"{title} ({len(group)}):")
                lines.extend(note.line() for note in group)
        return lines

    def as_data(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            name: [note.as_data() for note in getattr(self, name)]
            for name in ("problems", *(name for name, _ in GROUPS))
        }
        data["stored"] = self.stored
        return data

    def consul_keys(self, namespace: str, path: str) -> list[str]:
        """The Consul keys behind a JSON pointer into a namespace's document."""
        top = path.split("/")[1] if path.startswith("/") else ""
        top = top.replace("~1", "/").replace("~0", "~")
        return self.origin.get((namespace, top), [])

    def failure(self) -> CliFailure | None:
        if not self.problems:
            return None
        count = len(self.problems)
        return CliFailure(
            f"{count} Consul {'entry' if count == 1 else 'entries'} cannot be imported; "
            "nothing was written",
            code=ExitCode.INVALID,
            details=[
                *(note.line() for note in self.problems),
                "fix them in the export or the flags, or leave them out with --skip-invalid",
            ],
        )


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
        where = f"{where} ({show_key(key)})"
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


class _Problem(Exception):
    """An entry that cannot be imported; str() is the reason."""


def _number_drift(text: str) -> tuple[str, str] | None:
    """The first number whose text configd would change (`1.10` -> `1.1`), if any.

    Only called on text the strict reader accepted; the hooks only see number literals."""
    found: list[tuple[str, str]] = []

    def literal(token: str) -> int:
        canonical = jsontext.dumps(jsontext.loads(token))
        if canonical != token and not found:
            found.append((token, canonical))
        return 0

    json.JSONDecoder(parse_float=literal, parse_int=literal).decode(text)
    return found[0] if found else None


@dataclass(frozen=True, slots=True)
class _Decoded:
    value: Any
    group: str  # the Mapping group it is reported in, "" for none
    detail: str = ""
    kind: str = "json"  # json, string or base64


_SKIP = object()


def decode_value(entry: ConsulEntry, options: Options) -> _Decoded:
    """The JSON value to store for a Consul value (or _SKIP), and how to report it."""
    try:
        text = entry.value.decode("utf-8")
    except UnicodeDecodeError:
        size = len(entry.value)
        if options.binary == "skip":
            return _Decoded(_SKIP, "skipped_binary", f"{size} bytes")
        if options.binary == "base64":
            encoded = base64.b64encode(entry.value).decode("ascii")
            return _Decoded({BASE64_PROPERTY: encoded}, "base64", f"{size} bytes", "base64")
        raise _Problem(
            f"its value is not UTF-8 text ({size} bytes); configd stores JSON: "
            "skip it with --binary skip, or store it base64-encoded with --binary base64"
        ) from None
    mode = options.mode_for(entry.key)
    if mode == "string":
        return _Decoded(text, "", kind="string")
    try:
        parsed = jsontext.loads(text)
    except JSONTextError as exc:
        if mode == "json":
            raise _Problem(
                f"its value is not JSON ({exc.reason}); it is read as JSON because of "
                f"--values json or --values-json; keep it a string with --values-string"
            ) from None
        return _Decoded(text, "as_strings", "" if text else "empty", "string")
    canonical = jsontext.dumps(parsed)
    drift = _number_drift(text)
    if drift is not None:
        before, after = drift
        if mode == "json":
            raise _Problem(
                f"as JSON its number {before} would be stored as {after}; "
                "keep it a string with --values-string"
            )
        return _Decoded(
            text,
            "kept_text",
            f"{_quote(text)} (as JSON the number {before} would be stored as {after})",
            "string",
        )
    if mode == "auto" and canonical != text and not isinstance(parsed, dict | list):
        return _Decoded(
            text,
            "kept_text",
            f"{_quote(text)} (as JSON it would be {_clip(canonical)}; "
            "read it as JSON with --values-json)",
            "string",
        )
    return _Decoded(parsed, "parsed", f"{_quote(text)} -> {_clip(canonical)}")


class _Folder(dict[str, Any]):
    """An object that --nest made from a Consul folder (not a value of the export)."""


def _place(
    document: dict[str, Any],
    path: list[str],
    value: Any,
    key: str,
    owner: Callable[[list[str]], str],
) -> None:
    """Put `value` at `path` (nested objects for --nest); raises _Problem on a clash.

    `owner(path)` is the Consul key already stored at `path`."""
    target = document
    for depth, part in enumerate(path[:-1]):
        child = target.get(part)
        if child is None:
            child = target[part] = _Folder()
        elif not isinstance(child, _Folder):
            where = path[: depth + 1]
            raise _Problem(
                f"with --nest it goes inside key {'/'.join(where)!r}, but Consul key "
                f"{show_key(owner(where))} gives that key a value of its own"
            )
        target = child
    last = path[-1]
    if last in target:
        shown = "/".join(path)
        if isinstance(target[last], _Folder):
            raise _Problem(
                f"with --nest key {shown!r} already holds the Consul keys under {show_key(key)}/"
            )
        raise _Problem(
            f"maps to the same key {shown!r} as Consul key {show_key(owner(path))}; "
            "adjust the --map rules"
        )
    target[last] = value


def _repeats(entries: Sequence[ConsulEntry], result: Mapping) -> tuple[set[int], set[str]]:
    """Entries to leave out because the export repeats them, and keys repeated differently."""
    seen: dict[str, list[int]] = {}
    for index, entry in enumerate(entries):
        seen.setdefault(entry.key, []).append(index)
    skip: set[int] = set()
    conflicting: set[str] = set()
    for key, indexes in seen.items():
        if len(indexes) == 1:
            continue
        first = entries[indexes[0]]
        if all(entries[i] == first for i in indexes[1:]):
            for i in indexes[1:]:
                skip.add(i)
                result.repeated.append(Note(key, f"entry {i} repeats entry {indexes[0]}"))
        else:
            conflicting.add(key)
            shown = ", ".join(str(i) for i in indexes)
            result.problems.append(
                Note(
                    key,
                    f"appears {len(indexes)} times in the export (entries {shown}) with "
                    "different values or flags; keep one of them",
                )
            )
    return skip, conflicting


def map_entries(entries: Sequence[ConsulEntry], options: Options) -> Mapping:
    """Give every entry its fate (see the module docstring); problems are collected, not raised.

    With `options.skip_invalid` the problems are reported as skipped entries instead."""
    if not options.rules:
        raise _fail(
            "give at least one --map PREFIX=NAMESPACE rule, e.g. --map 'app/prod/=app/prod'"
        )
    ordered = sorted(options.rules, key=lambda r: len(r.prefix), reverse=True)
    result = Mapping()
    skip, conflicting = _repeats(entries, result)
    for index, entry in enumerate(entries):
        if index in skip or entry.key in conflicting:
            continue
        if entry.key.endswith("/") and not entry.value:
            result.folders.append(Note(entry.key))
            continue
        rule = next((r for r in ordered if entry.key.startswith(r.prefix)), None)
        if rule is None:
            result.unmapped.append(Note(entry.key))
            continue
        try:
            _map_one(entry, rule, options, result)
        except _Problem as problem:
            result.problems.append(Note(entry.key, str(problem)))
    _check_documents(result, ordered)
    if options.skip_invalid:
        result.skipped_invalid, result.problems = result.problems, []
    return result


def _map_one(entry: ConsulEntry, rule: MapRule, options: Options, result: Mapping) -> None:
    rest = entry.key[len(rule.prefix) :]
    path = rest.split("/") if options.nest else [rest]
    problem = key_problem(path[0], max_bytes=limits.MAX_KEY_BYTES, field="its configd key")
    if problem is not None:
        raise _Problem(problem)
    decoded = decode_value(entry, options)
    if decoded.value is _SKIP:
        getattr(result, decoded.group).append(Note(entry.key, decoded.detail))
        return
    value_json = jsontext.dumps(decoded.value)
    size = len(value_json.encode())
    if size > limits.MAX_VALUE_BYTES:
        raise _Problem(
            f"its value is {size} bytes as JSON, over configd's limit of "
            f"{limits.MAX_VALUE_BYTES} bytes for one value"
        )

    def owner(where: list[str]) -> str:
        return next(
            str(item["consul_key"])
            for item in result.stored
            if item["namespace"] == rule.namespace and item["path"] == where
        )

    _place(result.documents.setdefault(rule.namespace, {}), path, decoded.value, entry.key, owner)
    result.origin.setdefault((rule.namespace, path[0]), []).append(entry.key)
    result.stored.append(
        {
            "consul_key": entry.key,
            "namespace": rule.namespace,
            "path": path,
            "as": decoded.kind,
            "value_json": value_json,
        }
    )
    if decoded.group:
        getattr(result, decoded.group).append(Note(entry.key, decoded.detail))
    if entry.flags:
        result.flagged.append(Note(entry.key, f"flags {entry.flags}"))


def _check_documents(result: Mapping, rules: Sequence[MapRule]) -> None:
    """Limits on whole keys and documents, as the server counts them (canonical JSON)."""
    prefixes = {rule.namespace: rule.prefix for rule in reversed(rules)}
    for name, document in list(result.documents.items()):
        where = f"--map {prefixes[name]}={name}"
        for key, value in list(document.items()):
            if not isinstance(value, _Folder):
                continue  # a single entry's value was checked with the entry
            size = len(jsontext.dumps(value).encode())
            if size > limits.MAX_VALUE_BYTES:
                _drop(result, name, key)
                result.problems.append(
                    Note(
                        f"{prefixes[name]}{key}/",
                        f"with --nest key {key!r} of {name} is {size} bytes as JSON, over "
                        f"configd's limit of {limits.MAX_VALUE_BYTES} bytes for one value",
                    )
                )
        if len(document) > limits.MAX_KEYS_PER_NAMESPACE:
            _drop(result, name)
            result.problems.append(
                Note(
                    prefixes[name],
                    f"{where} gives {name} {len(document)} keys, over configd's limit of "
                    f"{limits.MAX_KEYS_PER_NAMESPACE}; split it with more --map rules or --nest",
                )
            )
            continue
        size = len(jsontext.dumps(document).encode())
        if size > limits.MAX_DOCUMENT_BYTES:
            _drop(result, name)
            result.problems.append(
                Note(
                    prefixes[name],
                    f"{where} gives {name} a document of {size} bytes, over configd's limit "
                    f"of {limits.MAX_DOCUMENT_BYTES}; split it with more --map rules",
                )
            )


def _drop(result: Mapping, namespace: str, key: str | None = None) -> None:
    """Take a namespace (or one of its keys) out of the import, and out of the report's
    groups: its entries are then reported as one problem."""
    document = result.documents[namespace]
    keys = [key] if key is not None else list(document)
    gone: set[str] = set()
    for name in keys:
        document.pop(name, None)
        gone.update(result.origin.pop((namespace, name), []))
    if key is None or not document:
        del result.documents[namespace]
    result.stored = [item for item in result.stored if item["consul_key"] not in gone]
    for group, _ in GROUPS:
        notes: list[Note] = getattr(result, group)
        setattr(result, group, [note for note in notes if note.key not in gone])
