"""`--force` against a running release, end to end: rollback, schema set, import and ns delete
abort it first (the abort carries -m); the preview of a forced apply, rollback or import
aborts it only once the person (or --yes) agrees; a dry run never aborts it, even with --force,
and says which release is in the way."""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

import pytest
from cli_helpers import Configctl, Interactive

_NAMES = itertools.count()


@pytest.fixture
def ns(configctl: Configctl, tmp_path: Path) -> str:
    """A namespace (pool 10, then 20) with a release of pool 50 running on it."""
    name = f"cli-force/app-{next(_NAMES)}"
    configctl.ok("ns", "create", name)
    configctl.ok("put", name, "pool", "10")
    configctl.ok("put", name, "pool", "20")
    staged = tmp_path / "staged.json"
    staged.write_text('{"pool": 50}')
    configctl.ok("release", "start", name, "-f", str(staged), "--select", "zone=eu")
    return name


def release(configctl: Configctl, ns: str) -> dict[str, Any]:
    data = json.loads(configctl.ok("release", "status", ns, "-o", "json").stdout)
    return dict(data["release"])


def history(configctl: Configctl, ns: str) -> list[dict[str, Any]]:
    return list(json.loads(configctl.ok("history", ns, "-o", "json").stdout)["entries"])


def pool(configctl: Configctl, ns: str) -> Any:
    return json.loads(configctl.ok("get", ns, "pool", "-o", "json").stdout)["value"]


def assert_aborted_by(configctl: Configctl, ns: str, message: str) -> None:
    assert release(configctl, ns)["state"] == "aborted"
    [abort] = [e for e in history(configctl, ns) if e["kind"] == "release-abort"]
    assert abort["message"] == f"aborted by a forced write: {message}"


def test_rollback_force_aborts_the_release_with_the_message(configctl: Configctl, ns: str) -> None:
    first = min(int(e["revision"]) for e in history(configctl, ns) if e["kind"] == "put")
    refused = configctl("rollback", ns, "--to", str(first), "--yes")
    assert refused.code == 6, refused
    assert release(configctl, ns)["state"] == "running"

    configctl.ok("rollback", ns, "--to", str(first), "--yes", "--force", "-m", "undo canary")
    assert_aborted_by(configctl, ns, "undo canary")
    assert history(configctl, ns)[0]["kind"] == "rollback"
    assert pool(configctl, ns) == 10


def test_schema_set_force_aborts_the_release_first(
    configctl: Configctl, ns: str, tmp_path: Path
) -> None:
    schema = tmp_path / "schema.json"
    schema.write_text('{"type": "object", "properties": {"pool": {"type": "integer"}}}')
    refused = configctl("schema", "set", ns, str(schema))
    assert refused.code == 6, refused
    assert "--force" in refused.stderr

    configctl.ok("schema", "set", ns, str(schema), "--force", "-m", "typed pool")
    assert_aborted_by(configctl, ns, "typed pool")
    assert history(configctl, ns)[0]["kind"] == "set-schema"


def test_import_force_aborts_the_release_first(
    configctl: Configctl, ns: str, tmp_path: Path
) -> None:
    export = tmp_path / "export.json"
    configctl.ok("export", ns, "-f", str(export))
    data = json.loads(export.read_text())
    text = json.dumps(data).replace('"pool": 20', '"pool": 30')
    assert text != json.dumps(data), data
    export.write_text(text)
    refused = configctl("import", str(export), "--yes")
    assert refused.code == 6, refused
    assert release(configctl, ns)["state"] == "running"

    configctl.ok("import", str(export), "--yes", "--force", "-m", "restore")
    assert_aborted_by(configctl, ns, "restore")
    assert pool(configctl, ns) == 30


def test_ns_delete_force_aborts_the_release_then_deletes(configctl: Configctl, ns: str) -> None:
    refused = configctl("ns", "delete", ns)
    assert refused.code == 6, refused
    assert release(configctl, ns)["state"] == "running"

    configctl.ok("ns", "delete", ns, "--force", "-m", "retired")
    kinds = [e["kind"] for e in history(configctl, ns)[:2]]
    assert kinds == ["delete-namespace", "release-abort"]
    [abort] = [e for e in history(configctl, ns) if e["kind"] == "release-abort"]
    assert abort["message"] == "aborted by a forced write: retired"
    assert configctl("get", ns).code == 5


