"""The one gRPC interceptor that decides who may call what, from the same rule table as REST.

The bearer token travels in the `authorization` metadata (`Bearer <token>`). No token or a bad
one is UNAUTHENTICATED, too small a role PERMISSION_DENIED (mapped from the domain errors by
`ErrorInterceptor`, which wraps this one); another team's objects are NOT_FOUND in the servicer.
"""

from __future__ import annotations

from contextvars import ContextVar
from typing import Any

import grpc

from oncallnova.context import AppContext
from oncallnova.errors import Forbidden, NotAuthenticated
from oncallnova.grpc_unary import Behaviour, UnaryInterceptor
from oncallnova.security.guard import security_of
from oncallnova.security.principal import Principal
from oncallnova.security.rules import grpc_rule

_principal: ContextVar[Principal | None] = ContextVar("grpc_principal", default=None)


def grpc_principal() -> Principal:
    """The caller of the gRPC method being handled (set by AuthInterceptor)."""
    principal = _principal.get()
    if principal is None:
        raise NotAuthenticated("authentication required")
    return principal


def bearer_from(metadata: Any) -> str | None:
    for key, value in metadata or ():
        if key.lower() == "authorization":
            text = value.decode() if isinstance(value, bytes) else str(value)
            scheme, _, token = text.partition(" ")
            if scheme.lower() != "bearer" or not token.strip():
                raise NotAuthenticated("send 'authorization: Bearer <token>'")
            return token.strip()
    return None


class AuthInterceptor(UnaryInterceptor):
    def __init__(self, ctx: AppContext) -> None:
        self.ctx = ctx

    def wrap(self, inner: Behaviour, method: str) -> Behaviour:
        rule = grpc_rule(method)
        ctx = self.ctx

        async def authorized(request: Any, context: grpc.aio.ServicerContext) -> Any:
            if rule is None:
                raise Forbidden("no access rule for this method")
            if rule.public:
                return await inner(request, context)
            token = bearer_from(context.invocation_metadata())
            if token is None:
                raise NotAuthenticated("authentication required: 'authorization: Bearer <token>'")
            principal = await (await security_of(ctx)).authenticate(token)
            if principal.role < rule.role:
                raise Forbidden(f"needs the {rule.role.name} role; you are a {principal.role.name}")
            reset = _principal.set(principal)
            try:
                return await inner(request, context)
            finally:
                _principal.reset(reset)

        return authorized
