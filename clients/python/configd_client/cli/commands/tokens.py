"""`configctl token create|list|revoke`: bearer tokens with roles per namespace prefix."""

from __future__ import annotations

import asyncio
from typing import Any

import click

from configd_client.cli import output
from configd_client.cli.context import output_option, settings
from configd_client.cli.durations import parse_duration
from configd_client.cli.exits import failure_from
from configd_client.cli.session import Settings, admin_channel, checked_call
from configd_client.errors import ConfigdError
from configd_client.wire import admin_pb2, admin_pb2_grpc

_ROLES = {"read": admin_pb2.ROLE_READ, "write": admin_pb2.ROLE_WRITE, "admin": admin_pb2.ROLE_ADMIN}
_ROLE_NAMES = {wire: name for name, wire in _ROLES.items()}


def _admin_call(current: Settings, method: str, request: Any) -> Any:
    async def call() -> Any:
        async with admin_channel(current) as channel:
            stub = admin_pb2_grpc.AdminServiceStub(channel)
            return await checked_call(
                current, getattr(stub, method), request, creates_token=method == "CreateToken"
            )

    try:
        return asyncio.run(call())
    except ConfigdError as error:
        raise failure_from(error, addr=current.connect.addr) from error


def _grant(text: str) -> admin_pb2.Grant:
    role, _, prefix = text.partition(":")
    if role.lower() not in _ROLES:
        raise click.BadParameter(
            f"{text!r}: use ROLE[:PREFIX] with ROLE read, write or admin "
            "(e.g. write:payments/; no prefix means every namespace)",
            param_hint="--grant",
        )
    return admin_pb2.Grant(prefix=prefix, role=_ROLES[role.lower()])


def _duration(text: str | None) -> int:
    return parse_duration(text, flag="--expires-in")


def _info(token: Any) -> dict[str, Any]:
    return {
        "name": token.name,
        "grants": [
            {"role": _ROLE_NAMES.get(g.role, "?"), "prefix": g.prefix} for g in token.grants
        ],
        "created_at": output.timestamp(token.created_at),
        "created_by": token.created_by,
        "expires_at": output.timestamp(token.expires_at) if token.HasField("expires_at") else "",
        "revoked_at": output.timestamp(token.revoked_at) if token.HasField("revoked_at") else "",
    }


def _grants_text(grants: list[dict[str, Any]]) -> str:
    return ", ".join(f"{g['role']}:{g['prefix'] or '*'}" for g in grants)


@click.group()
def token() -> None:
    """Create, list and revoke bearer tokens (needs an admin token).

    \b
    Examples:
      configctl token create ci-deploy --grant write:payments/ --expires-in 90d
      configctl token list
      configctl token revoke ci-deploy
    """


@token.command("create")
@click.argument("name")
@click.option(
    "--grant",
    "grants",
    multiple=True,
    required=True,
    metavar="ROLE[:PREFIX]",
    help="A role (read, write, admin) on namespaces starting with PREFIX (repeatable; no "
    "prefix = every namespace). End a prefix with / for a subtree.",
)
@click.option("--expires-in", metavar="DURATION", help="e.g. 12h, 90d; default: never.")
@output_option
def create(
    name: str, grants: tuple[str, ...], expires_in: str | None, output_format: str | None
) -> None:
    """Create token NAME and print its secret (shown only this once).

    NAME is recorded as the author of every write made with the token.

    \b
    Example:
      configctl token create alice --grant read --grant write:payments/ --expires-in 30d
    """
    request = admin_pb2.CreateTokenRequest(
        name=name, grants=[_grant(g) for g in grants], ttl_seconds=_duration(expires_in)
    )
    current = settings(output_format)
    reply = _admin_call(current, "CreateToken", request)
    data = {**_info(reply.token), "secret": reply.secret}

    def human() -> str:
        expiry = f", expires {data['expires_at']}" if data["expires_at"] else ""
        return (
            f"created token {name} ({_grants_text(data['grants'])}{expiry})\n"
            "secret (shown only now; store it safely, send it as CONFIGD_TOKEN):\n"
            f"{reply.secret}"
        )

    output.emit(current.output, data, human)


@token.command("list")
@output_option
def list_(output_format: str | None) -> None:
    """List tokens (never their secrets), including expired and revoked ones.

    \b
    Example:
      configctl -o json token list
    """
    current = settings(output_format)
    reply = _admin_call(current, "ListTokens", admin_pb2.ListTokensRequest())
    tokens = [_info(t) for t in reply.tokens]

    def human() -> str:
        rows = [
            [
                t["name"],
                _grants_text(t["grants"]),
                t["created_at"],
                t["expires_at"] or "never",
                "revoked" if t["revoked_at"] else "",
            ]
            for t in tokens
        ]
        return output.table(["NAME", "GRANTS", "CREATED", "EXPIRES", "STATE"], rows)

    output.emit(current.output, tokens, human)


@token.command("revoke")
@click.argument("name")
@output_option
def revoke(name: str, output_format: str | None) -> None:
    """Revoke token NAME: its calls fail at once, and its open watch streams are closed.

    \b
    Example:
      configctl token revoke ci-deploy
    """
    current = settings(output_format)
    reply = _admin_call(current, "RevokeToken", admin_pb2.RevokeTokenRequest(name=name))
    output.emit(current.output, _info(reply.token), lambda: f"revoked token {name}")


COMMANDS = (token,)
