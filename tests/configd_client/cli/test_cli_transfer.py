"""`configctl export` and `configctl import` (configd exports), against a real server."""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from cli_helpers import Configctl, lines, write

SCHEMA = '{"type": "object", "properties": {"port": {"type": "integer"}}}'


def _populate(configctl: Configctl, ns: str, tmp_path: Path) -> None:
    configctl.ok("ns", "create", f"{ns}/a", "--schema", write(tmp_path, "s.json", SCHEMA))
    configctl.ok("put", f"{ns}/a", "port", "8080")
    configctl.ok("ns", "create", f"{ns}/b/c")
    configctl.ok("put", f"{ns}/b/c", "big", "12345678901234567890")


def _doc(configctl: Configctl, name: str) -> object:
    return json.loads(configctl.ok("get", name, "--bare").stdout)


def test_export_directory_and_restore(configctl: Configctl, ns: str, tmp_path: Path) -> None:
    _populate(configctl, ns, tmp_path)
    out = tmp_path / "backup"
    run = configctl.ok("export", f"{ns}/", "-d", str(out))
    assert run.errors[-1].startswith("exported 2 namespaces at revision ")
    one = configctl.ok("export", f"{ns}/a", "-d", str(tmp_path / "one"))
    assert one.errors[-1].startswith("exported 1 namespace at revision ")
    files = sorted(str(p.relative_to(out)) for p in out.rglob("*.json"))
    assert files == [f"{ns}/a.json", f"{ns}/b/c.json"]
    exported = json.loads((out / f"{ns}/a.json").read_text())
    assert exported["name"] == f"{ns}/a"
    assert exported["schema"] == json.loads(SCHEMA)
    assert exported["document"] == {"port": 8080}
    # Drift, then restore from the export.
    configctl.ok("put", f"{ns}/a", "port", "9090")
    configctl.ok("put", f"{ns}/b/c", "extra", "true")
    dry = configctl.ok("import", str(out), "--dry-run")
    table = lines(dry.stdout)
    assert table[0].split() == [
        "NAMESPACE", "ACTION", "SCHEMA", "ADD", "CHANGE", "REMOVE", "VALIDATION"
    ]  # fmt: skip
    assert table[1].split() == [f"{ns}/a", "update", "-", "0", "1", "0", "ok"]
    assert table[2].split() == [f"{ns}/b/c", "update", "-", "0", "0", "1", "ok"]
    assert dry.errors == ["dry run: nothing was written"]
    assert _doc(configctl, f"{ns}/a") == {"port": 9090}
    assert configctl("import", str(out)).code == 9  # no terminal, no --yes
    run = configctl.ok("import", str(out), "--yes", "-m", "restore")
    assert _doc(configctl, f"{ns}/a") == {"port": 8080}
    assert _doc(configctl, f"{ns}/b/c") == {"big": 12345678901234567890}
    again = configctl.ok("import", str(out), "--yes")
    assert "nothing to change" in again.errors
    # A non-empty directory is not exported into.
    assert configctl("export", f"{ns}/", "-d", str(out)).code == 2


def test_single_file_yaml_export_into_new_namespaces(
    configctl: Configctl, ns: str, tmp_path: Path
) -> None:
    _populate(configctl, ns, tmp_path)
    path = tmp_path / "all.yaml"
    configctl.ok("export", f"{ns}/", "-f", str(path))
    data = yaml.safe_load(path.read_text())
    assert data["format"] == "configd-export/v1"
    assert [n["name"] for n in data["namespaces"]] == [f"{ns}/a", f"{ns}/b/c"]
    # Import the same content under new names: namespaces are created with their schema.
    for item in data["namespaces"]:
        item["name"] = item["name"].replace(ns, f"{ns}/copy", 1)
    copy = write(tmp_path, "copy.yaml", yaml.safe_dump(data))
    run = configctl("-o", "json", "import", copy, "--yes")
    assert run.code == 0, run
    report = json.loads(run.stdout)
    assert [(n["action"], n["status"]) for n in report["namespaces"]] == [
        ("create", "imported"),
        ("create", "imported"),
    ]
    assert _doc(configctl, f"{ns}/copy/a") == {"port": 8080}
    schema = json.loads(configctl.ok("schema", "get", f"{ns}/copy/a").stdout)
    assert schema == json.loads(SCHEMA)


