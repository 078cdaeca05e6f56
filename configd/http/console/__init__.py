"""The browser console, served by configd at /ui (built assets ship in this package).

The assets under `static/` are built from clients/web by `python scripts/build_console.py`
and committed, so running configd never needs npm.
"""

from __future__ import annotations

from configd.http.console._routes import add_routes

__all__ = ["add_routes"]
