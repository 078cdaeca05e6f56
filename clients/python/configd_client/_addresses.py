"""Where configd is: one address, a comma-separated list of replicas, or one gRPC target.

- `host:port` (a name, an IPv4 address, or `[IPv6]:port`): one replica. A name resolves
  through DNS; when it has several records, gRPC's pick_first connects to one of them (the
  list shuffled per channel) and moves to another when that one is lost.
- `h1:7700,h2:7700,h3:7700`: several replicas; the SDK keeps one channel per replica in use
  and moves between them (configd_client._replicas).
- A gRPC target with a scheme (`dns:///name:7700`, `unix:/path`, `ipv4:a:1,b:2`): passed to
  gRPC as it is, one channel; gRPC's resolver owns it (commas included).
"""

from __future__ import annotations

import re

GRPC_SCHEMES = ("dns:", "unix:", "unix-abstract:", "ipv4:", "ipv6:", "vsock:")
"""Targets gRPC resolves itself; the SDK does not split or check them further."""

_HOST = re.compile(r"^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.-]+)$")


def parse_addresses(addr: str) -> tuple[str, ...]:
    """The targets `addr` names, in order (see the module docstring); ValueError says what
    is wrong with a malformed one, in terms of `addr`."""
    text = addr.strip()
    if not text:
        raise ValueError("configd: addr is empty; give host:port, or several as h1:port,h2:port")
    if text.lower().startswith(GRPC_SCHEMES):
        return (text,)
    targets: list[str] = []
    for item in (part.strip() for part in text.split(",")):
        if not item:
            raise ValueError(
                f"configd: addr {addr!r} has an empty entry; separate replicas with single "
                "commas, e.g. h1:7700,h2:7700"
            )
        _check(addr, item)
        if item in targets:
            raise ValueError(f"configd: addr {addr!r} names {item} twice")
        targets.append(item)
    return tuple(targets)


def _check(addr: str, item: str) -> None:
    host, sep, port = item.rpartition(":")
    if not sep or not host or (":" in host and not host.startswith("[")):
        raise ValueError(
            f"configd: address {item!r} in addr {addr!r} needs a port: host:port "
            "([addr]:port for IPv6)"
        )
    if not _HOST.match(host):
        raise ValueError(f"configd: address {item!r} in addr {addr!r} has a malformed host")
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(
            f"configd: address {item!r} in addr {addr!r} has port {port!r}; a port is 1-65535"
        )