def test_export_to_stdout(configctl: Configctl, ns: str, tmp_path: Path) -> None:
    _populate(configctl, ns, tmp_path)
    run = configctl.ok("export", f"{ns}/")
    assert json.loads(run.stdout)["namespaces"][1]["document"] == {"big": 12345678901234567890}


def test_schema_and_document_change_together(configctl: Configctl, ns: str, tmp_path: Path) -> None:
    configctl.ok("ns", "create", ns)
    configctl.ok("put", ns, "old", "1")
    # The new schema requires a key only the new document has: both change in one revision.
    archive = {
        "format": "configd-export/v1",
        "name": ns,
        "schema": {
            "type": "object",
            "required": ["new"],
            "properties": {"new": {"type": "string"}},
        },
        "document": {"new": "yes"},
    }
    path = write(tmp_path, "one.json", json.dumps(archive))
    table = lines(configctl.ok("import", path, "--dry-run").stdout)
    assert table[1].split() == [ns, "update", "change", "1", "0", "1", "ok"]
    before = json.loads(configctl.ok("history", ns, "-o", "json").stdout)
    configctl.ok("import", path, "--yes")
    assert _doc(configctl, ns) == {"new": "yes"}
    after = json.loads(configctl.ok("history", ns, "-o", "json").stdout)
    assert len(after["entries"]) == len(before["entries"]) + 1
    assert json.loads(configctl.ok("schema", "get", ns).stdout) == archive["schema"]


def test_failed_import_leaves_the_namespace_as_it_was(
    configctl: Configctl, ns: str, tmp_path: Path
) -> None:
    configctl.ok("ns", "create", ns)
    configctl.ok("put", ns, "port", "80")
    # The document does not satisfy the imported schema: refused before anything is written.
    archive = {
        "format": "configd-export/v1",
        "namespaces": [
            {
                "name": ns,
                "schema": {"type": "object", "properties": {"port": {"type": "integer"}}},
                "document": {"port": "eighty"},
            },
            {
                "name": f"{ns}/new",
                "schema": {"properties": {"n": {"type": "integer"}}},
                "document": {"n": "x"},
            },
        ],
    }
    path = write(tmp_path, "bad.json", json.dumps(archive))
    run = configctl("import", path, "--yes")
    assert run.code == 4
    assert f"{ns}:" in run.errors
    assert any(line.strip().startswith("/port: ") for line in run.errors), run.errors
    assert any(line.strip().startswith("/n: ") for line in run.errors), run.errors
    assert _doc(configctl, ns) == {"port": 80}
    schema_now = json.loads(configctl.ok("schema", "get", ns, "-o", "json").stdout)
    assert schema_now["schema"] != archive["namespaces"][0]["schema"]  # type: ignore[index]
    # A new namespace whose document fails its schema is not left behind either.
    only_new = dict(archive, namespaces=archive["namespaces"][1:])  # type: ignore[index]
    run = configctl("import", write(tmp_path, "new.json", json.dumps(only_new)), "--yes")
    assert run.code == 4
    assert configctl("get", f"{ns}/new").code == 5


def test_invalid_import_files(configctl: Configctl, tmp_path: Path) -> None:
    not_export = write(tmp_path, "x.json", '{"hello": 1}')
    run = configctl("import", not_export, "--dry-run")
    assert run.code == 2
    assert run.errors == [
        f"Error: {not_export} is not a configd export (format None, expected "
        "'configd-export/v1'); for a Consul export use --from-consul"
    ]
    broken = write(tmp_path, "b.yaml", "format: [\n")
    assert configctl("import", broken).code == 2
    empty = tmp_path / "empty"
    empty.mkdir()
    assert configctl("import", str(empty)).errors == [
        f"Error: {empty} holds no export files (*.json, *.yaml)"
    ]
    assert configctl("import").code == 2
