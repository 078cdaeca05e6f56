"""`configctl --request-id`: running a write command again with the same id stores nothing
twice (the server answers with the original revisions), and a bad id is refused in the CLI's
words."""

from __future__ import annotations

import json
import uuid

from cli_helpers import Configctl


def test_a_command_run_again_with_its_request_id_writes_once(configctl: Configctl, ns: str) -> None:
    base = uuid.uuid4().hex
    created = json.loads(
        configctl.ok("--request-id", base, "-o", "json", "ns", "create", ns).stdout
    )
    # Its first write sends the id itself; a second write of the same command would send ID.2.
    put = ["--request-id", f"{base}-put", "-o", "json", "put", ns, "k", "1", "-m", "first"]
    first = json.loads(configctl.ok(*put).stdout)["revision"]
    again = json.loads(configctl.ok(*put).stdout)["revision"]
    assert again == first
    again_ns = json.loads(
        configctl.ok("--request-id", base, "-o", "json", "ns", "create", ns).stdout
    )
    assert again_ns["revision"] == created["revision"]
    history = json.loads(configctl.ok("-o", "json", "history", ns).stdout)
    assert [entry["revision"] for entry in history["entries"]] == [first, created["revision"]]


def test_a_reused_or_bad_request_id_is_refused_in_the_clis_words(
    configctl: Configctl, ns: str
) -> None:
    configctl.ok("ns", "create", ns)
    used = uuid.uuid4().hex
    configctl.ok("--request-id", used, "put", ns, "k", "1")
    reused = configctl("--request-id", used, "put", ns, "k", "2")
    assert reused.code == 6
    assert f"request id '{used}' was used for a different write" in reused.stderr
    bad = configctl("--request-id", "x" * 200, "put", ns, "k", "2")
    assert bad.code == 4
    assert "--request-id has 200 characters, over the limit of 128" in bad.stderr
    assert json.loads(configctl.ok("-o", "json", "get", ns, "k").stdout)["value"] == 1
