"""The last-known-good cache file: the latest published snapshot, for starting without a server.

Written atomically (temp file in the same directory, fsync, rename, fsync of the directory), so
a crash leaves the old file or the new one, never a torn one. The body carries a SHA-256, and a
file that fails to parse, to match its checksum or to match this client's watch selection is
ignored with a logged warning: a bad cache must never stop a service from starting normally.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from configd_client.wire import jsontext

FORMAT = "configd-sdk-cache/1"


@dataclass(frozen=True, slots=True)
class Selection:
    """What a client watches: exact namespace names and name prefixes (both sorted)."""

    namespaces: tuple[str, ...]
    prefixes: tuple[str, ...]

    def covers(self, name: str) -> bool:
        return name in self.namespaces or any(name.startswith(p) for p in self.prefixes)


@dataclass(frozen=True, slots=True)
class CachedNamespace:
    name: str
    create_revision: int
    mod_revision: int
    schema_version: int
    schema_json: str
    texts: Mapping[str, str]  # key -> JSON text of its value


@dataclass(frozen=True, slots=True)
class CacheContent:
    revision: int
    selection: Selection
    namespaces: tuple[CachedNamespace, ...]
    # When the file was written (its mtime), set by load(); not part of the content.
    written_at: datetime | None = field(default=None, compare=False)


def encode(content: CacheContent) -> bytes:
    body = json.dumps(
        {
            "revision": content.revision,
            "namespaces_watched": list(content.selection.namespaces),
            "prefixes_watched": list(content.selection.prefixes),
            "namespaces": [
                {
                    "name": ns.name,
                    "create_revision": ns.create_revision,
                    "mod_revision": ns.mod_revision,
                    "schema_version": ns.schema_version,
                    "schema_json": ns.schema_json,
                    "document": dict(ns.texts),
                }
                for ns in content.namespaces
            ],
        },
        ensure_ascii=False,
        sort_keys=True,
    )
    digest = hashlib.sha256(body.encode()).hexdigest()
    return json.dumps({"format": FORMAT, "sha256": digest, "body": body}).encode() + b"\n"


class _CorruptCache(ValueError):
    pass


def _require(condition: bool, what: str) -> None:
    if not condition:
        raise _CorruptCache(what)


def _int(value: Any, what: str) -> int:
    _require(isinstance(value, int) and not isinstance(value, bool) and value >= 0, what)
    return int(value)


def decode(data: bytes) -> CacheContent:
    """Parse and check a cache file's bytes; raises ValueError on anything unexpected."""
    try:
        outer = jsontext.loads(data.decode())
    except (UnicodeDecodeError, jsontext.JSONTextError) as exc:
        raise _CorruptCache(f"not JSON ({exc})") from None
    _require(isinstance(outer, dict), "not a JSON object")
    _require(outer.get("format") == FORMAT, f"format is not {FORMAT!r}")
    body = outer.get("body")
    _require(isinstance(body, str), "no body")
    digest = hashlib.sha256(body.encode()).hexdigest()
    _require(outer.get("sha256") == digest, "checksum mismatch")
    try:
        raw = jsontext.loads(body)
    except jsontext.JSONTextError as exc:
        raise _CorruptCache(f"body is not JSON ({exc})") from None
    _require(isinstance(raw, dict), "body is not an object")
    watched = raw.get("namespaces_watched")
    prefixes = raw.get("prefixes_watched")
    _require(isinstance(watched, list) and all(isinstance(n, str) for n in watched), "selection")
    _require(isinstance(prefixes, list) and all(isinstance(p, str) for p in prefixes), "prefixes")
    items = raw.get("namespaces")
    _require(isinstance(items, list), "namespaces")
    namespaces: list[CachedNamespace] = []
    for item in items:
        _require(isinstance(item, dict), "namespace entry")
        document = item.get("document")
        _require(
            isinstance(document, dict)
            and all(isinstance(k, str) and isinstance(v, str) for k, v in document.items()),
            "document",
        )
        name = item.get("name")
        schema_json = item.get("schema_json")
        _require(isinstance(name, str) and isinstance(schema_json, str), "name or schema")
        namespaces.append(
            CachedNamespace(
                name=name,
                create_revision=_int(item.get("create_revision"), "create_revision"),
                mod_revision=_int(item.get("mod_revision"), "mod_revision"),
                schema_version=_int(item.get("schema_version"), "schema_version"),
                schema_json=schema_json,
                texts=dict(document),
            )
        )
    return CacheContent(
        revision=_int(raw.get("revision"), "revision"),
        selection=Selection(tuple(watched), tuple(prefixes)),
        namespaces=tuple(namespaces),
    )


def load(path: Path, selection: Selection, logger: logging.Logger) -> CacheContent | None:
    """The cache at `path`, or None if it is missing, unreadable, corrupt or for another watch."""
    try:
        data = path.read_bytes()
        written_at = datetime.fromtimestamp(path.stat().st_mtime, UTC)
    except FileNotFoundError:
        return None
    except OSError as exc:
        logger.warning("configd: cannot read the cache file %s (%s); ignoring it", path, exc)
        return None
    try:
        content = decode(data)
    except ValueError as exc:
        logger.warning(
            "configd: the cache file %s is corrupt (%s); ignoring it, it will be rewritten",
            path,
            exc,
        )
        return None
    if content.selection != selection:
        logger.warning(
            "configd: the cache file %s holds namespaces %s and prefixes %s, but this client "
            "watches %s and %s; ignoring it",
            path,
            list(content.selection.namespaces),
            list(content.selection.prefixes),
            list(selection.namespaces),
            list(selection.prefixes),
        )
        return None
    return replace(content, written_at=written_at)


def save(path: Path, content: CacheContent) -> None:
    """Replace the file at `path` atomically and durably with `content`."""
    data = encode(content)
    directory = path.parent
    directory.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as tmp:
            tmp.write(data)
            tmp.flush()
            os.fsync(tmp.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp_name)
        raise
    _fsync_directory(directory)


def _fsync_directory(directory: Path) -> None:
    # The rename is durable only once the directory entry is; not possible on every platform.
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        with contextlib.suppress(OSError):
            os.fsync(fd)
    finally:
        os.close(fd)