def test_a_forced_write_without_m_says_so_in_the_abort(configctl: Configctl, ns: str) -> None:
    configctl.ok("put", ns, "pool", "3", "--force")
    assert_aborted_by(configctl, ns, "no message")


def previewed_write(configctl: Configctl, ns: str, tmp_path: Path, command: str) -> list[str]:
    """The arguments of an apply, rollback or import (each previews before it writes) that
    changes `ns`."""
    if command == "apply":
        new = tmp_path / "new.json"
        new.write_text('{"pool": 7}')
        return ["apply", ns, "-f", str(new)]
    if command == "rollback":
        first = min(int(e["revision"]) for e in history(configctl, ns) if e["kind"] == "put")
        return ["rollback", ns, "--to", str(first)]
    export = tmp_path / "export.json"
    configctl.ok("export", ns, "-f", str(export))
    export.write_text(export.read_text().replace('"pool": 20', '"pool": 30'))
    return ["import", str(export)]


@pytest.mark.parametrize("command", ["apply", "rollback", "import"])
def test_a_forced_write_without_yes_or_a_terminal_leaves_the_release_running(
    configctl: Configctl, ns: str, tmp_path: Path, command: str
) -> None:
    running = release(configctl, ns)
    before = history(configctl, ns)
    run = configctl(*previewed_write(configctl, ns, tmp_path, command), "--force")
    assert run.code == 9, run
    assert run.errors[-1] == (
        f"Error: refusing to abort release {running['id']} of {ns} without confirmation: "
        "stdin is not a terminal; pass --yes to confirm non-interactively"
    )
    assert release(configctl, ns)["state"] == "running"
    assert history(configctl, ns) == before


def test_a_forced_apply_asks_before_aborting_and_again_before_writing(
    configctl: Configctl, ns: str, tmp_path: Path
) -> None:
    running = release(configctl, ns)
    args = previewed_write(configctl, ns, tmp_path, "apply")
    declined = Interactive(configctl, *args, "--force", "-m", "hotfix")
    declined.wait_for(f"Abort release {running['id']} now, then review the change?")
    run = declined.answer("n")
    assert run.code == 9, run
    assert f"aborted; release {running['id']} still runs and nothing was written" in run.stderr
    assert release(configctl, ns)["state"] == "running"

    agreed = Interactive(configctl, *args, "--force", "-m", "hotfix")
    agreed.wait_for("Abort release")
    agreed.say("y")
    agreed.wait_for(f"Apply these changes to {ns}?")
    run = agreed.answer("n")
    assert run.code == 9, run
    assert [line.strip("\r") for line in run.stdout.splitlines()[1:4]] == [
        "~ pool:",
        "-   20",
        "+   7",
    ]
    assert_aborted_by(configctl, ns, "hotfix")
    assert pool(configctl, ns) == 20


@pytest.mark.parametrize("force", [(), ("--force",)], ids=["plain", "force"])
@pytest.mark.parametrize("command", ["apply", "rollback", "import"])
def test_a_dry_run_never_aborts_a_release_and_names_it(
    configctl: Configctl, ns: str, tmp_path: Path, command: str, force: tuple[str, ...]
) -> None:
    running = release(configctl, ns)
    before = history(configctl, ns)
    if command == "apply":
        new = tmp_path / "new.json"
        new.write_text('{"pool": 7}')
        args: tuple[str, ...] = ("apply", ns, "-f", str(new))
    elif command == "rollback":
        first = min(int(e["revision"]) for e in before if e["kind"] == "put")
        args = ("rollback", ns, "--to", str(first))
    else:
        export = tmp_path / "export.json"
        configctl.ok("export", ns, "-f", str(export))
        export.write_text(export.read_text().replace('"pool": 20', '"pool": 30'))
        args = ("import", str(export))
    run = configctl(*args, "--dry-run", *force, "-m", "try")
    assert run.code == 6, run
    assert run.errors[-1] == (
        f"Error: namespace {ns!r} is under release {running['id']}; a dry run never aborts "
        f"it, even with --force: end it with `configctl release abort {ns}` (or promote it), "
        "then run the dry run again"
    )
    assert release(configctl, ns)["state"] == "running"
    assert history(configctl, ns) == before
