"""A real `configd serve` in a subprocess, for tests and benchmarks (configd's own and yours).

    with ConfigdProcess(tmp_path / "data") as server:
        ...  # talk to server.grpc_addr / server.http_url

It binds ephemeral loopback ports, waits until the server prints the addresses it bound, and
keeps those ports across restart() so clients can reconnect. Authentication is off
(--no-auth) unless `auth=True`; then the bootstrap admin token is `admin_token`. The server's
log (stderr) goes to `log_path`, so a failed start can say why. `workers=N` runs
`configd serve --workers N`: `pid` is then the supervisor's, and the addresses are the shared
ports every worker serves.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import TracebackType

_ADDRESS = re.compile(r"configd: (grpc|http) listening on (?:https?://)?(\S+)")


class ConfigdProcess:
    """`python -m configd serve` on 127.0.0.1. With `data_dir` None a temporary directory is
    used, removed by close() (or leaving the `with` block)."""

    def __init__(
        self, data_dir: Path | None = None, *extra_args: str, auth: bool = False, workers: int = 1
    ) -> None:
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        if data_dir is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="configd-")
            data_dir = Path(self._tmp.name) / "data"
        self.data_dir = data_dir
        self.extra_args = list(extra_args) if auth else ["--no-auth", *extra_args]
        if workers != 1:
            self.extra_args += ["--workers", str(workers)]
        self.log_path = data_dir.parent / f"{data_dir.name}.log"
        self.grpc_port = 0
        self.http_port = 0
        self.process: subprocess.Popen[str] | None = None

    @property
    def grpc_addr(self) -> str:
        return f"127.0.0.1:{self.grpc_port}"

    @property
    def http_addr(self) -> str:
        return f"127.0.0.1:{self.http_port}"

    @property
    def http_url(self) -> str:
        return f"http://{self.http_addr}"

    @property
    def pid(self) -> int:
        if self.process is None:
            raise RuntimeError("the server is not running")
        return self.process.pid

    def start(self, timeout: float = 60.0) -> None:
        with self.log_path.open("a") as log:
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "configd",
                    "serve",
                    *("--data-dir", str(self.data_dir)),
                    *("--listen", self.grpc_addr),
                    *("--http-listen", self.http_addr),
                    *self.extra_args,
                ],
                stdout=subprocess.PIPE,
                stderr=log,
                text=True,
            )
        found: dict[str, str] = {}
        deadline = time.monotonic() + timeout
        assert self.process.stdout is not None
        while len(found) < 2:
            line = self.process.stdout.readline()
            if not line:
                code = self.process.wait()
                self.process.stdout.close()
                self.process = None
                raise RuntimeError(
                    f"configd exited during start (code {code}):\n{self.logs()[-3000:]}"
                )
            match = _ADDRESS.search(line)
            if match:
                found[match.group(1)] = match.group(2)
            if time.monotonic() > deadline:
                self.kill()
                raise RuntimeError("configd did not print its addresses in time")
        self.grpc_port = int(found["grpc"].rsplit(":", 1)[1])
        self.http_port = int(found["http"].rsplit(":", 1)[1])

    def stop(self, timeout: float = 30.0) -> int:
        """SIGTERM and wait (SIGKILL after `timeout`); returns the exit code."""
        if self.process is None:
            return 0
        process, self.process = self.process, None
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
        try:
            code = process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            code = process.wait()
        if process.stdout is not None:
            process.stdout.close()
        return code

    def kill(self) -> None:
        """SIGKILL: a crash, with no chance to clean up."""
        if self.process is None:
            return
        process, self.process = self.process, None
        if process.poll() is None:
            os.kill(process.pid, signal.SIGKILL)
        process.wait()
        if process.stdout is not None:
            process.stdout.close()

    def restart(self) -> None:
        self.stop()
        self.start()

    def close(self) -> None:
        """Stop, and remove the temporary data directory if this object made one."""
        self.stop()
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    @property
    def admin_token(self) -> str:
        """The bootstrap admin token (servers started with auth=True)."""
        return (self.data_dir / "admin.token").read_text().strip()

    def logs(self) -> str:
        return self.log_path.read_text() if self.log_path.exists() else ""

    def __enter__(self) -> ConfigdProcess:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
