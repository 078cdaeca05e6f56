"""`configctl apply`, `diff` and `rollback`: review, confirmation, and the revision guard."""

from __future__ import annotations

import json
from pathlib import Path

from cli_helpers import Configctl, Interactive, lines, write

SCHEMA = """\
type: object
properties:
  timeout_ms: {type: integer, minimum: 1}
  region: {type: string}
  limits: {type: object}
required: [timeout_ms]
additionalProperties: false
"""

DOC = """\
timeout_ms: 2500
region: eu-west-1
limits: {max: 10, burst: 12345678901234567890}
"""


def _setup(configctl: Configctl, ns: str, tmp_path: Path) -> str:
    configctl.ok("ns", "create", ns, "--schema", write(tmp_path, "schema.yaml", SCHEMA))
    return write(tmp_path, "doc.yaml", DOC)


def _document(configctl: Configctl, ns: str) -> dict[str, object]:
    return dict(json.loads(configctl.ok("get", ns, "--bare").stdout))


def test_apply_shows_the_diff_and_publishes_one_revision(
    configctl: Configctl, ns: str, tmp_path: Path
) -> None:
    doc = _setup(configctl, ns, tmp_path)
    run = configctl("apply", ns, "-f", doc, "--yes", "-m", "first")
    assert run.code == 0, run
    out = lines(run.stdout)
    assert out[0].startswith(f"{ns}: 3 to add, 0 to change, 0 to remove (against revision ")
    assert out[1:4] == [
        '+ limits: {"max": 10, "burst": 12345678901234567890}',
        '+ region: "eu-west-1"',
        "+ timeout_ms: 2500",
    ]
    assert out[4].startswith(f"applied {ns} at revision ")
    history = json.loads(configctl.ok("history", ns, "-o", "json").stdout)["entries"]
    assert history[0]["kind"] == "apply"
    assert history[0]["message"] == "first"
    assert sorted(history[0]["keys"]) == ["limits", "region", "timeout_ms"]
    again = configctl.ok("apply", ns, "-f", doc, "--yes")
    assert lines(again.stdout)[0].endswith(
        "no changes (against revision " + out[4].split()[-1] + ")"
    )


def test_apply_without_a_terminal_needs_yes(configctl: Configctl, ns: str, tmp_path: Path) -> None:
    doc = _setup(configctl, ns, tmp_path)
    run = configctl("apply", ns, "-f", doc)
    assert run.code == 9
    assert run.errors == [
        "Error: refusing to write without confirmation: stdin is not a terminal; "
        "pass --yes to confirm non-interactively"
    ]
    assert _document(configctl, ns) == {}


def test_dry_run_writes_nothing(configctl: Configctl, ns: str, tmp_path: Path) -> None:
    doc = _setup(configctl, ns, tmp_path)
    run = configctl("apply", ns, "-f", doc, "--dry-run", "-o", "json")
    assert run.code == 0
    data = json.loads(run.stdout)
    assert data["dry_run"] is True
    assert data["valid"] is True
    assert [c["key"] for c in data["changes"]] == ["limits", "region", "timeout_ms"]
    assert data["changes"][0]["new"]["burst"] == 12345678901234567890
    assert _document(configctl, ns) == {}


def test_schema_violation_is_listed_and_nothing_written(
    configctl: Configctl, ns: str, tmp_path: Path
) -> None:
    _setup(configctl, ns, tmp_path)
    bad = write(tmp_path, "bad.yaml", "timeout_ms: 0\nregion: 5\ntypo: yes\n")
    run = configctl("apply", ns, "-f", bad, "--yes")
    assert run.code == 4
    assert run.errors[0] == (
        f"Error: the document does not satisfy the schema of {ns}; nothing was written"
    )
    # One `path: message` line per violation (the message wording is the server's).
    assert [line.split(": ", 1)[0] for line in run.errors[1:]] == [
        "/region",
        "/timeout_ms",
        "/typo",
    ]
    assert "(keyword 'minimum')" in run.errors[2]
    assert _document(configctl, ns) == {}


def test_invalid_and_non_object_input(configctl: Configctl, ns: str, tmp_path: Path) -> None:
    _setup(configctl, ns, tmp_path)
    broken = write(tmp_path, "broken.yaml", "timeout_ms: [1\n")
    run = configctl("apply", ns, "-f", broken, "--yes")
    assert run.code == 2
    assert run.errors[0].startswith(f"Error: invalid YAML in {broken}: ")
    assert "line 2" in run.errors[0]
    listing = write(tmp_path, "list.yaml", "- a\n- b\n")
    run = configctl("apply", ns, "-f", listing, "--yes")
    assert run.errors == [
        f"Error: {listing} must contain a namespace document (a JSON/YAML object of "
        "key: value), not a list"
    ]
    dated = write(tmp_path, "dated.yaml", "timeout_ms: 1\nregion: 2024-01-31\n")
    run = configctl("diff", ns, "-f", dated)
    assert run.code == 2
    assert run.errors == [
        f"Error: {dated}: at /region: YAML read 2024-01-31 as a date; quote it to keep a string"
    ]
    bad_json = write(tmp_path, "bad.json", '{"timeout_ms": 1, "timeout_ms": 2}')
    run = configctl("diff", ns, "-f", bad_json)
    assert run.errors == [f'Error: invalid JSON in {bad_json}: duplicate key "timeout_ms"']


