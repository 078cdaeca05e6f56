"""Log output: text for people, JSON lines for log pipelines; the level can be reloaded.

JSON lines carry the standard fields (time, level, logger, message) plus every structured
field a caller passes with `extra=` (the write log line passes revision, namespace, kind,
keys and author), so a pipeline can filter on them without parsing the message.

The level is reloadable without a restart: `configd serve --log-level-file FILE` reads the
level from FILE at start and again on SIGHUP (ConfigdServer.reload), so an operator edits
the file and sends SIGHUP; without the option SIGHUP keeps the --log-level.
"""

from __future__ import annotations

import json
import logging
import sys
import traceback
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

LEVELS = ("debug", "info", "warning", "error")
FORMATS = ("text", "json")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

# Attributes every LogRecord has: anything else on a record came from `extra=`.
_STANDARD = frozenset(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {
    "message",
    "asctime",
    "taskName",
}

log = logging.getLogger("configd")


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (UTC, RFC 3339), level, logger, message, extras."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name, value in record.__dict__.items():
            if name not in _STANDARD and not name.startswith("_"):
                entry[name] = value
        if record.exc_info:
            entry["exception"] = "".join(traceback.format_exception(*record.exc_info)).rstrip()
        return json.dumps(entry, default=str, ensure_ascii=False)


def setup(level: str, fmt: str, stream: TextIO | None = None) -> None:
    """Configure the root logger: one handler on stderr, text or JSON."""
    if fmt not in FORMATS:
        raise ValueError(f"log format must be one of {', '.join(FORMATS)}, not {fmt!r}")
    # Neither format shows the caller, thread or process, and a busy server logs a line per
    # write: skip collecting them (the logging docs' "Optimization" switches; ~25% per line).
    logging._srcfile = None
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else logging.Formatter(TEXT_FORMAT))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())


def read_level_file(path: Path) -> str:
    """The level named in `path` (first word, case-insensitive); ValueError if it is not one."""
    try:
        text = path.read_text().strip().lower()
    except OSError as exc:
        raise ValueError(f"cannot read log level file {path}: {exc.strerror}") from exc
    level = text.split()[0] if text else ""
    if level not in LEVELS:
        raise ValueError(
            f"log level file {path} says {text[:40]!r}; write one of {', '.join(LEVELS)}"
        )
    return level


class LevelReloader:
    """A reload hook: re-reads the level file and applies it (keeps the level on error)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __call__(self) -> None:
        try:
            level = read_level_file(self.path)
        except ValueError as exc:
            log.error("log level not reloaded: %s", exc)
            return
        logging.getLogger().setLevel(level.upper())
        log.warning("log level is now %s (from %s)", level, self.path)
