"""Trace context across every hop: W3C `traceparent` travels in NATS headers."""

from __future__ import annotations

from collections.abc import Mapping

from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.sdk.trace import TracerProvider

_configured = False


def setup_tracing(service_name: str = "oncallnova") -> None:
    """Install an SDK tracer provider once per process (exporters come from the environment)."""
    global _configured
    if _configured:
        return
    from opentelemetry.sdk.resources import Resource

    trace.set_tracer_provider(
        TracerProvider(resource=Resource.create({"service.name": service_name}))
    )
    _configured = True


def tracer() -> trace.Tracer:
    return trace.get_tracer("oncallnova")


def inject(headers: dict[str, str]) -> dict[str, str]:
    """Add the current span's trace context to outgoing headers."""
    propagate.inject(headers)
    return headers


def extract(headers: Mapping[str, str] | None) -> otel_context.Context:
    """The trace context a message arrived with (empty context when it carried none)."""
    return propagate.extract(dict(headers or {}))
