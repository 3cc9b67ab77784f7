"""Every HTTP request measured (latency by route template) and, when tracing is on, traced."""

from __future__ import annotations

import time
from typing import Any

from opentelemetry import trace

from oncallnova import telemetry
from oncallnova.process_metrics import ProcessMetrics

Scope = dict[str, Any]


def route_template(scope: Scope) -> str:
    """The matched route's template (`/api/v1/incidents/{incident_id}`), never the raw path:
    ids in labels would make one series per incident."""
    route = scope.get("route")
    return getattr(route, "path", None) or "unmatched"


class RequestTelemetry:
    """Pure ASGI middleware: cheaper than Starlette's BaseHTTPMiddleware on the hot path."""

    def __init__(self, app: Any, metrics: ProcessMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500
        started = time.perf_counter()

        async def send_and_see(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        method = scope["method"]
        try:
            if telemetry.enabled():
                await self._traced(scope, receive, send_and_see, lambda: status)
            else:
                await self.app(scope, receive, send_and_see)
        finally:
            self.metrics.http_duration.labels(method, route_template(scope), str(status)).observe(
                time.perf_counter() - started
            )

    async def _traced(self, scope: Scope, receive: Any, send: Any, status: Any) -> None:
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        with telemetry.tracer().start_as_current_span(
            f"{scope['method']} {scope['path']}",
            context=telemetry.extract(headers),
            kind=trace.SpanKind.SERVER,
            attributes={"http.request.method": scope["method"], "url.path": scope["path"]},
        ) as span:
            try:
                await self.app(scope, receive, send)
            finally:
                template = route_template(scope)
                span.update_name(f"{scope['method']} {template}")
                span.set_attribute("http.route", template)
                span.set_attribute("http.response.status_code", status())
