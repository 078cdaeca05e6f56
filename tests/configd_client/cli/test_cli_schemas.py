"""`configctl schema get|set`."""

from __future__ import annotations

import json
from pathlib import Path

from cli_helpers import Configctl, write


def test_get_prints_a_schema_that_set_accepts(
    configctl: Configctl, ns: str, tmp_path: Path
) -> None:
    configctl.ok("ns", "create", ns, "--schema", write(tmp_path, "s.json", '{"type": "object"}'))
    printed = configctl.ok("schema", "get", ns).stdout
    assert json.loads(printed) == {"type": "object"}
    again = write(tmp_path, "again.json", printed)
    run = configctl.ok("schema", "set", ns, again, "-m", "same")
    assert run.stdout.startswith(f"schema of {ns} is now version 2 (revision ")
    old = json.loads(configctl.ok("schema", "get", ns, "--version", "1", "-o", "json").stdout)
    assert old["version"] == 1
    assert old["schema"] == {"type": "object"}


def test_set_refused_when_the_document_violates_it(
    configctl: Configctl, ns: str, tmp_path: Path
) -> None:
    configctl.ok("ns", "create", ns)
    configctl.ok("put", ns, "port", '"eighty"')
    strict = write(tmp_path, "strict.yaml", "type: object\nproperties:\n  port: {type: integer}\n")
    run = configctl("schema", "set", ns, strict)
    assert run.code == 4
    assert run.errors[0].startswith("Error: ")
    # Each violation once: the only one is in the Error line, so no list repeats it.
    assert len(run.errors) == 1, run.errors
    assert '/port: "eighty" is not of type "integer"' in run.errors[0]
    current = json.loads(configctl.ok("schema", "get", ns, "-o", "json").stdout)
    assert current["version"] == 1


def test_set_from_yaml_with_non_object(configctl: Configctl, ns: str, tmp_path: Path) -> None:
    configctl.ok("ns", "create", ns)
    scalar = write(tmp_path, "scalar.yaml", "just text\n")
    run = configctl("schema", "set", ns, scalar)
    assert run.code == 2
    assert run.errors == [f"Error: {scalar} must contain a JSON Schema (an object), not a string"]


def test_unknown_namespace(configctl: Configctl, ns: str, tmp_path: Path) -> None:
    assert configctl("schema", "get", ns).code == 5
    assert configctl("schema", "set", ns, write(tmp_path, "s.json", "{}")).code == 5
