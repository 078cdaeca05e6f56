"""`configd serve`'s security flags (auth, bootstrap admin token, TLS, total watches), declared
once here and handed to the command as one `security` argument."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from configd.server.tls import TLSFiles
from configd.watch.hub import WatchOptions


@dataclass(frozen=True, slots=True)
class SecurityOptions:
    auth: bool
    admin_token: str | None
    tls: TLSFiles | None
    max_watchers: int

    def server_config(self) -> dict[str, Any]:
        """The ServerConfig fields these flags set."""
        return {"auth": self.auth, "admin_token": self.admin_token, "tls": self.tls}


_FILE = click.Path(path_type=Path, dir_okay=False, exists=True)


def security_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """Add the flags to `command`, which receives them as `security: SecurityOptions`."""

    @functools.wraps(command)
    def wrapper(
        *args: Any,
        no_auth: bool,
        admin_token: str | None,
        tls_cert: Path | None,
        tls_key: Path | None,
        tls_client_ca: Path | None,
        max_watchers: int,
        **kwargs: Any,
    ) -> Any:
        if (tls_cert is None) != (tls_key is None):
            raise click.UsageError("--tls-cert and --tls-key go together")
        if tls_client_ca is not None and tls_cert is None:
            raise click.UsageError("--tls-client-ca needs --tls-cert and --tls-key")
        if no_auth and admin_token:
            raise click.UsageError("--admin-token has no effect with --no-auth")
        tls = (
            TLSFiles(tls_cert, tls_key, tls_client_ca)
            if tls_cert is not None and tls_key is not None
            else None
        )
        security = SecurityOptions(not no_auth, admin_token or None, tls, max_watchers)
        return command(*args, security=security, **kwargs)

    options = [
        click.option(
            "--no-auth",
            is_flag=True,
            help="Turn authentication off: every caller may do everything. Only for loopback "
            "development (a warning is logged at start).",
        ),
        click.option(
            "--admin-token",
            envvar="CONFIGD_ADMIN_TOKEN",
            default=None,
            help="Secret of the token named 'admin' (32+ random characters) [CONFIGD_ADMIN_TOKEN; "
            "prefer the variable: flags show in `ps`]. Without it, the first start writes a new "
            "admin token to <data-dir>/admin.token (mode 0600).",
        ),
        click.option(
            "--tls-cert",
            type=_FILE,
            help="PEM certificate chain: serve TLS on both listeners (reloaded on SIGHUP).",
        ),
        click.option("--tls-key", type=_FILE, help="PEM private key of --tls-cert."),
        click.option(
            "--tls-client-ca",
            type=_FILE,
            help="PEM CA bundle: require client certificates signed by it (mutual TLS).",
        ),
        click.option(
            "--max-watchers",
            type=click.IntRange(min=1),
            default=WatchOptions().max_watchers,
            show_default=True,
            help="limit: open watch streams in total, per worker (N workers allow N times "
            "this; per token: --max-watchers-per-token).",
        ),
    ]
    decorated: Callable[..., Any] = wrapper
    for option in reversed(options):
        decorated = option(decorated)
    return decorated
