"""Tracing: W3C `traceparent` travels in NATS headers; spans are recorded only when exported.

Without `OTEL_EXPORTER_OTLP_ENDPOINT` no SDK provider is installed: `enabled()` is False, the
runtime and the HTTP middleware skip their span work, and the trace context that arrived in a
message's headers is still passed on to what it causes (propagation needs no SDK). An SDK
provider that records every span with nowhere to send it cost 40 % of the ingestion edge's
throughput, so recording is tied to having an exporter.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import propagate, trace

log = logging.getLogger(__name__)

_NOOP = trace.NoOpTracer()
# The provider this process records with (None: nothing is recorded) and its tracer.
_provider: Any = None
_tracer: trace.Tracer = _NOOP


def service_name_for(command: str, names: list[str] | None = None) -> str:
    """`oncallnova` for `up`, `oncallnova-<name>` for one worker or edge run alone."""
    if command in ("worker", "edge") and names:
        return f"oncallnova-{names[0]}"
    return "oncallnova" if command == "up" else f"oncallnova-{command}"


def otlp_protocol(environ: Mapping[str, str]) -> str:
    """The OTLP protocol the standard variables ask for; `http/protobuf` by default."""
    return (
        environ.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
        or environ.get("OTEL_EXPORTER_OTLP_PROTOCOL")
        or "http/protobuf"
    ).strip()


def setup_tracing(service_name: str = "oncallnova") -> bool:
    """Record spans and send them over OTLP when `OTEL_EXPORTER_OTLP_ENDPOINT` (or the
    traces-only variant) is set; True when it did. The SDK reads the other standard variables
    itself: OTEL_TRACES_SAMPLER(_ARG), OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES,
    OTEL_EXPORTER_OTLP_HEADERS/TIMEOUT, OTEL_BSP_*."""
    if _provider is not None:
        return True
    environ = os.environ
    endpoint = environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or environ.get(
        "OTEL_EXPORTER_OTLP_ENDPOINT"
    )
    if not endpoint or environ.get("OTEL_SDK_DISABLED", "").lower() == "true":
        return False
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    install(new_provider(service_name), BatchSpanProcessor(_otlp_exporter(otlp_protocol(environ))))
    return True


def _otlp_exporter(protocol: str) -> Any:
    if protocol == "grpc":
        try:
            from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (
                OTLPSpanExporter as GrpcExporter,
            )

            return GrpcExporter()
        except ImportError:
            log.warning("OTLP over gRPC needs opentelemetry-exporter-otlp-proto-grpc; using HTTP")
    elif protocol != "http/protobuf":
        log.warning("OTLP protocol %r is not supported; using http/protobuf", protocol)
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    return OTLPSpanExporter()


def new_provider(service_name: str) -> Any:
    """An SDK provider; OTEL_SERVICE_NAME, when set, wins over the component's own name."""
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider

    attributes = {} if os.environ.get("OTEL_SERVICE_NAME") else {"service.name": service_name}
    # The sampler comes from OTEL_TRACES_SAMPLER (parent-based always-on by default).
    return TracerProvider(resource=Resource.create(attributes))


def install(provider: Any, *processors: Any) -> None:
    """Record with `provider` from now on (tests install one with an in-memory exporter)."""
    global _provider, _tracer
    for processor in processors:
        provider.add_span_processor(processor)
    _provider = provider
    _tracer = provider.get_tracer("oncallnova")
    if isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider):
        trace.set_tracer_provider(provider)  # for libraries that ask the global API; once only


def uninstall() -> None:
    """Stop recording (sends what was recorded first)."""
    global _provider, _tracer
    if _provider is not None:
        _provider.force_flush()
        _provider.shutdown()
    _provider, _tracer = None, _NOOP


def enabled() -> bool:
    """True when spans are recorded and exported."""
    return _provider is not None


def tracer() -> trace.Tracer:
    return _tracer


def inject(headers: dict[str, str]) -> dict[str, str]:
    """Add the current span's trace context to outgoing headers."""
    propagate.inject(headers)
    return headers


def extract(headers: Mapping[str, str] | None) -> otel_context.Context:
    """The trace context a message arrived with (empty context when it carried none)."""
    return propagate.extract(dict(headers or {}))


def carrier(span: trace.Span) -> dict[str, str]:
    """The `traceparent` (and `tracestate`) naming `span` as the parent of what it causes."""
    headers: dict[str, str] = {}
    propagate.inject(headers, context=trace.set_span_in_context(span))
    return headers


@contextmanager
def client_span(name: str, **attributes: Any) -> Iterator[trace.Span]:
    """A span around one outgoing call (an email, a webhook): free when tracing is off."""
    with _tracer.start_as_current_span(
        name, kind=trace.SpanKind.CLIENT, attributes=attributes
    ) as span:
        yield span
