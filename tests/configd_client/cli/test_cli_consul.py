"""`configctl import --from-consul`: mapping, value decoding, report, malformed exports."""

from __future__ import annotations

import base64
import json
import shlex
from pathlib import Path

import pytest
from cli_helpers import Configctl, lines, write

from configd_client.cli import consul
from configd_client.wire import jsontext


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
        ('[{"key": "a/\\nb", "value": "!!"}]', "entry 0 (\"a/\\nb\"): 'value' is not valid base64"),
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
    assert configctl("import", "--from-consul", export, "--map", "app/=App/Prod").errors == [
        "Error: --map 'app/=App/Prod': the namespace 'App/Prod' is not a valid namespace name: "
        "use lowercase letters and digits, '.', '_' and '-' inside a segment, '/' between "
        "segments, no empty segment or '..'"
    ]


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


# Point 1: the dry run runs every check the import runs, and names every bad entry at once.

_BAD_KEY_LINES = [
    "  \"app/bad\\nkey\": its configd key 'bad\\nkey' contains the control character U+000A; "
    "keys cannot contain control characters",
    "  \"app/tab\\tkey\": its configd key 'tab\\tkey' contains the control character U+0009; "
    "keys cannot contain control characters",
    f"  app/{'k' * 96}... (304 bytes): its configd key is 300 bytes; a key has at most 256",
    "  app/huge: its value is 300002 bytes as JSON, over configd's limit of 262144 bytes "
    "for one value",
]


def _bad_keys_export(tmp_path: Path) -> str:
    entries = [
        _entry("app/good", "1"),
        _entry("app/bad\nkey", "1"),
        _entry("app/tab\tkey", "2"),
        _entry("app/" + "k" * 300, "3"),
        _entry("app/huge", "x" * 300_000),
        _entry("app/pool", "500"),
    ]
    return write(tmp_path, "bad-keys.json", json.dumps(entries))


@pytest.mark.parametrize("existing", [False, True], ids=["new-namespace", "existing-namespace"])
def test_dry_run_refuses_what_the_import_refuses_all_at_once(
    configctl: Configctl, ns: str, tmp_path: Path, existing: bool
) -> None:
    if existing:
        schema = '{"properties": {"pool": {"maximum": 200}}}'
        configctl.ok("ns", "create", ns, "--schema", write(tmp_path, "s.json", schema))
        configctl.ok("put", ns, "kept", "1")
    export = _bad_keys_export(tmp_path)
    args = ["import", "--from-consul", export, "--map", f"app/={ns}"]
    dry = configctl(*args, "--dry-run")
    real = configctl(*args, "--yes")
    assert dry.code == real.code == 4
    expected = ["Error: 4 Consul entries cannot be imported; nothing was written", *_BAD_KEY_LINES]
    expected.append("fix them in the export or the flags, or leave them out with --skip-invalid")
    if existing:  # the schema is checked too, in the same run, naming the Consul key
        expected += [
            f"and the import does not satisfy the schema of {ns}; nothing was written:",
            f"{ns}:",
            "  /pool: 500 is greater than the maximum of 200 (keyword 'maximum') "
            "(Consul key app/pool)",
        ]
    assert dry.errors == expected
    assert real.errors == expected
    for line in _BAD_KEY_LINES:  # each Consul key is named once
        key = line.split(":")[0].strip()
        assert sum(key in error for error in dry.errors) == 1, key
    if existing:
        assert json.loads(configctl.ok("get", ns, "--bare").stdout) == {"kept": 1}
    else:
        assert configctl("get", ns).code == 5


def test_skip_invalid_imports_the_rest_and_lists_what_it_left_out(
    configctl: Configctl, ns: str, tmp_path: Path
) -> None:
    args = ["import", "--from-consul", _bad_keys_export(tmp_path), "--map", f"app/={ns}"]
    dry = configctl.ok(*args, "--skip-invalid", "--dry-run")
    assert lines(dry.stdout)[2:] == [
        "stored as JSON values (Consul text -> stored JSON) (2):",
        '  app/good: "1" -> 1',
        '  app/pool: "500" -> 500',
        "skipped: cannot be imported (--skip-invalid) (4):",
        *_BAD_KEY_LINES,
    ]
    real = configctl.ok(*args, "--skip-invalid", "--yes")
    assert lines(real.stdout)[:-1] == lines(dry.stdout)
    assert json.loads(configctl.ok("get", ns, "--bare").stdout) == {"good": 1, "pool": 500}