def test_diff_exit_codes(configctl: Configctl, ns: str, tmp_path: Path) -> None:
    doc = _setup(configctl, ns, tmp_path)
    assert configctl("diff", ns, "-f", doc).code == 1
    configctl.ok("apply", ns, "-f", doc, "--yes")
    same = configctl("diff", ns, "-f", doc)
    assert same.code == 0
    changed = write(tmp_path, "changed.json", '{"timeout_ms": 3000, "region": "eu-west-1"}')
    run = configctl("diff", ns, "-f", changed)
    assert run.code == 1
    assert lines(run.stdout)[1:] == [
        '- limits: {"max": 10, "burst": 12345678901234567890}',
        "~ timeout_ms:",
        "-   2500",
        "+   3000",
    ]
    invalid = write(tmp_path, "invalid.json", '{"timeout_ms": "soon"}')
    assert configctl("diff", ns, "-f", invalid).code == 4
    assert configctl("diff", f"{ns}-missing", "-f", doc).code == 5


def test_diff_reads_stdin(configctl: Configctl, ns: str, tmp_path: Path) -> None:
    _setup(configctl, ns, tmp_path)
    run = configctl("diff", ns, "-f", "-", "-o", "json", stdin='{"timeout_ms": 5}')
    assert run.code == 1
    assert json.loads(run.stdout)["changes"] == [{"key": "timeout_ms", "op": "add", "new": 5}]


def test_interactive_confirmation(configctl: Configctl, ns: str, tmp_path: Path) -> None:
    doc = _setup(configctl, ns, tmp_path)
    declined = Interactive(configctl, "apply", ns, "-f", doc)
    declined.wait_for("[y/N]")
    run = declined.answer("n")
    assert run.code == 9
    assert "Error: aborted; nothing was written" in run.stderr
    assert _document(configctl, ns) == {}
    accepted = Interactive(configctl, "apply", ns, "-f", doc, "-m", "by hand")
    accepted.wait_for("[y/N]")
    run = accepted.answer("y")
    assert run.code == 0, run
    assert f"applied {ns} at revision" in run.stdout
    assert _document(configctl, ns)["timeout_ms"] == 2500


def test_apply_conflict_when_the_namespace_changes_after_the_diff(
    configctl: Configctl, ns: str, tmp_path: Path
) -> None:
    doc = _setup(configctl, ns, tmp_path)
    session = Interactive(configctl, "apply", ns, "-f", doc)
    session.wait_for("[y/N]")  # the diff has been shown
    configctl.ok("put", ns, "timeout_ms", "7")  # someone else publishes meanwhile
    run = session.answer("y")
    assert run.code == 6
    # The prompt line ends where the terminal echoed the answer; the error follows it.
    error = run.stderr[run.stderr.index("Error: ") :].splitlines()[0]
    assert error.startswith(f"Error: {ns} changed since the diff was computed (at revision ")
    assert error.endswith("); nothing was written. Run the command again to review the new diff.")
    assert _document(configctl, ns) == {"timeout_ms": 7}


def test_apply_to_unknown_namespace(configctl: Configctl, ns: str, tmp_path: Path) -> None:
    doc = write(tmp_path, "doc.json", '{"a": 1}')
    run = configctl("apply", ns, "-f", doc, "--yes")
    assert run.code == 5
    assert len(run.errors) == 1


def test_rollback_restores_an_older_document(configctl: Configctl, ns: str, tmp_path: Path) -> None:
    doc = _setup(configctl, ns, tmp_path)
    first = json.loads(configctl.ok("apply", ns, "-f", doc, "--yes", "-o", "json").stdout)
    configctl.ok("put", ns, "timeout_ms", "9")
    configctl.ok("delete", ns, "region")
    dry = configctl.ok("rollback", ns, "--to", str(first["revision"]), "--dry-run")
    assert lines(dry.stdout)[1:] == ['+ region: "eu-west-1"', "~ timeout_ms:", "-   9", "+   2500"]
    assert configctl("rollback", ns, "--to", str(first["revision"])).code == 9
    run = configctl.ok("rollback", ns, "--to", str(first["revision"]), "--yes", "-m", "undo")
    assert f"rolled back {ns} to its document of revision {first['revision']}" in run.stdout
    assert _document(configctl, ns)["timeout_ms"] == 2500
    assert configctl("rollback", ns, "--to", "999999999", "--yes").code in (5, 8)
