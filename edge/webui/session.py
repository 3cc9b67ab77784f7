"""The console's session: the security layer's access token in its HttpOnly, SameSite=Strict
cookie, and a CSRF token bound to it in every form.

Logging in and out go through the same `Security` service as `POST /api/v1/auth/login` and
`/logout`, and set the same cookies, so the console and the API share one session.
"""

from __future__ import annotations

from urllib.parse import quote

from fastapi import Request
from fastapi.responses import RedirectResponse, Response

from edge.webui.access import Viewer
from oncallnova.auth import CSRF_COOKIE, SESSION_COOKIE
from oncallnova.context import AppContext
from oncallnova.db.models.oncall import User
from oncallnova.errors import Forbidden, NotAuthenticated
from oncallnova.security.guard import Issued, security_of
from oncallnova.security.tokens import csrf_ok, csrf_token


async def current_viewer(request: Request, ctx: AppContext) -> Viewer | None:
    """The signed-in person, or None (the page sends them to the login form)."""
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        return None
    security = await security_of(ctx)
    try:
        principal = await security.authenticate(token, via_cookie=True)
    except NotAuthenticated:
        return None
    async with ctx.sessions() as session:
        user = await session.get(User, principal.user_id)
    # The audit log records the console's writes under this person.
    request.state.principal = principal
    return Viewer(
        principal=principal,
        name=user.name if user is not None else principal.user_id,
        csrf=csrf_token(security.secret, principal.jti or ""),
    )


def login_required(request: Request) -> Response:
    target = request.url.path + ("?" + request.url.query if request.url.query else "")
    return RedirectResponse(f"/login?next={quote(target, safe='')}", status_code=303)


async def check_csrf(ctx: AppContext, viewer: Viewer, presented: str | None) -> None:
    """A form post must carry this session's CSRF token (or send it as `X-CSRF-Token`)."""
    security = await security_of(ctx)
    if not csrf_ok(security.secret, viewer.principal.jti or "", presented):
        raise Forbidden(
            "csrf_token: missing or wrong; reload the page and try again", field="csrf_token"
        )


def set_session(response: Response, issued: Issued, secret: bytes, *, secure: bool) -> None:
    """The cookies `POST /api/v1/auth/login` sets: the token (HttpOnly) and its CSRF token."""
    for name, value, http_only in (
        (SESSION_COOKIE, issued.token, True),
        (CSRF_COOKIE, csrf_token(secret, issued.jti), False),
    ):
        response.set_cookie(
            name,
            value,
            max_age=issued.expires_in,
            httponly=http_only,
            samesite="strict",
            secure=secure,
            path="/",
        )


def clear_session(response: Response) -> None:
    response.delete_cookie(SESSION_COOKIE, path="/")
    response.delete_cookie(CSRF_COOKIE, path="/")


def csrf_of(form_value: object, request: Request) -> str | None:
    """The CSRF token a request presents: the form field, else the `X-CSRF-Token` header."""
    if isinstance(form_value, str) and form_value:
        return form_value
    return request.headers.get("x-csrf-token")
