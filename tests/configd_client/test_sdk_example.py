"""The example service (examples/greeter) runs, serves its config and logs each hot reload."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from configd.testing import ConfigdProcess
    from tests.configd_client.conftest import Writer

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "greeter"


def wait_for_line(log: Path, text: str, timeout: float = 20.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for line in log.read_text().splitlines():
            if text in line:
                return line
        time.sleep(0.05)
    raise AssertionError(f"{text!r} not logged; log:\n{log.read_text()}")


def test_greeter_example_hot_reloads(
    shared_server: ConfigdProcess, writer: Writer, ns: str, tmp_path: Path
) -> None:
    writer.create(ns, json.loads((EXAMPLE / "schema.json").read_text()))
    writer.apply(ns, json.loads((EXAMPLE / "config.json").read_text()))
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    log = tmp_path / "greeter.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            [
                sys.executable,
                str(EXAMPLE / "service.py"),
                "--addr",
                shared_server.grpc_addr,
                "--namespace",
                ns,
                "--port",
                str(port),
                "--cache",
                str(tmp_path / "cache.json"),
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_for_line(log, "serving on")
        url = f"http://127.0.0.1:{port}/?name=ada"
        with urllib.request.urlopen(url, timeout=5) as response:
            assert response.read() == b"hello, ada!\n"
        revision = writer.put(ns, "greeting", "good morning")
        line = wait_for_line(log, "hot reload")
        assert f'-> {revision} (greeting: "hello" -> "good morning")' in line
        with urllib.request.urlopen(url, timeout=5) as response:
            assert response.read() == b"good morning, ada!\n"
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(15) == 0, log.read_text()