# Point 2: --values auto never changes a number's text and reports every reinterpretation.


def test_values_auto_keeps_text_and_reports_every_reinterpretation(
    configctl: Configctl, ns: str, tmp_path: Path
) -> None:
    entries = [
        _entry("v/version", "1.10"),
        _entry("v/padded", " 42 \n"),
        _entry("v/nothing", "null"),
        _entry("v/zip", "007"),
        _entry("v/on", "true"),
        _entry("v/obj", '{"a": 1}'),
        _entry("v/rate", '{"rate": 2.50}'),
    ]
    export = write(tmp_path, "values.json", json.dumps(entries))
    args = ["import", "--from-consul", export, "--map", f"v/={ns}"]
    dry = configctl.ok(*args, "--dry-run")
    assert lines(dry.stdout)[2:] == [
        "stored as JSON values (Consul text -> stored JSON) (3):",
        '  v/nothing: "null" -> null',
        '  v/on: "true" -> true',
        '  v/obj: "{\\"a\\": 1}" -> {"a":1}',
        "stored as JSON strings: as JSON their text would change (3):",
        '  v/version: "1.10" (as JSON the number 1.10 would be stored as 1.1)',
        '  v/padded: " 42 \\n" (as JSON it would be 42; read it as JSON with --values-json)',
        '  v/rate: "{\\"rate\\": 2.50}" (as JSON the number 2.50 would be stored as 2.5)',
        "stored as JSON strings (their values are not JSON) (1):",
        "  v/zip",
    ]
    configctl.ok(*args, "--yes")
    assert json.loads(configctl.ok("get", ns, "--bare").stdout) == {
        "version": "1.10",
        "padded": " 42 \n",
        "nothing": None,
        "zip": "007",
        "on": True,
        "obj": {"a": 1},
        "rate": '{"rate": 2.50}',
    }


def test_values_per_prefix(configctl: Configctl, ns: str, tmp_path: Path) -> None:
    entries = [
        _entry("v/flags/beta", "true"),
        _entry("v/flags/port", "8080"),
        _entry("v/json/padded", " 42 \n"),
        _entry("v/json/list", "[1, 2]"),
        _entry("v/json/flags/x", "true"),  # the longer --values-string prefix wins
        _entry("v/other", "true"),
    ]
    export = write(tmp_path, "values.json", json.dumps(entries))
    args = [
        "import", "--from-consul", export, "--map", f"v/={ns}",
        "--values-string", "v/flags/", "--values-json", "v/json/",
        "--values-string", "v/json/flags/",
    ]  # fmt: skip
    run = configctl.ok(*args, "--yes")
    assert lines(run.stdout)[2:6] == [
        "stored as JSON values (Consul text -> stored JSON) (3):",
        '  v/json/padded: " 42 \\n" -> 42',
        '  v/json/list: "[1, 2]" -> [1,2]',
        '  v/other: "true" -> true',
    ]
    assert json.loads(configctl.ok("get", ns, "--bare").stdout) == {
        "flags/beta": "true",
        "flags/port": "8080",
        "json/padded": 42,
        "json/list": [1, 2],
        "json/flags/x": "true",
        "other": True,
    }
    # --values-json refuses what is not JSON, or JSON whose number text would change.
    bad = [_entry("v/json/name", "payments"), _entry("v/json/version", "1.10")]
    export = write(tmp_path, "bad.json", json.dumps(bad))
    run = configctl("import", "--from-consul", export, "--map", f"v/={ns}2",
                    "--values-json", "v/json/", "--dry-run")  # fmt: skip
    assert run.code == 4
    assert run.errors[1:3] == [
        "  v/json/name: its value is not JSON (Expecting value at line 1 column 1); it is read "
        "as JSON because of --values json or --values-json; keep it a string with "
        "--values-string",
        "  v/json/version: as JSON its number 1.10 would be stored as 1.1; keep it a string "
        "with --values-string",
    ]


# Point 3: a binary value is a choice, never an abort without a report.


