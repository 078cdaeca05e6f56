"""The export format: namespaces with their schemas and documents, as files.

One file holds every namespace::

    {"format": "configd-export/v1", "revision": 42,
     "namespaces": [{"name": "payments/prod", "schema": {...}, "document": {...}}]}

A directory holds one file per namespace (`payments/prod` -> `payments/prod.json`), each
`{"format": "configd-export/v1", "name": ..., "schema": ..., "document": ...}`. The name inside
the file is what counts on import; the path only helps people find it. YAML works the same.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from configd_client.cli import documents, output
from configd_client.cli.exits import CliFailure, ExitCode

FORMAT = "configd-export/v1"
ARCHIVE_SUFFIXES = (".json", *documents.YAML_SUFFIXES)


@dataclass(frozen=True, slots=True)
class NamespaceExport:
    """One namespace as exported: its schema (parsed JSON Schema) and its document."""

    name: str
    schema: Any
    document: dict[str, Any]

    def as_data(self) -> dict[str, Any]:
        return {"name": self.name, "schema": self.schema, "document": self.document}


def _fail(message: str) -> CliFailure:
    return CliFailure(message, code=ExitCode.USAGE)


def _serialize(data: Any, fmt: str) -> str:
    return output.to_yaml(data) if fmt == "yaml" else output.to_json(data) + "\n"


def file_format(path: str, default: str | None) -> str:
    """json or yaml: the explicit choice, else the file's suffix, else json."""
    if default:
        return default
    return "yaml" if Path(path).suffix.lower() in documents.YAML_SUFFIXES else "json"


def write_file(path: str, items: Sequence[NamespaceExport], revision: int, fmt: str) -> None:
    text = _serialize(
        {"format": FORMAT, "revision": revision, "namespaces": [i.as_data() for i in items]}, fmt
    )
    if path == "-":
        sys.stdout.write(text)
        sys.stdout.flush()
        return
    try:
        Path(path).write_text(text, encoding="utf-8")
    except OSError as exc:
        raise _fail(f"cannot write {path}: {exc.strerror or exc}") from exc


def namespace_path(root: Path, name: str, fmt: str) -> Path:
    """Where a namespace's file goes: its name's `/` segments become directories."""
    target = (root / f"{name}.{fmt}").resolve()
    if not target.is_relative_to(root.resolve()):
        raise _fail(f"namespace name {name!r} does not map to a file inside {root}")
    return target


def write_directory(
    root: Path, items: Sequence[NamespaceExport], revision: int, fmt: str
) -> list[Path]:
    """One file per namespace; refuses a non-empty directory (stale files would be imported)."""
    if root.exists() and (not root.is_dir() or any(root.iterdir())):
        raise _fail(f"{root} exists and is not an empty directory; export into a new one")
    written = []
    try:
        root.mkdir(parents=True, exist_ok=True)
        for item in items:
            path = namespace_path(root, item.name, fmt)
            path.parent.mkdir(parents=True, exist_ok=True)
            data = {"format": FORMAT, "revision": revision, **item.as_data()}
            path.write_text(_serialize(data, fmt), encoding="utf-8")
            written.append(path)
    except OSError as exc:
        raise _fail(f"cannot write into {root}: {exc.strerror or exc}") from exc
    return written


def _entry(data: Any, where: str) -> NamespaceExport:
    if not isinstance(data, dict):
        raise _fail(f"{where}: a namespace entry must be an object with name, schema, document")
    name = data.get("name")
    if not isinstance(name, str) or not name:
        raise _fail(f"{where}: missing the namespace 'name'")
    document = data.get("document", {})
    if document is None:
        document = {}
    documents.require_object(document, source=f"{where} ({name})", what="a 'document' object")
    schema = data.get("schema")
    if schema is not None and not isinstance(schema, dict | bool):
        raise _fail(f"{where} ({name}): 'schema' must be a JSON Schema object")
    return NamespaceExport(name=name, schema=schema, document=document)


def _check_format(data: dict[str, Any], where: str) -> None:
    found = data.get("format")
    if found != FORMAT:
        raise _fail(
            f"{where} is not a configd export (format {found!r}, expected {FORMAT!r}); "
            "for a Consul export use --from-consul"
        )


def parse(data: Any, where: str) -> list[NamespaceExport]:
    """Entries from one file: a whole export or a single namespace's file."""
    if not isinstance(data, dict):
        raise _fail(
            f"{where} is not a configd export (expected an object, got "
            f"{documents.type_name(data)}); for a Consul export use --from-consul"
        )
    _check_format(data, where)
    if "namespaces" in data:
        entries = data["namespaces"]
        if not isinstance(entries, list):
            raise _fail(f"{where}: 'namespaces' must be a list")
        return [_entry(e, f"{where} namespaces[{i}]") for i, e in enumerate(entries)]
    return [_entry(data, where)]


def _files(root: Path) -> Iterable[Path]:
    for path in sorted(root.rglob("*")):
        if path.is_file() and path.suffix.lower() in ARCHIVE_SUFFIXES:
            yield path


def read(source: str) -> list[NamespaceExport]:
    """Every namespace in a file (`-` for stdin) or a directory tree; names must be unique."""
    items: list[NamespaceExport] = []
    root = Path(source)
    if source != "-" and root.is_dir():
        for path in _files(root):
            items.extend(parse(documents.load(str(path)), str(path)))
        if not items:
            raise _fail(f"{source} holds no export files (*.json, *.yaml)")
    else:
        items = parse(documents.load(source), source)
    seen: set[str] = set()
    for item in items:
        if item.name in seen:
            raise _fail(f"namespace {item.name} appears twice in {source}")
        seen.add(item.name)
    return items
