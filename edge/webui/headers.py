"""Security headers on every web UI response: a strict Content-Security-Policy and friends."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.routing import APIRoute

# Scripts and styles come from our own /static only: no inline script, no inline style, no
# eval, nothing from another origin. Forms post only to us; nobody may frame the console.
CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
        "manifest-src 'self'",
    )
)

SECURITY_HEADERS: dict[str, str] = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=(), usb=()",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
}


def add_security_headers(response: Response, *, https: bool, cacheable: bool) -> None:
    """Set the headers; pages carry people's data, so only static assets may be cached."""
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    if https:
        response.headers.setdefault("Strict-Transport-Security", "max-age=31536000")
    if not cacheable:
        response.headers.setdefault("Cache-Control", "no-store")


def is_https(request: Request) -> bool:
    """True behind TLS, directly or through the gateway (`X-Forwarded-Proto`)."""
    forwarded = request.headers.get("x-forwarded-proto", "").split(",")[0].strip()
    return request.url.scheme == "https" or forwarded == "https"


class SecureRoute(APIRoute):
    """An APIRoute whose responses always carry the security headers."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        cacheable = self.path.startswith("/static/")

        async def secured(request: Request) -> Response:
            response = await handler(request)
            add_security_headers(response, https=is_https(request), cacheable=cacheable)
            return response

        return secured
