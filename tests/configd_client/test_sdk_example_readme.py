"""examples/greeter/README.md works exactly as written: its shell blocks, run in order.

The fenced `sh` blocks are fed line by line to one bash (so `export`, `$!`, `kill` and `wait`
behave as in the reader's terminal), in a temporary copy of the example, against the real
`configd` and `configctl` of this venv, with CONFIGD_ADDR and GREETER_PORT (which the README
reads) set to free ports. Every command must exit 0; a `# text` after a command is output it
must print (a `curl` is repeated, within a deadline, until it does: a hot reload takes
milliseconds, not none). The reload lines the README shows must be in the service's log.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "examples" / "greeter" / "README.md"
STEP_TIMEOUT = 30.0
_FENCE = re.compile(r"^```(\w*)\n(.*?)^```$", re.S | re.M)
_EXPECTED = re.compile(r"^(?P<command>.*?\S)\s{2,}# (?P<expected>.*)$")


@dataclass(frozen=True)
class Step:
    line: str
    expected: str | None
    background: bool


def blocks(text: str, language: str) -> list[str]:
    return [body for lang, body in _FENCE.findall(text) if lang == language]


def steps(text: str) -> list[Step]:
    found = []
    for body in blocks(text, "sh"):
        for raw in body.splitlines():
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            match = _EXPECTED.match(line)
            command = match["command"] if match else line
            found.append(Step(line, match["expected"] if match else None, command.endswith("&")))
    return found


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Shell:
    """One bash reading commands from a pipe; each foreground command's output goes to a file."""

    def __init__(self, cwd: Path, env: dict[str, str], out: Path) -> None:
        self._out = out
        out.mkdir()
        self._log = (out / "bash.log").open("w")
        self.process = subprocess.Popen(
            ["bash", "--norc", "--noprofile"],
            cwd=cwd,
            env=env,
            stdin=subprocess.PIPE,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,  # its background jobs too: close() ends the whole group
        )
        self._count = 0

    def run(self, line: str, background: bool) -> tuple[int, str]:
        """Send `line`; wait (deadline STEP_TIMEOUT) for its exit status and output."""
        self._count += 1
        output = self._out / f"{self._count}.out"
        status = self._out / f"{self._count}.rc"
        assert self.process.stdin is not None
        if background:
            script = f"{line}\necho 0 > {status}\n"
        else:
            script = f"{{ {line}\n}} > {output} 2>&1 < /dev/null; echo $? > {status}\n"
        self.process.stdin.write(script)
        self.process.stdin.flush()
        deadline = time.monotonic() + STEP_TIMEOUT
        while not (status.exists() and status.read_text().endswith("\n")):
            if time.monotonic() > deadline or self.process.poll() is not None:
                raise AssertionError(f"no result within {STEP_TIMEOUT}s: {line}")
            time.sleep(0.02)
        text = output.read_text() if output.exists() else ""
        return int(status.read_text()), text

    def close(self) -> None:
        group = self.process.pid
        with contextlib.suppress(ProcessLookupError):
            os.killpg(group, signal.SIGTERM)
        try:
            self.process.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(group, signal.SIGKILL)
            self.process.wait(5)
        finally:
            assert self.process.stdin is not None
            with contextlib.suppress(BrokenPipeError):
                self.process.stdin.close()
            self._log.close()


def test_the_readme_is_parsed_into_the_steps_a_reader_runs() -> None:
    parsed = steps(README.read_text())
    assert parsed[0].line.startswith("export CONFIGD_ADDR=")
    assert [s.expected for s in parsed if s.expected] == [
        "hello, ada!",
        "GOOD MORNING, ADA!",
        '{"state": "from-cache", "revision": 4, "source": "cache",',
        "GOOD MORNING, ADA!",
        "good morning, ada!",
    ]
    assert sum(s.background for s in parsed) == 4


@pytest.mark.skipif(shutil.which("curl") is None, reason="the README uses curl")
def test_the_greeter_readme_runs_exactly_as_written(tmp_path: Path) -> None:
    work = tmp_path / "repo"
    shutil.copytree(ROOT / "examples" / "greeter", work / "examples" / "greeter")
    temp = tmp_path / "tmp"
    temp.mkdir()
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("CONFIGD_") and key != "GREETER_PORT"
    }
    env.update(
        PATH=f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
        TMPDIR=str(temp),
        CONFIGD_ADDR=f"127.0.0.1:{free_port()}",
        GREETER_PORT=str(free_port()),
    )
    shell = Shell(work, env, tmp_path / "steps")
    text = README.read_text()
    try:
        _run_steps(shell, steps(text), temp)
        (demo,) = temp.iterdir()  # mktemp -d made exactly one directory: $DEMO
        log = (demo / "greeter.log").read_text().splitlines()
        (shown,) = [b for b in blocks(text, "") if "hot reload" in b]
        for expected in shown.splitlines():
            assert any(line.endswith(expected) for line in log), f"{expected!r} not in {log}"
        assert "configuration loaded (from-cache) at revision 4" in "\n".join(log)
    finally:
        shell.close()


def _run_steps(shell: Shell, parsed: list[Step], temp: Path) -> None:
    try:
        for step in parsed:
            deadline = time.monotonic() + STEP_TIMEOUT
            while True:
                code, output = shell.run(step.line, step.background)
                assert code == 0, f"{step.line}\nexit {code}:\n{output}"
                if step.expected is None or step.expected in output:
                    break
                if not step.line.startswith("curl") or time.monotonic() > deadline:
                    raise AssertionError(f"{step.line}\nexpected {step.expected!r}, got:\n{output}")
                time.sleep(0.05)
    except AssertionError as exc:
        # The servers' own logs say why a step failed or hung; show their last lines.
        tails = [
            f"--- {path.name}:\n" + "\n".join(path.read_text().splitlines()[-15:])
            for path in sorted(temp.rglob("*.log"))
        ]
        raise AssertionError("\n".join([str(exc), *tails])) from None
