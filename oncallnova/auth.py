"""Who is asking, and may they: the one FastAPI dependency every route goes through.

`authorize` finds the route's rule in `oncallnova.security.rules`, authenticates the bearer
token (header or session cookie), checks the role, the owner and, for cookie-authenticated
writes, the CSRF header. Routes read the result with `current_principal` / `current_actor`.
"""

from __future__ import annotations

from fastapi import Depends, Request
from fastapi.routing import APIRoute
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from oncallnova.context import AppContext
from oncallnova.errors import Forbidden, NotAuthenticated
from oncallnova.security.guard import security_of
from oncallnova.security.principal import Principal
from oncallnova.security.rules import Rule, rest_rule
from oncallnova.security.tokens import csrf_ok, same_secret

SESSION_COOKIE = "oncallnova_session"
CSRF_COOKIE = "oncallnova_csrf"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# Declares the bearer scheme in the OpenAPI document (the "Authorize" button of /docs); the
# header itself is read by `bearer`, which also accepts the session cookie.
BEARER_SCHEME = HTTPBearer(
    auto_error=False,
    scheme_name="bearer",
    description="An access token from POST /api/v1/auth/login, or an API token (ocn_…).",
)


def bearer(request: Request) -> tuple[str | None, bool]:
    """(token, came from the cookie). A non-Bearer Authorization header is refused."""
    authorization = request.headers.get("authorization")
    if authorization is not None:
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise NotAuthenticated("send 'Authorization: Bearer <token>'")
        return token.strip(), False
    cookie = request.cookies.get(SESSION_COOKIE)
    return (cookie, True) if cookie else (None, False)


def route_rule(request: Request) -> Rule | None:
    route = request.scope.get("route")
    path = route.path if isinstance(route, APIRoute) else request.url.path
    return rest_rule(request.method, path)


async def authorize(
    request: Request,
    _declared: HTTPAuthorizationCredentials | None = Depends(BEARER_SCHEME),
) -> None:
    """Allow the request or raise 401/403; never reached by a route without a rule."""
    rule = route_rule(request)
    if rule is None:
        raise Forbidden("no access rule for this route")
    ctx: AppContext = request.app.state.ctx
    if rule.access == "metrics":
        expected = ctx.settings.metrics_token
        if expected is not None:
            token, _ = bearer(request)
            if not same_secret(expected.get_secret_value(), token):
                raise NotAuthenticated("/metrics wants 'Authorization: Bearer <METRICS_TOKEN>'")
        return
    if rule.public:
        return
    token, via_cookie = bearer(request)
    if token is None:
        raise NotAuthenticated("authentication required: 'Authorization: Bearer <token>'")
    security = await security_of(ctx)
    principal = await security.authenticate(token, via_cookie=via_cookie)
    if principal.role < rule.role:
        raise Forbidden(f"needs the {rule.role.name} role; you are a {principal.role.name}")
    if (
        rule.owner is not None
        and not principal.is_admin
        and request.path_params.get(rule.owner) != principal.user_id
    ):
        raise Forbidden(f"{rule.owner}: only that user or an admin", field=rule.owner)
    if via_cookie and request.method not in SAFE_METHODS:
        # Double submit, bound to the session: the header must carry the session's token.
        if not csrf_ok(security.secret, principal.jti or "", request.headers.get(CSRF_HEADER)):
            raise Forbidden(f"{CSRF_HEADER}: missing or wrong", field=CSRF_HEADER)
    request.state.principal = principal


async def current_principal(request: Request) -> Principal:
    """The authenticated caller (the route's rule made sure there is one)."""
    principal = getattr(request.state, "principal", None)
    if principal is None:
        raise NotAuthenticated("authentication required")
    return principal  # type: ignore[no-any-return]


async def current_actor(request: Request) -> str:
    """The caller as a timeline actor (`user:<id>`)."""
    principal = getattr(request.state, "principal", None)
    return principal.actor if principal is not None else "user:anonymous"
