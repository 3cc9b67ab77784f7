"""Trace context across every hop: W3C `traceparent` travels in NATS headers."""

from __future__ import annotations

import os
from collections.abc import Mapping

from opentelemetry import context as otel_context
from opentelemetry import propagate, trace

_configured = False


def setup_tracing(service_name: str = "oncallnova") -> bool:
    """Record spans and send them to the OTLP endpoint named by `OTEL_EXPORTER_OTLP_ENDPOINT`
    (Jaeger in the distributed deployment); True when it did. Without an endpoint the API's
    no-op tracer stays: spans cost nearly nothing, and the trace context that arrived in a
    message's headers is still passed on to what it causes."""
    global _configured
    if _configured or not os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT"):
        return _configured
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    provider = TracerProvider(resource=Resource.create({"service.name": service_name}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)
    _configured = True
    return True


def tracer() -> trace.Tracer:
    return trace.get_tracer("oncallnova")


def inject(headers: dict[str, str]) -> dict[str, str]:
    """Add the current span's trace context to outgoing headers."""
    propagate.inject(headers)
    return headers


def extract(headers: Mapping[str, str] | None) -> otel_context.Context:
    """The trace context a message arrived with (empty context when it carried none)."""
    return propagate.extract(dict(headers or {}))
