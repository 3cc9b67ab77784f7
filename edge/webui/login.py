"""Logging in and out of the console: a form over the security layer's login (same checks,
same rate limits, same cookies as `POST /api/v1/auth/login`)."""

from __future__ import annotations

import hmac
import secrets

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from edge.webui import views
from edge.webui.headers import SecureRoute, is_https
from edge.webui.session import check_csrf, clear_session, csrf_of, current_viewer, set_session
from oncallnova.context import AppContext
from oncallnova.errors import NotAuthenticated, OnCallNovaError, TooManyRequests
from oncallnova.security.guard import security_of


def router(ctx: AppContext, tpl: Jinja2Templates) -> APIRouter:
    ui = APIRouter(route_class=SecureRoute, include_in_schema=False)

    def form(request: Request, next_path: str, status: int = 200, **context: object) -> Response:
        # Login CSRF: the form carries a nonce that must match a cookie only this site can set,
        # so another site cannot log a browser into an account of its choosing.
        nonce = secrets.token_urlsafe(24)
        response = tpl.TemplateResponse(
            request,
            "login.html",
            {"viewer": None, "csrf": nonce, "path": "/login", "next": next_path, **context},
            status_code=status,
        )
        response.set_cookie(LOGIN_NONCE, nonce, max_age=3600, httponly=True, samesite="strict",
                            secure=secure_cookies(ctx, request), path="/login")  # fmt: skip
        return response

    @ui.get("/login", response_class=HTMLResponse)
    async def login_page(request: Request, next: str = "/") -> Response:
        target = views.safe_next(next)
        if await current_viewer(request, ctx) is not None:
            return RedirectResponse(target, status_code=303)
        return form(request, target, logged_out=request.query_params.get("bye") == "1")

    @ui.post("/login")
    async def login(
        request: Request,
        username: str = Form("", max_length=320),
        password: str = Form("", max_length=256),
        next: str = Form("/"),
        csrf_token: str = Form(""),
    ) -> Response:
        target = views.safe_next(next)
        expected = request.cookies.get(LOGIN_NONCE, "")
        if not expected or not hmac.compare_digest(expected, csrf_token):
            return form(request, target, 403, username=username,
                        error="The form had expired; please log in again.")  # fmt: skip
        if not username or not password:
            return form(request, target, 422, error="Enter your username and password.",
                        username=username)  # fmt: skip
        security = await security_of(ctx)
        address = request.client.host if request.client else "unknown"
        try:
            _, issued = await security.login(username, password, address)
        except TooManyRequests as error:
            response = form(request, target, 429, username=username,
                            error=f"Too many attempts: {error.message}. Try again shortly.")  # fmt: skip
            response.headers.update(error.headers or {})
            return response
        except NotAuthenticated as error:
            return form(request, target, 401, error=error.message.capitalize() + ".",
                        username=username)  # fmt: skip
        response = RedirectResponse(target, status_code=303)
        set_session(response, issued, security.secret, secure=secure_cookies(ctx, request))
        return response

    @ui.post("/logout")
    async def logout(request: Request, csrf_token: str = Form("")) -> Response:
        viewer = await current_viewer(request, ctx)
        if viewer is not None:
            try:
                await check_csrf(ctx, viewer, csrf_of(csrf_token, request))
            except OnCallNovaError:
                # A forged logout form changes nothing: back where they were.
                return RedirectResponse("/", status_code=303)
            await (await security_of(ctx)).revoke(viewer.principal)
        response = RedirectResponse("/login?bye=1", status_code=303)
        clear_session(response)
        return response

    return ui


LOGIN_NONCE = "oncallnova_login_nonce"


def secure_cookies(ctx: AppContext, request: Request) -> bool:
    return bool(ctx.settings.cookie_secure) or is_https(request)
