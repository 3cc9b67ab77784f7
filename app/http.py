"""The one HTTP app: every edge's REST routes, the UI, /metrics and /healthz on one port."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy import text

from app.edges import include_routers
from edge.accounts import rest as accounts_rest
from oncallnova.auth import authorize
from oncallnova.context import AppContext
from oncallnova.errors import OnCallNovaError
from oncallnova.security.middleware import AuditLog, BodyLimit, SecurityHeaders

log = logging.getLogger(__name__)


def field_path(loc: tuple[Any, ...] | list[Any]) -> str:
    """`("body", "payload", "severity")` → `payload.severity`; list indexes as `[0]`."""
    parts: list[str] = []
    for item in loc:
        if item in ("body", "query", "path", "header") and not parts:
            continue
        if isinstance(item, int):
            parts.append(f"[{item}]")
        else:
            parts.append(("." if parts else "") + str(item))
    return "".join(parts) or "body"


def create_app(ctx: AppContext, edge_names: list[str], platform: Any = None) -> FastAPI:
    app = FastAPI(
        title="OnCallNova",
        version="0.1.0",
        description="Self-hosted incident response: alerts in, incidents out.",
        # Every route passes the one authorization dependency (rules: oncallnova/security/rules.py).
        dependencies=[Depends(authorize)],
    )
    app.state.ctx = ctx
    app.add_middleware(AuditLog, ctx=ctx)
    app.add_middleware(BodyLimit, limit=ctx.settings.max_body_bytes)
    app.add_middleware(SecurityHeaders)

    @app.exception_handler(OnCallNovaError)
    async def _domain_error(_: Request, error: OnCallNovaError) -> JSONResponse:
        return JSONResponse(error.to_dict(), status_code=error.status_code, headers=error.headers)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, error: Exception) -> JSONResponse:
        # Logged with its traceback here; the client learns nothing about the internals.
        log.exception("%s %s failed", request.method, request.url.path)
        return JSONResponse(
            {"error": {"code": "internal", "message": "internal error"}}, status_code=500
        )

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_: Request, error: RequestValidationError) -> JSONResponse:
        problems = [
            {
                # A JSON syntax error's location is a character offset, not a field.
                "field": "body"
                if e.get("type") == "json_invalid"
                else field_path(e.get("loc", ())),
                "message": e.get("msg", "invalid"),
            }
            for e in error.errors()
        ]
        first = problems[0] if problems else {"field": "body", "message": "invalid"}
        return JSONResponse(
            {
                "error": {
                    "code": "invalid_input",
                    "message": f"{first['field']}: {first['message']}",
                    "field": first["field"],
                    "errors": problems,
                }
            },
            status_code=422,
        )

    @app.get("/healthz", tags=["operations"])
    async def healthz() -> JSONResponse:
        """200 only when the database and NATS answer and every component is running."""
        checks: dict[str, bool] = {}
        try:
            async with ctx.engine.connect() as connection:
                await asyncio.wait_for(connection.execute(text("SELECT 1")), timeout=2)
            checks["database"] = True
        except Exception:
            checks["database"] = False
        checks["nats"] = ctx.bus.nc.is_connected
        for name, is_running in ctx.components.items():
            checks[name] = bool(is_running())
        healthy = all(checks.values())
        return JSONResponse(
            {"status": "ok" if healthy else "unhealthy", "checks": checks},
            status_code=200 if healthy else 503,
        )

    app.include_router(accounts_rest.router(ctx))
    include_routers(app, ctx, edge_names)
    return app
