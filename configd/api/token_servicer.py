"""AdminService token RPCs (CreateToken, ListTokens, RevokeToken): request -> registry -> reply.

AdminServicer delegates to this, so the token conversion lives in one place.
"""

from __future__ import annotations

from typing import Any, TypeAlias

import grpc

from configd.api import convert
from configd.api.identity import author
from configd.core.errors import InvalidArgument
from configd.core.limits import Limits
from configd.core.names import check_prefix
from configd.core.roles import Grant, Role
from configd.store.tokens import Token, TokenRegistry
from configd_client.wire import admin_pb2 as pb

# The servicer's view of a call (types-grpcio); messages are the methods' own.
Context: TypeAlias = grpc.aio.ServicerContext[Any, Any]

_ROLES = {pb.ROLE_READ: Role.READ, pb.ROLE_WRITE: Role.WRITE, pb.ROLE_ADMIN: Role.ADMIN}
_WIRE = {role: wire for wire, role in _ROLES.items()}
MAX_TTL_SECONDS = 100 * 365 * 86400


def token_info(token: Token) -> pb.TokenInfo:
    info = pb.TokenInfo(
        name=token.name,
        grants=[pb.Grant(prefix=g.prefix, role=_WIRE[g.role]) for g in token.grants],
        created_at=convert.timestamp(token.created_at),
        created_by=token.created_by,
    )
    if token.expires_at is not None:
        info.expires_at.CopyFrom(convert.timestamp(token.expires_at))
    if token.revoked_at is not None:
        info.revoked_at.CopyFrom(convert.timestamp(token.revoked_at))
    return info


class TokenServicer:
    def __init__(self, registry: TokenRegistry, limits: Limits) -> None:
        self._registry = registry
        self._limits = limits

    def _grants(self, messages: Any) -> list[Grant]:
        grants: list[Grant] = []
        for index, message in enumerate(messages):
            role = _ROLES.get(message.role)
            if role is None:
                raise InvalidArgument(
                    f"grants[{index}] has no role: use ROLE_READ, ROLE_WRITE or ROLE_ADMIN",
                    field=f"grants[{index}].role",
                )
            check_prefix(message.prefix, self._limits, field=f"grants[{index}].prefix")
            grants.append(Grant(message.prefix, role))
        return grants

    async def CreateToken(
        self, request: pb.CreateTokenRequest, context: Context
    ) -> pb.CreateTokenResponse:
        if not 0 <= request.ttl_seconds <= MAX_TTL_SECONDS:
            raise InvalidArgument(
                f"ttl_seconds must be between 0 (never expires) and {MAX_TTL_SECONDS}",
                field="ttl_seconds",
            )
        token, secret = await self._registry.create(
            request.name,
            self._grants(request.grants),
            ttl_seconds=request.ttl_seconds,
            created_by=author(),
        )
        return pb.CreateTokenResponse(token=token_info(token), secret=secret)

    async def ListTokens(
        self, request: pb.ListTokensRequest, context: Context
    ) -> pb.ListTokensResponse:
        return pb.ListTokensResponse(tokens=[token_info(t) for t in await self._registry.tokens()])

    async def RevokeToken(
        self, request: pb.RevokeTokenRequest, context: Context
    ) -> pb.RevokeTokenResponse:
        return pb.RevokeTokenResponse(token=token_info(await self._registry.revoke(request.name)))
