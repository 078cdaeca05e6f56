"""`configctl import --from-consul`: mapping, value decoding, report, malformed exports."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from cli_helpers import Configctl, lines, write

from configd_client.cli import consul
from configd_client.cli.exits import CliFailure


def _entry(key: str, value: str | bytes, flags: int = 0) -> dict[str, object]:
    raw = value.encode() if isinstance(value, str) else value
    return {"key": key, "flags": flags, "value": base64.b64encode(raw).decode()}


def _export(tmp_path: Path, prefix: str) -> str:
    entries = [
        _entry(f"{prefix}/", ""),
        _entry(f"{prefix}/prod/", ""),
        _entry(f"{prefix}/prod/db_url", "postgres://db/prod"),
        _entry(f"{prefix}/prod/pool", "20"),
        _entry(f"{prefix}/prod/features", '{"beta": true}'),
        _entry(f"{prefix}/prod/db/timeout", "1.5", flags=42),
        _entry(f"{prefix}/staging/debug", "true"),
        _entry("elsewhere/x", "1"),
    ]
    return write(tmp_path, "consul.json", json.dumps(entries))


def test_dry_run_report_then_import(configctl: Configctl, ns: str, tmp_path: Path) -> None:
    export = _export(tmp_path, "app")
    maps = ["--map", f"app/prod/={ns}/prod", "--map", f"app/staging/={ns}/staging"]
    dry = configctl.ok("import", "--from-consul", export, *maps, "--dry-run")
    assert lines(dry.stdout) == [
        "NAMESPACE" + " " * (len(ns) + 1) + "ACTION  SCHEMA  ADD  CHANGE  REMOVE  VALIDATION",
        f"{ns}/prod     create  -       4    0       0       ok",
        f"{ns}/staging  create  -       1    0       0       ok",
        "stored as JSON values (Consul text -> stored JSON) (4):",
        '  app/prod/pool: "20" -> 20',
        '  app/prod/features: "{\\"beta\\": true}" -> {"beta":true}',
        '  app/prod/db/timeout: "1.5" -> 1.5',
        '  app/staging/debug: "true" -> true',
        "stored as JSON strings (their values are not JSON) (1):",
        "  app/prod/db_url",
        "skipped: no --map rule matches (1):",
        "  elsewhere/x",
        "skipped: Consul folder entries (2):",
        "  app/",
        "  app/prod/",
        "Consul flags not carried over (1):",
        "  app/prod/db/timeout: flags 42",
    ]
    assert configctl("get", f"{ns}/prod").code == 5
    configctl.ok("import", "--from-consul", export, *maps, "--yes", "-m", "from consul")
    prod = json.loads(configctl.ok("get", f"{ns}/prod", "--bare").stdout)
    assert prod == {
        "db/timeout": 1.5,
        "db_url": "postgres://db/prod",
        "features": {"beta": True},
        "pool": 20,
    }
    assert json.loads(configctl.ok("get", f"{ns}/staging", "debug", "--bare").stdout) is True


def test_merges_into_an_existing_namespace(configctl: Configctl, ns: str, tmp_path: Path) -> None:
    configctl.ok("ns", "create", ns)
    configctl.ok("put", ns, "kept", '"mine"')
    configctl.ok("put", ns, "pool", "5")
    export = _export(tmp_path, "app")
    run = configctl(
        "-o", "json", "import", "--from-consul", export, "--map", f"app/prod/={ns}",
        "--values", "string", "--yes",
    )  # fmt: skip
    assert run.code == 0, run
    report = json.loads(run.stdout)
    assert report["namespaces"][0]["action"] == "update"
    assert report["consul"]["as_strings"] == []  # --values string: all strings, by request
    document = json.loads(configctl.ok("get", ns, "--bare").stdout)
    assert document["kept"] == "mine"
    assert document["pool"] == "20"


def test_schema_refuses_consul_values(configctl: Configctl, ns: str, tmp_path: Path) -> None:
    configctl.ok(
        "ns", "create", ns, "--schema",
        write(tmp_path, "s.json", '{"properties": {"pool": {"type": "string"}}}'),
    )  # fmt: skip
    run = configctl(
        "import", "--from-consul", _export(tmp_path, "app"), "--map", f"app/prod/={ns}", "--yes"
    )
    assert run.code == 4
    assert f"{ns}:" in run.errors
    assert any(
        line.startswith("  /pool: 20 ")
        and line.endswith("(keyword 'type') (Consul key app/prod/pool)")
        for line in run.errors
    ), run.errors


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "is not a Consul KV export: invalid JSON"),
        (
            '{"key": "a"}',
            'expected a JSON array of {"key", "flags", "value"} objects, got an object',
        ),
        ("[1]", "entry 0 is a number, not an object"),
        ('[{"value": ""}]', "entry 0 has no 'key' string"),
        ('[{"key": "a/b"}]', "entry 0 (a/b) has no 'value'"),
        ('[{"key": "a/b", "value": "!!"}]', "entry 0 (a/b): 'value' is not valid base64"),
        ('[{"key": "a/b", "value": "", "flags": "x"}]', "'flags' must be an integer"),
        ('[{"key": "a/\\nb", "value": "!!"}]', 'entry 0 ("a/\\nb"): \'value\' is not valid base64'),
    ],
)
def test_malformed_exports_are_refused(
    configctl: Configctl, tmp_path: Path, content: str, message: str
) -> None:
    path = write(tmp_path, "bad.json", content)
    run = configctl("import", "--from-consul", path, "--map", "a/=x/y", "--dry-run")
    assert run.code == 2
    assert len(run.errors) == 1
    assert run.errors[0].startswith("Error: ")
    assert message in run.errors[0]


def test_map_rules_are_required_and_checked(configctl: Configctl, tmp_path: Path) -> None:
    export = _export(tmp_path, "app")
    assert configctl("import", "--from-consul", export).errors == [
        "Error: give at least one --map PREFIX=NAMESPACE rule, e.g. --map 'app/prod/=app/prod'"
    ]
    assert configctl("import", "--from-consul", export, "--map", "app/").code == 2
    assert configctl("import", "x.json", "--map", "a=b").code == 2


def _rules(*texts: str) -> consul.Options:
    return consul.Options(rules=[consul.MapRule.parse(text) for text in texts])


def test_longest_prefix_wins_and_clashes_are_problems() -> None:
    entries = [
        consul.ConsulEntry("app/a", 0, b"1"),
        consul.ConsulEntry("app/special/a", 0, b"2"),
    ]
    mapping = consul.map_entries(entries, _rules("app/=ns/main", "app/special/=ns/sp"))
    assert mapping.documents == {"ns/main": {"a": 1}, "ns/sp": {"a": 2}}
    clash = consul.map_entries(entries, _rules("app/=ns", "app/special/=ns"))
    assert [note.line() for note in clash.problems] == [
        "  app/special/a: maps to the same key 'a' as Consul key app/a; adjust the --map rules"
    ]
    # Keys may contain '=': the rule splits at the last one.
    assert consul.MapRule.parse("a=b/=ns") == consul.MapRule("a=b/", "ns")
    # A prefix is a folder: the trailing '/' is implied.
    assert consul.MapRule.parse("app/prod=ns") == consul.MapRule("app/prod/", "ns")
    assert consul.MapRule.parse("=ns") == consul.MapRule("", "ns")
