"""The one HTTP app: every edge's REST routes, the UI, /metrics and /healthz on one port."""

from __future__ import annotations

import asyncio
import inspect
import logging
from typing import Any

import nats.errors
from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from starlette.exceptions import HTTPException

from app.edges import include_routers
from app.middleware import RequestTelemetry
from app.openapi import document_errors
from app.status import router as status_router
from edge.accounts import rest as accounts_rest
from oncallnova.auth import authorize
from oncallnova.bus.backlog import overloaded, stream_fills
from oncallnova.bus.connection import BROKER_DOWN
from oncallnova.context import AppContext
from oncallnova.errors import InvalidInput, OnCallNovaError, Unavailable, error_headers
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


def _without_native_telemetry() -> dict[str, Any]:
    """FastAPI ≥ 0.16x traces requests itself through the global provider; `RequestTelemetry`
    already does (with the route template, the incoming `traceparent` and our metrics), so
    FastAPI's own is turned off where it exists: one span per request, none when tracing is."""
    if "telemetry" not in inspect.signature(FastAPI).parameters:
        return {}
    off = {"tracing": False, "metrics": False, "logs": False, "operation_spans": False}
    return {"telemetry": off}


def create_app(ctx: AppContext, edge_names: list[str], platform: Any = None) -> FastAPI:
    app = FastAPI(
        title="OnCallNova",
        version="0.1.0",
        description="Self-hosted incident response: alerts in, incidents out.",
        # Every route passes the one authorization dependency (rules: oncallnova/security/rules.py).
        dependencies=[Depends(authorize)],
        **_without_native_telemetry(),
    )
    app.state.ctx = ctx
    app.add_middleware(RequestTelemetry, metrics=ctx.metrics)
    app.add_middleware(AuditLog, ctx=ctx)
    app.add_middleware(BodyLimit, limit=ctx.settings.max_body_bytes)
    app.add_middleware(SecurityHeaders)

    @app.exception_handler(OnCallNovaError)
    async def _domain_error(_: Request, error: OnCallNovaError) -> JSONResponse:
        return JSONResponse(
            error.to_dict(),
            status_code=error.status_code,
            headers={**(error.headers or {}), **error_headers(error.status_code)},
        )

    @app.exception_handler(HTTPException)
    async def _http_error(_: Request, error: HTTPException) -> JSONResponse:
        # FastAPI's own refusals (a body that is not JSON, an unknown path or method) in the
        # same `{"error": ...}` shape as every other error.
        codes = {400: "bad_request", 404: "not_found", 405: "method_not_allowed"}
        body = {"error": {"code": codes.get(error.status_code, "error"), "message": error.detail}}
        headers = {**(error.headers or {}), **error_headers(error.status_code)}
        return JSONResponse(body, status_code=error.status_code, headers=headers)

    @app.exception_handler(DBAPIError)
    async def _database_error(request: Request, error: DBAPIError) -> JSONResponse:
        # PostgreSQL text cannot hold U+0000; a NUL in an id or filter (path or query) reaches
        # the driver, which refuses the whole statement. That is bad input, not a server fault.
        if "0x00" in str(error.orig) or "\\u0000" in str(error.orig):
            invalid = InvalidInput("text must not contain NUL characters (U+0000)")
            return JSONResponse(invalid.to_dict(), status_code=invalid.status_code)
        raise error

    @app.exception_handler(nats.errors.Error)
    async def _broker_error(_: Request, error: nats.errors.Error) -> JSONResponse:
        # A read or publish that met the broker down: the caller may retry, nothing was done.
        unavailable = Unavailable(BROKER_DOWN)
        return JSONResponse(unavailable.to_dict(), status_code=503, headers=error_headers(503))

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

    @app.get(
        "/healthz",
        tags=["operations"],
        responses={503: {"description": "A dependency or a component is down (same body)"}},
    )
    async def healthz() -> JSONResponse:
        """200 only when the database and NATS answer and every component is running; status
        `overloaded` (still 200) when a backlog is 90 % of its limit or more."""
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
        # A full backlog is not a fault (ingestion answers 429 backlog_full while the workers
        # catch up), so it keeps the 200: "overloaded" tells operators, not load balancers.
        fills = await stream_fills(ctx.bus) if checks["nats"] else []
        full = overloaded(fills)
        status = "unhealthy" if not healthy else "overloaded" if full else "ok"
        return JSONResponse(
            {
                "status": status,
                "checks": checks,
                "backlogs": {f.stream: round(f.fill, 4) for f in fills},
                "overloaded": full,
            },
            status_code=200 if healthy else 503,
        )

    app.include_router(accounts_rest.router(ctx))
    include_routers(app, ctx, edge_names)
    app.include_router(status_router(ctx))
    document_errors(app)
    return app
