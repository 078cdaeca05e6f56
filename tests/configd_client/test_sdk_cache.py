"""The last-known-good cache file: atomic writes, strict reads, corrupt files ignored."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from configd_client import _cache

SELECTION = _cache.Selection(("app/prod",), ())
CONTENT = _cache.CacheContent(
    revision=42,
    selection=SELECTION,
    namespaces=(
        _cache.CachedNamespace(
            name="app/prod",
            create_revision=1,
            mod_revision=40,
            schema_version=1,
            schema_json="",
            texts={"a": "1", "big": str(2**70), "s": '"é"'},
        ),
    ),
)
LOG = logging.getLogger("configd_client")


def test_roundtrip_and_no_temp_files_left(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "cache.json"
    _cache.save(path, CONTENT)
    _cache.save(path, CONTENT)
    assert _cache.load(path, SELECTION, LOG) == CONTENT
    assert [p.name for p in path.parent.iterdir()] == ["cache.json"]


def test_missing_file_is_silently_none(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    assert _cache.load(tmp_path / "none.json", SELECTION, LOG) is None
    assert not caplog.records


@pytest.mark.parametrize(
    ("mangle", "reason"),
    [
        (lambda data: data[: len(data) // 2], "not JSON"),
        (lambda data: b"\xff\xfe garbage", "not JSON"),
        (lambda data: data.replace(b'\\"a\\": \\"1\\"', b'\\"a\\": \\"2\\"'), "checksum mismatch"),
        (lambda data: data.replace(b"configd-sdk-cache/1", b"configd-sdk-cache/9"), "format"),
        (lambda data: b"[]", "not a JSON object"),
    ],
)
def test_corrupt_file_is_ignored_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, mangle: object, reason: str
) -> None:
    path = tmp_path / "cache.json"
    _cache.save(path, CONTENT)
    path.write_bytes(mangle(path.read_bytes()))  # type: ignore[operator]
    assert _cache.load(path, SELECTION, LOG) is None
    [record] = caplog.records
    assert record.levelno == logging.WARNING
    assert record.getMessage().startswith(f"configd: the cache file {path} is corrupt ({reason}")


def test_cache_of_another_selection_is_ignored(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "cache.json"
    _cache.save(path, CONTENT)
    other = _cache.Selection(("app/dev",), ())
    assert _cache.load(path, other, LOG) is None
    assert "but this client watches ['app/dev']" in caplog.records[0].getMessage()


def test_selection_covers_names_and_prefixes() -> None:
    selection = _cache.Selection(("a",), ("p/",))
    assert selection.covers("a")
    assert selection.covers("p/x")
    assert not selection.covers("b")
