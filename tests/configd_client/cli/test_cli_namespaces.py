"""`configctl ns create|list|delete` against a real server."""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from cli_helpers import Configctl, lines, write

SCHEMA_YAML = """\
type: object
properties:
  timeout_ms: {type: integer, minimum: 1}
additionalProperties: false
"""


def test_create_with_yaml_schema_then_list(configctl: Configctl, ns: str, tmp_path: Path) -> None:
    schema = write(tmp_path, "s.yaml", SCHEMA_YAML)
    run = configctl("ns", "create", ns, "--schema", schema, "-m", "new")
    assert run.code == 0
    assert run.stdout.startswith(f"created namespace {ns} at revision ")
    listing = configctl.ok("ns", "list", ns)
    table = lines(listing.stdout)
    assert table[0].split() == ["NAME", "KEYS", "REVISION", "SCHEMA", "CREATED"]
    assert table[1].split()[:2] == [ns, "0"]
    got = json.loads(configctl.ok("schema", "get", ns, "-o", "json").stdout)
    assert got["schema"] == yaml.safe_load(SCHEMA_YAML)


def test_list_machine_output_and_prefix(configctl: Configctl, ns: str) -> None:
    configctl.ok("ns", "create", f"{ns}/a")
    configctl.ok("ns", "create", f"{ns}/b")
    data = json.loads(configctl.ok("-o", "json", "ns", "list", f"{ns}/").stdout)
    assert [n["name"] for n in data["namespaces"]] == [f"{ns}/a", f"{ns}/b"]
    assert data["revision"] >= data["namespaces"][1]["create_revision"]
    data = yaml.safe_load(configctl.ok("ns", "list", f"{ns}/", "-o", "yaml").stdout)
    assert [n["key_count"] for n in data["namespaces"]] == [0, 0]
    empty = configctl.ok("ns", "list", f"{ns}/none/")
    assert empty.stdout == ""
    assert empty.errors == [f"no namespaces under '{ns}/none/'"]


def test_create_twice_is_a_conflict(configctl: Configctl, ns: str) -> None:
    configctl.ok("ns", "create", ns)
    run = configctl("ns", "create", ns)
    assert run.code == 6
    assert run.errors[0].startswith("Error: ")
    assert ns in run.errors[0]


def test_invalid_name_is_refused_by_the_server(configctl: Configctl) -> None:
    run = configctl("ns", "create", "Bad Name")
    assert run.code == 4
    assert run.errors[0].startswith("Error: ")


def test_invalid_schema_file(configctl: Configctl, ns: str, tmp_path: Path) -> None:
    bad_yaml = write(tmp_path, "bad.yaml", "type: [object\n")
    run = configctl("ns", "create", ns, "--schema", bad_yaml)
    assert run.code == 2
    assert run.errors[0].startswith(f"Error: invalid YAML in {bad_yaml}: ")
    not_schema = write(tmp_path, "list.json", "[1, 2]")
    run = configctl("ns", "create", ns, "--schema", not_schema)
    assert run.errors == [f"Error: {not_schema} must contain a JSON Schema (an object), not a list"]
    invalid = write(tmp_path, "invalid.json", '{"type": "objectx"}')
    run = configctl("ns", "create", ns, "--schema", invalid)
    assert run.code == 4
    missing = configctl("ns", "create", ns, "--schema", str(tmp_path / "nope.json"))
    assert missing.code == 2
    assert missing.errors[0].startswith("Error: cannot read ")


def test_delete_refuses_keys_unless_forced(configctl: Configctl, ns: str) -> None:
    configctl.ok("ns", "create", ns)
    configctl.ok("put", ns, "k", "1")
    run = configctl("ns", "delete", ns)
    assert run.code == 6
    assert configctl("ns", "delete", ns, "--force", "-m", "bye").code == 0
    gone = configctl("get", ns)
    assert gone.code == 5
    assert configctl("ns", "delete", ns).code == 5


def test_delete_with_stale_revision_is_refused(configctl: Configctl, ns: str) -> None:
    created = json.loads(configctl.ok("-o", "json", "ns", "create", ns).stdout)
    configctl.ok("put", ns, "k", "1")
    run = configctl("ns", "delete", ns, "--force", "--if-revision", str(created["revision"]))
    assert run.code == 6