def test_binary_values(configctl: Configctl, ns: str, tmp_path: Path) -> None:
    blob = b"\xff\xfe\x00binary"
    entries = [_entry("b/blob", blob), _entry("b/name", "x"), _entry("b/bad\tkey", "1")]
    export = write(tmp_path, "binary.json", json.dumps(entries))
    args = ["import", "--from-consul", export, "--map", f"b/={ns}"]
    run = configctl(*args, "--dry-run")
    assert run.code == 4
    assert run.errors[:3] == [
        "Error: 2 Consul entries cannot be imported; nothing was written",
        "  b/blob: its value is not UTF-8 text (9 bytes); configd stores JSON: skip it with "
        "--binary skip, or store it base64-encoded with --binary base64",
        "  \"b/bad\\tkey\": its configd key 'bad\\tkey' contains the control character "
        "U+0009; keys cannot contain control characters",
    ]
    skip = configctl.ok(*args, "--binary", "skip", "--skip-invalid", "--yes")
    assert "skipped: not UTF-8 text (--binary skip) (1):" in lines(skip.stdout)
    assert "  b/blob: 9 bytes" in lines(skip.stdout)
    assert json.loads(configctl.ok("get", ns, "--bare").stdout) == {"name": "x"}
    kept = configctl.ok(*args, "--binary", "base64", "--skip-invalid", "--yes")
    report = lines(kept.stdout)
    index = report.index('stored as {"base64": ...}: not UTF-8 text (--binary base64) (1):')
    assert report[index + 1] == "  b/blob: 9 bytes"
    stored = json.loads(configctl.ok("get", ns, "blob", "--bare").stdout)
    assert base64.b64decode(stored["base64"]) == blob


# Point 4: duplicates, prefixes, nesting, flags.


def test_duplicates_are_blamed_on_the_export(configctl: Configctl, ns: str, tmp_path: Path) -> None:
    entries = [
        _entry("d/a", "1"),
        _entry("d/b", "2"),
        _entry("d/a", "1"),
        _entry("d/b", "3"),
    ]
    export = write(tmp_path, "dup.json", json.dumps(entries))
    run = configctl("import", "--from-consul", export, "--map", f"d/={ns}", "--dry-run")
    assert run.code == 4
    assert run.errors[:2] == [
        "Error: 1 Consul entry cannot be imported; nothing was written",
        "  d/b: appears 2 times in the export (entries 1, 3) with different values or flags; "
        "keep one of them",
    ]
    assert "--map" not in run.errors[1]
    assert lines(run.stdout)[-2:] == [
        "skipped: repeated entries of the export (same value and flags) (1):",
        "  d/a: entry 2 repeats entry 0",
    ]


def test_a_prefix_is_a_folder(configctl: Configctl, ns: str, tmp_path: Path) -> None:
    entries = [_entry("app/prod/db_url", "x"), _entry("app/production/db_url", "y")]
    export = write(tmp_path, "prefix.json", json.dumps(entries))
    run = configctl.ok("import", "--from-consul", export, "--map", f"app/prod={ns}", "--yes")
    assert "  app/production/db_url" in lines(run.stdout)  # not matched: another folder
    assert json.loads(configctl.ok("get", ns, "--bare").stdout) == {"db_url": "x"}


