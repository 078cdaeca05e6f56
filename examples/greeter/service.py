"""A small HTTP service whose behaviour comes from configd and changes without a restart.

    python examples/greeter/service.py --addr 127.0.0.1:7700 --port 8080
    curl 'http://127.0.0.1:8080/?name=ada'

It watches the namespace `examples/greeter` with the threaded ConfigClient, keeps a
last-known-good cache file (so it starts even while configd is down), binds the document to a
dataclass on every change and logs each hot reload. See README.md in this directory.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import signal
import sys
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

from configd_client import BindError, ConfigClient, ConfigdError, Snapshot

log = logging.getLogger("greeter")


@dataclass(frozen=True)
class GreeterConfig:
    """What the service reads; the namespace's schema (schema.json) guarantees the types."""

    greeting: str
    shout: bool = False
    max_name_length: int = 40
    banned_names: list[str] = field(default_factory=list)


class Greeter:
    """Holds the current settings as one immutable object, replaced on each hot reload."""

    def __init__(self, config: ConfigClient) -> None:
        self.settings = config.bind(GreeterConfig)
        config.on_change(self._reload)

    def _reload(self, old: Snapshot, new: Snapshot, changed: frozenset[str]) -> None:
        try:
            settings = new.bind(GreeterConfig)
        except BindError as exc:
            # Keep serving the previous settings; the SDK already validated the schema, so this
            # only happens if the code and the schema disagree.
            log.error("hot reload at revision %d refused: %s", new.revision, exc)
            return
        self.settings = settings  # one reference swap: requests see old or new, never a mix
        details = ", ".join(
            f"{key}: {old.json(key) if key in old else '(absent)'} -> "
            f"{new.json(key) if key in new else '(absent)'}"
            for key in sorted(changed)
        )
        log.info("hot reload: revision %d -> %d (%s)", old.revision, new.revision, details)

    def greet(self, name: str) -> tuple[int, str]:
        settings = self.settings  # read once per request
        if len(name) > settings.max_name_length:
            return 400, f"name longer than {settings.max_name_length} characters\n"
        if name in settings.banned_names:
            return 403, "not you\n"
        text = f"{settings.greeting}, {name}!"
        return 200, (text.upper() if settings.shout else text) + "\n"


def make_handler(greeter: Greeter, config: ConfigClient) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            url = urlparse(self.path)
            if url.path == "/status":
                # What is served, from where, since when, and what is wrong now (if anything).
                body = json.dumps(config.status.as_dict())
                self._send(200, body + "\n", "application/json")
                return
            name = parse_qs(url.query).get("name", ["world"])[0]
            code, text = greeter.greet(name)
            self._send(code, text, "text/plain; charset=utf-8")

        def _send(self, code: int, text: str, content_type: str) -> None:
            data = text.encode()
            self.send_response(code)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: object) -> None:
            log.debug(format, *args)

    return Handler


def main() -> int:
    parser = argparse.ArgumentParser(description="configd SDK example: a hot-reloading greeter")
    parser.add_argument("--addr", default=None, help="configd address (default CONFIGD_ADDR)")
    parser.add_argument("--namespace", default="examples/greeter")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument(
        "--cache", type=Path, default=Path(".cache/greeter.json"), help="last-known-good cache"
    )
    parser.add_argument("--start-timeout", type=float, default=10.0)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")

    config = ConfigClient(
        args.namespace, addr=args.addr, cache_path=args.cache, start_timeout=args.start_timeout
    )
    try:
        config.start()
    except ConfigdError as exc:
        log.error("cannot load the configuration: %s", exc)
        return 1
    try:
        log.info(
            "configuration loaded (%s) at revision %d",
            config.status.state.value,
            config.revision,
        )
        try:
            greeter = Greeter(config)
        except BindError as exc:
            log.error("the configuration does not fit GreeterConfig: %s", exc)
            return 1
        server = ThreadingHTTPServer(("127.0.0.1", args.port), make_handler(greeter, config))
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        log.info("serving on http://127.0.0.1:%d/?name=you (status at /status)", args.port)
        with contextlib.suppress(KeyboardInterrupt):
            stop.wait()
        server.shutdown()
        server.server_close()
    finally:
        config.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
