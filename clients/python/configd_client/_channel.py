"""Opening a gRPC channel to configd: address, bearer token and TLS, shared by SDK and CLI."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import grpc.aio

from configd_client._addresses import parse_addresses
from configd_client.wire.limits import MAX_GRPC_MESSAGE_BYTES

DEFAULT_ADDR = "127.0.0.1:7700"

# A name with several DNS records: connect to one of them, the list shuffled per channel so
# clients spread, and move to another when it is lost (gRPC's pick_first, gRFC A62).
_SERVICE_CONFIG = json.dumps(
    {"loadBalancingConfig": [{"pick_first": {"shuffleAddressList": True}}]}
)


@dataclass(frozen=True, slots=True)
class TLSOptions:
    """Verify the server with `ca_file` (system roots if None); present a client cert for mTLS."""

    ca_file: Path | None = None
    cert_file: Path | None = None
    key_file: Path | None = None
    server_name: str | None = None

    def credentials(self) -> grpc.ChannelCredentials:
        def read(path: Path | None) -> bytes | None:
            return path.read_bytes() if path is not None else None

        return grpc.ssl_channel_credentials(
            root_certificates=read(self.ca_file),
            private_key=read(self.key_file),
            certificate_chain=read(self.cert_file),
        )


@dataclass(frozen=True, slots=True)
class ConnectOptions:
    """Where and how to reach configd; defaults come from CONFIGD_ADDR and CONFIGD_TOKEN.

    `addr` is one replica (`host:port`), several (`h1:7700,h2:7700`), or a gRPC target such
    as `dns:///name:7700` (configd_client._addresses); a malformed one is a ValueError."""

    addr: str = DEFAULT_ADDR
    token: str | None = None
    tls: TLSOptions | None = None

    def __post_init__(self) -> None:
        parse_addresses(self.addr)

    @property
    def targets(self) -> tuple[str, ...]:
        """The replicas `addr` names, one gRPC target each, in the order given."""
        return parse_addresses(self.addr)

    @classmethod
    def from_env(
        cls, addr: str | None = None, token: str | None = None, tls: TLSOptions | None = None
    ) -> ConnectOptions:
        return cls(
            addr=addr or os.environ.get("CONFIGD_ADDR") or DEFAULT_ADDR,
            token=token or os.environ.get("CONFIGD_TOKEN") or None,
            tls=tls,
        )

    def metadata(self) -> Sequence[tuple[str, str]]:
        return (("authorization", f"Bearer {self.token}"),) if self.token else ()


class _WithToken:
    """Adds the bearer token to a call's metadata (works on plaintext loopback channels too)."""

    def __init__(self, metadata: Sequence[tuple[str, str]]) -> None:
        self._metadata = tuple(metadata)

    def _with_token(self, details: Any) -> Any:
        metadata = tuple(details.metadata or ()) + self._metadata
        return details._replace(metadata=metadata)


# grpc.aio files each interceptor under the first call kind it implements only, so unary and
# streaming calls need one interceptor object each.
class _UnaryToken(_WithToken, grpc.aio.UnaryUnaryClientInterceptor):
    async def intercept_unary_unary(self, continuation: Any, details: Any, request: Any) -> Any:
        return await continuation(self._with_token(details), request)


class _StreamToken(_WithToken, grpc.aio.UnaryStreamClientInterceptor):
    async def intercept_unary_stream(self, continuation: Any, details: Any, request: Any) -> Any:
        return await continuation(self._with_token(details), request)


def open_channel(options: ConnectOptions, target: str | None = None) -> grpc.aio.Channel:
    """An asyncio channel to `target` (default: `options.addr`, which must then name one
    replica) with the token attached to every call. Clients of several replicas open theirs
    through configd_client._replicas."""
    if target is None:
        targets = options.targets
        if len(targets) != 1:
            raise ValueError(f"configd: addr {options.addr!r} names several replicas; open one")
        target = targets[0]
    channel_options: list[tuple[str, int | str]] = [
        ("grpc.max_receive_message_length", MAX_GRPC_MESSAGE_BYTES),
        ("grpc.max_send_message_length", MAX_GRPC_MESSAGE_BYTES),
        ("grpc.enable_retries", 1),
        # Reconnect promptly after a server restart (gRPC's default backoff waits seconds).
        ("grpc.initial_reconnect_backoff_ms", 200),
        ("grpc.min_reconnect_backoff_ms", 200),
        ("grpc.max_reconnect_backoff_ms", 2000),
        # No BDP probing: by default gRPC answers each burst of received data with a PING, so
        # every watch delivery would cost the server a PING ACK (a second send, a read and a
        # wake-up). Config messages are small; bandwidth probing buys nothing for them.
        ("grpc.http2.bdp_probe", 0),
        ("grpc.service_config", _SERVICE_CONFIG),
    ]
    if options.tls is not None and options.tls.server_name:
        channel_options.append(("grpc.ssl_target_name_override", options.tls.server_name))
    metadata = options.metadata()
    interceptors: list[grpc.aio.ClientInterceptor] | None = (
        [_UnaryToken(metadata), _StreamToken(metadata)] if options.token else None
    )
    if options.tls is not None:
        return grpc.aio.secure_channel(
            target, options.tls.credentials(), channel_options, interceptors=interceptors
        )
    return grpc.aio.insecure_channel(target, channel_options, interceptors=interceptors)
