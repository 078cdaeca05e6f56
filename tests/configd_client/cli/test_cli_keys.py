"""`configctl get`, `put` and `delete`."""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from cli_helpers import Configctl, lines, write

BIG = 12345678901234567890123


def test_put_get_delete_roundtrip(configctl: Configctl, ns: str) -> None:
    configctl.ok("ns", "create", ns)
    run = configctl.ok("put", ns, "limit", str(BIG), "-m", "raise")
    assert run.stdout.startswith(f"put {ns} limit at revision ")
    got = json.loads(configctl.ok("get", ns, "limit", "-o", "json").stdout)
    assert got["value"] == BIG  # exact, never through a float
    assert got["version"] == 1
    assert configctl.ok("get", ns, "limit", "--bare").stdout == f"{BIG}\n"
    table = lines(configctl.ok("get", ns, "limit").stdout)
    assert table[0].split() == ["KEY", "VALUE", "VERSION", "MODIFIED", "CREATED"]
    assert table[1].split()[:3] == ["limit", str(BIG), "1"]
    deleted = configctl.ok("delete", ns, "limit")
    assert deleted.stdout.startswith(f"deleted {ns} limit at revision ")
    missing = configctl("get", ns, "limit")
    assert missing.code == 5


def test_whole_namespace_views(configctl: Configctl, ns: str) -> None:
    configctl.ok("ns", "create", ns)
    configctl.ok("put", ns, "b", '{"x": [1, 2]}')
    configctl.ok("put", ns, "a", '"text"')
    table = lines(configctl.ok("get", ns).stdout)
    assert [row.split()[0] for row in table] == ["KEY", "a", "b"]
    assert table[2].split()[1] == '{"x":[1,2]}'
    data = json.loads(configctl.ok("-o", "json", "get", ns).stdout)
    assert data["document"] == {"a": "text", "b": {"x": [1, 2]}}
    assert set(data["keys"]) == {"a", "b"}
    bare = yaml.safe_load(configctl.ok("get", ns, "--bare", "-o", "yaml").stdout)
    assert bare == {"a": "text", "b": {"x": [1, 2]}}


def test_get_at_an_older_revision(configctl: Configctl, ns: str) -> None:
    configctl.ok("ns", "create", ns)
    first = json.loads(configctl.ok("put", ns, "k", "1", "-o", "json").stdout)["revision"]
    configctl.ok("put", ns, "k", "2")
    old = configctl.ok("get", ns, "k", "--revision", str(first), "--bare")
    assert old.stdout == "1\n"


def test_non_json_value_suggests_quoting(configctl: Configctl, ns: str) -> None:
    configctl.ok("ns", "create", ns)
    run = configctl("put", ns, "region", "eu-west-1")
    assert run.code == 2
    assert run.errors == [
        "Error: VALUE must be JSON (Expecting value at line 1 column 1); to store the text "
        "as a string, quote it: '\"eu-west-1\"' (or use @FILE)"
    ]
    assert configctl("put", ns, "n", "NaN").code == 2


def test_value_from_files_and_stdin(configctl: Configctl, ns: str, tmp_path: Path) -> None:
    configctl.ok("ns", "create", ns)
    configctl.ok("put", ns, "j", "@" + write(tmp_path, "v.json", '{"a": 1}'))
    configctl.ok("put", ns, "y", "@" + write(tmp_path, "v.yaml", "a: 2\nb: [x]\n"))
    assert configctl("put", ns, "s", "@-", stdin='"from stdin"').code == 0
    data = json.loads(configctl.ok("-o", "json", "get", ns).stdout)["document"]
    assert data == {"j": {"a": 1}, "s": "from stdin", "y": {"a": 2, "b": ["x"]}}


def test_schema_violation_lists_paths(configctl: Configctl, ns: str, tmp_path: Path) -> None:
    schema = write(tmp_path, "s.json", '{"properties": {"port": {"type": "integer"}}}')
    configctl.ok("ns", "create", ns, "--schema", schema)
    run = configctl("put", ns, "port", '"80"')
    assert run.code == 4
    assert run.errors[0].startswith("Error: ")
    # Each violation once, as `path: message`: the only one is in the Error line already.
    assert len(run.errors) == 1
    assert "/port: " in run.errors[0]
    assert run.errors[0].endswith("(keyword 'type'); nothing was stored")


def test_compare_and_set(configctl: Configctl, ns: str) -> None:
    configctl.ok("ns", "create", ns)
    assert configctl("put", ns, "k", "1", "--if-absent").code == 0
    assert configctl("put", ns, "k", "2", "--if-absent").code == 6
    rev = json.loads(configctl.ok("get", ns, "k", "-o", "json").stdout)["mod_revision"]
    assert configctl("put", ns, "k", "3", "--if-mod-revision", str(rev)).code == 0
    assert configctl("put", ns, "k", "4", "--if-mod-revision", str(rev)).code == 6
    assert configctl("delete", ns, "k", "--if-mod-revision", str(rev)).code == 6
    assert configctl.ok("get", ns, "k", "--bare").stdout == "3\n"


def test_unknown_namespace(configctl: Configctl, ns: str) -> None:
    for args in (("get", ns), ("get", ns, "k"), ("put", ns, "k", "1"), ("delete", ns, "k")):
        run = configctl(*args)
        assert run.code == 5, args
        assert len(run.errors) == 1


def test_console_script_put_and_get(configctl: Configctl, ns: str) -> None:
    assert configctl.script("ns", "create", ns).code == 0
    assert configctl.script("put", ns, "flag", "true").code == 0
    run = configctl.script("get", ns, "flag", "-o", "yaml")
    assert run.code == 0
    assert yaml.safe_load(run.stdout)["value"] is True