def test_nest_makes_objects_a_strict_schema_accepts(
    configctl: Configctl, ns: str, tmp_path: Path
) -> None:
    schema = {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "db": {
                "type": "object",
                "additionalProperties": False,
                "properties": {"host": {"type": "string"}, "port": {"type": "integer"}},
            },
            "name": {"type": "string"},
        },
    }
    configctl.ok("ns", "create", ns, "--schema", write(tmp_path, "s.json", json.dumps(schema)))
    entries = [
        _entry("app/db/", ""),
        _entry("app/db/host", "db.internal"),
        _entry("app/db/port", "5432", flags=7),
        _entry("app/name", "payments"),
    ]
    export = write(tmp_path, "nested.json", json.dumps(entries))
    args = ["import", "--from-consul", export, "--map", f"app/={ns}"]
    flat = configctl(*args, "--dry-run")
    assert flat.code == 4
    assert flat.errors[2:] == [
        "  /db~1host: 'db/host' is not allowed here: the schema does not define it (keyword "
        "'additionalProperties'); check the spelling (Consul key app/db/host)",
        "  /db~1port: 'db/port' is not allowed here: the schema does not define it (keyword "
        "'additionalProperties'); check the spelling (Consul key app/db/port)",
    ]
    nested = configctl.ok(*args, "--nest", "--yes")
    assert lines(nested.stdout)[-3:-1] == [
        "Consul flags not carried over (1):",
        "  app/db/port: flags 7",
    ]
    assert json.loads(configctl.ok("get", ns, "--bare").stdout) == {
        "db": {"host": "db.internal", "port": 5432},
        "name": "payments",
    }
    # A key that has a value and keys under it cannot nest: both are named.
    clash = [_entry("app/db", "1"), _entry("app/db/host", "x")]
    run = configctl("import", "--from-consul", write(tmp_path, "c.json", json.dumps(clash)),
                    "--map", f"app/={ns}", "--nest", "--dry-run")  # fmt: skip
    assert run.errors[1] == (
        "  app/db/host: with --nest it goes inside key 'db', but Consul key app/db gives that "
        "key a value of its own"
    )


def test_consul_flags_need_from_consul(configctl: Configctl, tmp_path: Path) -> None:
    run = configctl("import", "x.json", "--nest", "--binary", "skip")
    assert run.code == 2
    assert run.errors[-1] == "Error: --binary, --nest only applies to --from-consul"


# The Consul-migration corpus: every awkward case in one export file.

CORPUS = str(Path(__file__).with_name("consul_corpus.json"))
_CORPUS_PROBLEMS = [
    "  corpus/svc/mode: appears 2 times in the export (entries 31, 32) with different values "
    "or flags; keep one of them",
    "  corpus/svc/blob: its value is not UTF-8 text (10 bytes); configd stores JSON: skip it "
    "with --binary skip, or store it base64-encoded with --binary base64",
    "  \"corpus/svc/bad\\nkey\": its configd key 'bad\\nkey' contains the control character "
    "U+000A; keys cannot contain control characters",
    "  \"corpus/svc/tab\\tkey\": its configd key 'tab\\tkey' contains the control character "
    "U+0009; keys cannot contain control characters",
    f"  corpus/svc/{'k' * 89}... (311 bytes): its configd key is 300 bytes; a key has at most 256",
]


def _corpus_entries() -> list[dict[str, object]]:
    entries: list[dict[str, object]] = json.loads(Path(CORPUS).read_text(encoding="utf-8"))
    return entries


def test_corpus_by_default_is_refused_with_every_problem(configctl: Configctl, ns: str) -> None:
    args = ["import", "--from-consul", CORPUS, "--map", f"corpus/svc/={ns}"]
    dry = configctl(*args, "--dry-run")
    real = configctl(*args, "--yes")
    assert dry.code == real.code == 4
    assert (
        dry.errors
        == real.errors
        == [
            "Error: 5 Consul entries cannot be imported; nothing was written",
            *_CORPUS_PROBLEMS,
            "fix them in the export or the flags, or leave them out with --skip-invalid",
        ]
    )
    assert dry.stdout == real.stdout
    assert configctl("get", ns).code == 5


def _value_at(document: dict[str, object], path: list[str]) -> object:
    value: object = document
    for part in path:
        assert isinstance(value, dict), path
        value = value[part]
    return value


