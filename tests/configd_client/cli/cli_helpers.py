"""configctl test helpers: run it in-process (click's CliRunner) or as the real console script.

Every test talks to a real configd process (`shared_server`, one per module, from
tests/conftest.py); tests use distinct namespaces (`ns`) so they do not interfere.
"""

from __future__ import annotations

import os
import pty
import queue
import select
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from click.testing import CliRunner

from configd_client.cli import cli

CONFIGCTL = str(Path(sys.executable).parent / "configctl")


@dataclass(frozen=True)
class Run:
    code: int
    stdout: str
    stderr: str

    @property
    def errors(self) -> list[str]:
        """stderr as lines, for exact assertions on error messages."""
        return self.stderr.splitlines()


class Configctl:
    """configctl pointed at one server; `__call__` runs in-process, `script` runs the binary."""

    def __init__(self, addr: str) -> None:
        self.addr = addr

    def __call__(self, *args: str, stdin: str | None = None) -> Run:
        result = CliRunner().invoke(
            cli, ["--addr", self.addr, *args], input=stdin, catch_exceptions=False
        )
        return Run(result.exit_code, result.stdout, result.stderr)

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env["CONFIGD_ADDR"] = self.addr
        env.pop("CONFIGD_TOKEN", None)
        return env

    def script(self, *args: str, stdin: str | None = None, timeout: float = 60) -> Run:
        done = subprocess.run(
            [CONFIGCTL, *args],
            input=stdin if stdin is not None else "",
            capture_output=True,
            text=True,
            env=self.env(),
            timeout=timeout,
            check=False,
        )
        return Run(done.returncode, done.stdout, done.stderr)

    def ok(self, *args: str) -> Run:
        """Run in-process and require success."""
        run = self(*args)
        assert run.code == 0, (args, run)
        return run


def write(directory: Path, name: str, text: str) -> str:
    path = directory / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return str(path)


def lines(text: str) -> list[str]:
    return [line.rstrip() for line in text.splitlines()]


class Interactive:
    """The console script with a pseudo-terminal on stdin, to answer its confirmation prompt."""

    def __init__(self, configctl: Configctl, *args: str) -> None:
        self.master, slave = pty.openpty()
        self.process = subprocess.Popen(
            [CONFIGCTL, *args],
            stdin=slave,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=configctl.env(),
        )
        os.close(slave)
        self.stderr = b""

    def wait_for(self, text: str, timeout: float = 30.0) -> None:
        """Read stderr until `text` appears (the prompt is written there)."""
        assert self.process.stderr is not None
        deadline = time.monotonic() + timeout
        while text.encode() not in self.stderr:
            remaining = deadline - time.monotonic()
            assert remaining > 0, f"no {text!r} in {self.stderr!r}"
            ready, _, _ = select.select([self.process.stderr], [], [], remaining)
            if ready:
                chunk = os.read(self.process.stderr.fileno(), 4096)
                assert chunk, f"exited before {text!r}: {self.stderr!r}"
                self.stderr += chunk

    def say(self, text: str) -> None:
        """Answer a prompt that is not the last one."""
        os.write(self.master, text.encode() + b"\n")

    def answer(self, text: str, timeout: float = 30.0) -> Run:
        """Answer the last prompt and wait for the command to end."""
        self.say(text)
        stdout, stderr = self.process.communicate(timeout=timeout)
        os.close(self.master)
        return Run(self.process.returncode, stdout.decode(), (self.stderr + stderr).decode())


class Watcher:
    """`configctl watch` as a subprocess; threads collect its output lines as they come."""

    def __init__(self, configctl: Configctl, *args: str, token: str | None = None) -> None:
        env = configctl.env()
        if token is not None:
            env["CONFIGD_TOKEN"] = token
        self.process = subprocess.Popen(
            [CONFIGCTL, "watch", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
            text=True,
        )
        self.lines: dict[str, queue.Queue[str]] = {"stdout": queue.Queue(), "stderr": queue.Queue()}
        self.pumps = [
            threading.Thread(target=self._pump, args=(pipe, self.lines[name]), daemon=True)
            for name, pipe in (("stdout", self.process.stdout), ("stderr", self.process.stderr))
        ]
        for pump in self.pumps:
            pump.start()

    @staticmethod
    def _pump(pipe: IO[str], lines: queue.Queue[str]) -> None:
        for line in pipe:
            lines.put(line)

    def read_line(self, stream: str = "stdout", timeout: float = 30.0) -> str:
        try:
            return self.lines[stream].get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"nothing on {stream} within {timeout}s") from None

    def interrupt(self) -> int:
        self.process.send_signal(signal.SIGINT)
        code = self.process.wait(timeout=30)
        self.close()
        return code

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        for pump in self.pumps:
            pump.join(timeout=10)
        for pipe in (self.process.stdout, self.process.stderr):
            if pipe is not None:
                pipe.close()
