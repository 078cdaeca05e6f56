"""Telling a wrong port from a down server: `--addr` pointed at configd's HTTP listener."""

from __future__ import annotations

import json
import urllib.request

# What grpc says when the peer answered HTTP/2's preface with HTTP/1.x (an HTTP server).
_HTTP1_MARKERS = ("http1.x server", "Failed parsing HTTP/2")
_PROBE_SECONDS = 2.0


def looks_like_http1(reason: str) -> bool:
    return any(marker in reason for marker in _HTTP1_MARKERS)


def http_port_hint(addr: str, reason: str) -> str | None:
    """When `addr` answered gRPC with HTTP/1.x: what it is and where gRPC is, if it is configd
    (its /debug/configz names the gRPC address); None for any other failure."""
    if not looks_like_http1(reason):
        return None
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # straight to addr
    try:
        with opener.open(f"http://{addr}/debug/configz", timeout=_PROBE_SECONDS) as r:
            grpc_address = str(json.loads(r.read(64 * 1024))["grpc_address"])
    except Exception:  # anything else answering HTTP: not (reachable as) configd's HTTP port
        return f"{addr} answers HTTP/1.x, not gRPC: is --addr the right port?"
    host = addr.rpartition(":")[0]
    port = grpc_address.rpartition(":")[2]
    target = f"{host}:{port}" if host else grpc_address
    return (
        f"this looks like configd's HTTP port (console, gRPC-Web); gRPC is on {grpc_address}: "
        f"use --addr {target}"
    )