@pytest.mark.parametrize("nest", [False, True], ids=["flat", "nest"])
def test_corpus_dry_run_is_the_import_and_export_reproduces_it(
    configctl: Configctl, ns: str, tmp_path: Path, nest: bool
) -> None:
    args = [
        "-o", "json", "import", "--from-consul", CORPUS, "--map", f"corpus/svc/={ns}",
        "--binary", "base64", "--skip-invalid", *(["--nest"] if nest else []),
    ]  # fmt: skip
    dry = configctl.ok(*args, "--dry-run")
    real = configctl.ok(*args, "--yes")
    planned, done = json.loads(dry.stdout), json.loads(real.stdout)
    # What the dry run says it will store and skip is what the import stored and skipped.
    assert planned["consul"] == done["consul"]
    for before, after in zip(planned["namespaces"], done["namespaces"], strict=True):
        assert {**before, "status": "", "revision": 0} == {**after, "status": "", "revision": 0}
    assert [p["status"] for p in done["namespaces"]] == ["imported"]
    report = done["consul"]
    assert [note["consul_key"].split("/")[-1][:4] for note in report["skipped_invalid"]] == [
        "mode", "bad\n", "tab\t", "kkkk",
    ]  # fmt: skip

    # configctl export reproduces every stored value exactly, and nothing else is there.
    out = tmp_path / "export.json"
    configctl.ok("export", ns, "-f", str(out))
    (exported,) = jsontext.loads(out.read_text(encoding="utf-8"))["namespaces"]
    document = exported["document"]
    stored = report["stored"]
    assert sorted(document) == sorted({item["path"][0] for item in stored})
    texts = {}
    for entry in _corpus_entries():
        texts.setdefault(entry["key"], base64.b64decode(str(entry["value"])))
    for item in stored:
        value = _value_at(document, item["path"])
        assert jsontext.dumps(value) == item["value_json"], item["consul_key"]
        original = texts[item["consul_key"]]
        if item["as"] == "string":
            assert value == original.decode(), item["consul_key"]
        elif item["as"] == "base64":
            assert isinstance(value, dict)
            assert base64.b64decode(value["base64"]) == original
    big = _value_at(document, ["big"])
    assert isinstance(big, str)
    assert len(big) == 200_000

    # Nothing changed without a report line: an entry is stored as its own text, or named.
    named = {note["consul_key"] for group, notes in report.items() if group != "stored"
             for note in notes}  # fmt: skip
    by_key = {item["consul_key"]: item for item in stored}
    for key, raw in texts.items():
        item = by_key.get(key)
        unchanged = (
            item is not None
            and item["as"] == "string"
            and jsontext.loads(item["value_json"]) == raw.decode("utf-8")
        )
        assert unchanged or key in named, key
    flagged = {note["consul_key"]: note["detail"] for note in report["flagged"]}
    assert flagged == {"corpus/svc/flagged": "flags 42"}


# Point 5: the README's "Moving from Consul" commands work as written.

README = Path(__file__).parents[3] / "README.md"


def _readme_section() -> str:
    text = README.read_text(encoding="utf-8")
    start = text.index("## Moving from Consul")
    return text[start : text.index("\n## ", start + 1)]


def _blocks(section: str, language: str) -> list[str]:
    parts = section.split("```")
    return [part.removeprefix(language + "\n") for part in parts[1::2] if part.startswith(language)]


def test_readme_moving_from_consul_works_as_written(
    configctl: Configctl, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    entries = [
        _entry("app/payments/", ""),
        _entry("app/payments/prod/", ""),
        _entry("app/payments/prod/db/host", "db.internal"),
        _entry("app/payments/prod/db/port", "5432"),
        _entry("app/payments/prod/version", "1.10"),
        _entry("app/payments/staging/db/host", "db.staging"),
    ]
    write(tmp_path, "consul.json", json.dumps(entries))  # what `consul kv export` wrote
    schema = {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "db": {"type": "object", "additionalProperties": False,
                   "properties": {"host": {"type": "string"}, "port": {"type": "integer"}}},
            "version": {"type": "string"},
        },
    }  # fmt: skip
    write(tmp_path, "payments-prod.schema.json", json.dumps(schema))
    (commands,) = _blocks(_readme_section(), "sh")
    joined = commands.replace("\\\n", " ")
    ran = []
    for line in joined.splitlines():
        command = shlex.split(line, comments=True)
        if not command or command[0] != "configctl":
            continue
        ran.append(command[1])
        configctl.ok(*command[1:])
    assert ran == ["import", "ns", "import", "export"]
    after = jsontext.loads((tmp_path / "payments-after-import.json").read_text(encoding="utf-8"))
    (exported,) = after["namespaces"]
    assert exported["document"] == {
        "db": {"host": "db.internal", "port": 5432},
        "version": "1.10",
    }
    (snippet,) = _blocks(_readme_section(), "python")
    namespace: dict[str, object] = {}
    exec(snippet.replace("127.0.0.1:7700", configctl.addr), namespace)
    assert namespace["db_host"] == "db.internal"
