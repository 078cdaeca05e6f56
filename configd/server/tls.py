"""TLS for both listeners: one certificate and key, optional client-certificate CA (mTLS).

Certificates are re-read on reload() (SIGHUP) and apply to new connections: the gRPC listener
fetches the new configuration at its next handshake, the HTTP listener's SSLContext is
reloaded in place. A reload that fails (missing file, key not matching) keeps the old ones.
"""

from __future__ import annotations

import logging
import ssl
from dataclasses import dataclass
from pathlib import Path

import grpc

from configd.core.errors import InvalidArgument

log = logging.getLogger("configd.tls")


@dataclass(frozen=True, slots=True)
class TLSFiles:
    cert: Path
    key: Path
    client_ca: Path | None = None  # verify client certificates against it (mTLS)


@dataclass(frozen=True, slots=True)
class _Loaded:
    cert: bytes
    key: bytes
    client_ca: bytes | None


def _read(files: TLSFiles) -> _Loaded:
    """Read and check the files: the key must match the certificate."""
    try:
        loaded = _Loaded(
            files.cert.read_bytes(),
            files.key.read_bytes(),
            files.client_ca.read_bytes() if files.client_ca is not None else None,
        )
        _context(files)
    except (OSError, ssl.SSLError) as exc:
        raise InvalidArgument(
            f"cannot use the TLS files (--tls-cert {files.cert}, --tls-key {files.key}"
            + (f", --tls-client-ca {files.client_ca}" if files.client_ca else "")
            + f"): {exc}; give a PEM certificate chain and its PEM private key",
            field="tls",
        ) from None
    return loaded


def _context(files: TLSFiles, context: ssl.SSLContext | None = None) -> ssl.SSLContext:
    if context is None:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.set_alpn_protocols(["h2", "http/1.1"])
    context.load_cert_chain(files.cert, files.key)
    if files.client_ca is not None:
        context.load_verify_locations(cafile=files.client_ca)
        context.verify_mode = ssl.CERT_REQUIRED
    return context


class ServerTLS:
    """The server's TLS material, shared by the gRPC and HTTP listeners."""

    def __init__(self, files: TLSFiles) -> None:
        self.files = files
        self._loaded = _read(files)
        self._pending: grpc.ServerCertificateConfiguration | None = None
        self._ssl_context: ssl.SSLContext | None = None

    @property
    def mutual(self) -> bool:
        return self.files.client_ca is not None

    def _grpc_config(self) -> grpc.ServerCertificateConfiguration:
        return grpc.ssl_server_certificate_configuration(
            [(self._loaded.key, self._loaded.cert)], root_certificates=self._loaded.client_ca
        )

    def grpc_credentials(self) -> grpc.ServerCredentials:
        return grpc.dynamic_ssl_server_credentials(
            self._grpc_config(),
            # grpc documents None as "keep the current certificates"; types-grpcio omits it.
            self._fetch,  # type: ignore[arg-type]
            require_client_authentication=self.mutual,
        )

    def _fetch(self) -> grpc.ServerCertificateConfiguration | None:
        # Called by grpc before each handshake: None keeps the current certificates.
        pending, self._pending = self._pending, None
        return pending

    def ssl_context(self) -> ssl.SSLContext:
        """The HTTP listener's context (one object, reloaded in place)."""
        if self._ssl_context is None:
            self._ssl_context = _context(self.files)
        return self._ssl_context

    def reload(self) -> None:
        """Re-read the files for new connections; raises (keeping the old ones) if unusable."""
        self._loaded = _read(self.files)
        self._pending = self._grpc_config()
        if self._ssl_context is not None:
            _context(self.files, self._ssl_context)
        log.info("TLS certificates reloaded from %s", self.files.cert)
