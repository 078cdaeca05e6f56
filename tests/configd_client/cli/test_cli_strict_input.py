"""Duplicate keys and non-JSON values in operator input are refused before anything is written.

JSON and YAML files get the same reason from the one strict reader (configd_client.wire.jsontext);
each case runs through the real command against a real server and checks that nothing changed.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cli_helpers import Configctl, write

from configd_client.cli.archive import FORMAT


def _state(configctl: Configctl, ns: str) -> tuple[str, int]:
    """The namespace's document and its number of history entries."""
    history = json.loads(configctl.ok("history", ns, "--all", "-o", "json").stdout)["entries"]
    return configctl.ok("get", ns, "--bare").stdout, len(history)


@pytest.fixture
def existing(configctl: Configctl, ns: str) -> str:
    configctl.ok("ns", "create", ns)
    configctl.ok("put", ns, "port", "8080")
    return ns


def _refused(configctl: Configctl, ns: str, args: list[str], message: str) -> None:
    before = _state(configctl, ns)
    run = configctl(*args)
    assert (run.code, run.errors[:1]) == (2, [f"Error: {message}"]), run
    assert _state(configctl, ns) == before


def test_put_refuses_a_literal_value_with_a_duplicate_key(
    configctl: Configctl, existing: str
) -> None:
    _refused(
        configctl,
        existing,
        ["put", existing, "db", '{"host": "a", "host": "b"}'],
        'VALUE must be JSON (duplicate key "host"); to store the text as a string, quote it: '
        + '\'"{\\"host\\": \\"a\\", \\"host\\": \\"b\\"}"\' (or use @FILE)',
    )


# (command, file name, file text, the reason given, where {path} is the file).
FILE_CASES = [
    (
        "put",
        "v.json",
        '{"host": "a",\n "host": "b"}',
        'invalid JSON in {path}: duplicate key "host"',
    ),
    (
        "put",
        "v.yaml",
        "host: a\nport: 1\nhost: b\n",
        'invalid YAML in {path}: duplicate key "host" at line 3 column 1',
    ),
    (
        "put",
        "v.yaml",
        "outer:\n  host: a\n  host: b\n",
        'invalid YAML in {path}: duplicate key "host" at line 3 column 3',
    ),
    ("put", "v.yaml", "ratio: .inf\n", "{path}: at /ratio: inf is not a JSON number"),
    ("apply", "d.json", '{"port": 1, "port": 2}', 'invalid JSON in {path}: duplicate key "port"'),
    (
        "apply",
        "d.yaml",
        "port: 1\nport: 2\n",
        'invalid YAML in {path}: duplicate key "port" at line 2 column 1',
    ),
]
COMMANDS = {
    "put": lambda ns, path: ["put", ns, "db", f"@{path}"],
    "apply": lambda ns, path: ["apply", ns, "-f", path, "--yes"],
}


@pytest.mark.parametrize(("command", "name", "text", "reason"), FILE_CASES)
def test_a_file_with_a_duplicate_key_or_a_non_json_value_is_refused(
    configctl: Configctl,
    existing: str,
    tmp_path: Path,
    command: str,
    name: str,
    text: str,
    reason: str,
) -> None:
    path = write(tmp_path, name, text)
    args = COMMANDS[command](existing, path)
    _refused(configctl, existing, args, reason.format(path=path))


def test_yaml_merge_keys_may_still_be_overridden(
    configctl: Configctl, existing: str, tmp_path: Path
) -> None:
    path = write(tmp_path, "d.yaml", "base: &b {port: 1, host: a}\nport: 2\n<<: *b\n")
    configctl.ok("apply", existing, "-f", path, "--yes")
    doc = json.loads(configctl.ok("get", existing, "--bare").stdout)
    assert doc == {"base": {"port": 1, "host": "a"}, "port": 2, "host": "a"}


@pytest.mark.parametrize(
    ("name", "template", "reason"),
    [
        (
            "x.json",
            '{{"format": "{format}", "name": "{ns}", "document": {{"port": 1, "port": 2}}}}',
            'invalid JSON in {path}: duplicate key "port"',
        ),
        (
            "x.yaml",
            "format: {format}\nname: {ns}\ndocument:\n  port: 1\n  port: 2\n",
            'invalid YAML in {path}: duplicate key "port" at line 5 column 3',
        ),
    ],
)
def test_import_refuses_a_file_with_a_duplicate_key(
    configctl: Configctl, existing: str, tmp_path: Path, name: str, template: str, reason: str
) -> None:
    path = write(tmp_path, name, template.format(format=FORMAT, ns=existing))
    _refused(configctl, existing, ["import", path, "--yes"], reason.format(path=path))
