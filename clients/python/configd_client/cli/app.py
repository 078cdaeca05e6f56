"""The `configctl` command group: global options, command registration, exit handling."""

from __future__ import annotations

import errno
import sys
from pathlib import Path
from typing import Any

import click

from configd_client._channel import ConnectOptions, TLSOptions
from configd_client.cli.commands import (
    backup,
    compact,
    history,
    keys,
    namespaces,
    publish,
    releases,
    schemas,
    tokens,
    transfer,
)
from configd_client.cli.commands import watch as watch_command
from configd_client.cli.exits import EXIT_CODES_HELP, CliFailure, ExitCode
from configd_client.cli.session import OUTPUT_FORMATS, Settings

HELP = f"""configctl: publish and inspect configuration in configd.

\b
Examples:
  configctl ns create payments/prod --schema payments.schema.yaml
  configctl put payments/prod timeout_ms 2500 -m "slower upstream"
  configctl apply payments/prod -f payments.yaml -m "release 42"
  configctl diff payments/prod -f payments.yaml   # exit 1 when different
  configctl -o json get payments/prod

\b
Connection: --addr / CONFIGD_ADDR (default 127.0.0.1:7700; replicas as h1:7700,h2:7700),
--token / CONFIGD_TOKEN; TLS with --tls (system roots) or --tls-ca, and --tls-cert/--tls-key
for mutual TLS.

\b
Shell completion (bash, zsh, fish), e.g. in ~/.bashrc:
  eval "$(_CONFIGCTL_COMPLETE=bash_source configctl)"
  (zsh: zsh_source, fish: fish_source)

{EXIT_CODES_HELP}
"""


class ConfigctlGroup(click.Group):
    """Maps every way a command can end to a documented exit code, without a traceback."""

    def main(
        self,
        args: Any = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, False, **extra)
        try:
            result = super().main(args, prog_name, complete_var, False, **extra)
        except (click.ClickException, CliFailure) as exc:
            exc.show()
            sys.exit(exc.exit_code)
        except click.Abort as exc:
            if isinstance(exc.__cause__, KeyboardInterrupt):
                click.echo("Interrupted.", err=True)
                sys.exit(ExitCode.INTERRUPTED)
            click.echo("Aborted.", err=True)
            sys.exit(ExitCode.ABORTED)
        except KeyboardInterrupt:
            click.echo("Interrupted.", err=True)
            sys.exit(ExitCode.INTERRUPTED)
        except OSError as exc:
            if exc.errno == errno.EPIPE:  # `configctl ... | head`: the reader left
                sys.exit(ExitCode.OK)
            raise
        sys.exit(result if isinstance(result, int) else ExitCode.OK)


def _path(value: str | None) -> Path | None:
    return Path(value) if value else None


@click.group(
    cls=ConfigctlGroup, help=HELP, context_settings={"help_option_names": ["-h", "--help"]}
)
@click.option(
    "--addr",
    envvar="CONFIGD_ADDR",
    help="Server address host:port; several replicas as h1:port,h2:port (used in turn when one "
    "fails), or a gRPC target such as dns:///name:port [CONFIGD_ADDR].",
)
@click.option("--token", envvar="CONFIGD_TOKEN", help="Bearer token [CONFIGD_TOKEN].")
@click.option("--tls", "use_tls", is_flag=True, help="Use TLS, verifying with the system roots.")
@click.option(
    "--tls-ca",
    envvar="CONFIGD_TLS_CA",
    type=click.Path(exists=True, dir_okay=False),
    help="CA bundle that signed the server certificate (implies --tls) [CONFIGD_TLS_CA].",
)
@click.option(
    "--tls-cert",
    envvar="CONFIGD_TLS_CERT",
    type=click.Path(exists=True, dir_okay=False),
    help="Client certificate for mutual TLS [CONFIGD_TLS_CERT].",
)
@click.option(
    "--tls-key",
    envvar="CONFIGD_TLS_KEY",
    type=click.Path(exists=True, dir_okay=False),
    help="Client private key for mutual TLS [CONFIGD_TLS_KEY].",
)
@click.option(
    "--tls-server-name",
    envvar="CONFIGD_TLS_SERVER_NAME",
    help="Expected server name in its certificate, when it differs from the address.",
)
@click.option(
    "-o",
    "--output",
    type=click.Choice(OUTPUT_FORMATS),
    default="table",
    show_default=True,
    help="Output format: aligned tables for people, json or yaml for scripts.",
)
@click.option(
    "--timeout",
    type=click.FloatRange(min=0.1),
    default=30.0,
    show_default=True,
    help="Seconds to wait for each server call.",
)
@click.option(
    "--min-revision",
    envvar="CONFIGD_MIN_REVISION",
    type=click.IntRange(min=0),
    default=0,
    metavar="REV",
    help="Reads answer only once the server has applied revision REV (read your writes "
    "across replicas; configctl also sends the highest revision it has seen in this "
    "command) [CONFIGD_MIN_REVISION].",
)
@click.option(
    "--request-id",
    envvar="CONFIGD_REQUEST_ID",
    default="",
    metavar="ID",
    help="The request id of this command's writes (its first write sends ID, later ones "
    "ID.2, ID.3, ...): running the same command again with the same ID after a lost answer "
    "stores nothing twice. Default: a fresh id per write; each write is retried with its "
    "id anyway [CONFIGD_REQUEST_ID].",
)
@click.version_option(package_name="configd-client", prog_name="configctl")
@click.pass_context
def cli(
    ctx: click.Context,
    addr: str | None,
    token: str | None,
    use_tls: bool,
    tls_ca: str | None,
    tls_cert: str | None,
    tls_key: str | None,
    tls_server_name: str | None,
    output: str,
    timeout: float,
    min_revision: int,
    request_id: str,
) -> None:
    if (tls_cert is None) != (tls_key is None):
        raise click.UsageError("--tls-cert and --tls-key go together (mutual TLS)")
    tls = None
    if use_tls or tls_ca or tls_cert or tls_server_name:
        tls = TLSOptions(
            ca_file=_path(tls_ca),
            cert_file=_path(tls_cert),
            key_file=_path(tls_key),
            server_name=tls_server_name or None,
        )
    try:
        connect = ConnectOptions.from_env(addr, token, tls)
    except ValueError as exc:
        raise click.BadParameter(
            str(exc).removeprefix("configd: "), param_hint="'--addr' (CONFIGD_ADDR)"
        ) from None
    ctx.obj = Settings(
        connect=connect,
        output=output,
        timeout=timeout,
        min_revision=min_revision,
        request_id=request_id,
    )


cli.add_command(namespaces.ns)
cli.add_command(schemas.schema)
for command in (
    *keys.COMMANDS,
    *publish.COMMANDS,
    *history.COMMANDS,
    *transfer.COMMANDS,
    *backup.COMMANDS,
    *compact.COMMANDS,
    *tokens.COMMANDS,
    *releases.COMMANDS,
):
    cli.add_command(command)
cli.add_command(watch_command.watch)


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="configctl")
