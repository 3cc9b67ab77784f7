"""Every gRPC call measured (latency by method and code) and, when tracing is on, traced."""

from __future__ import annotations

import time
from typing import Any

import grpc
from opentelemetry import trace

from oncallnova import telemetry
from oncallnova.grpc_unary import Behaviour, UnaryInterceptor
from oncallnova.process_metrics import ProcessMetrics


class TelemetryInterceptor(UnaryInterceptor):
    """Outermost interceptor: sees the status the error interceptor settled on."""

    def __init__(self, metrics: ProcessMetrics) -> None:
        self.metrics = metrics

    def wrap(self, inner: Behaviour, method: str) -> Behaviour:
        histogram = self.metrics.grpc_duration

        async def measured(request: Any, context: grpc.aio.ServicerContext) -> Any:
            started = time.perf_counter()
            code = "OK"
            try:
                if not telemetry.enabled():
                    return await inner(request, context)
                metadata = {
                    k: v for k, v in context.invocation_metadata() or () if isinstance(v, str)
                }
                with telemetry.tracer().start_as_current_span(
                    method.lstrip("/"),
                    context=telemetry.extract(metadata),
                    kind=trace.SpanKind.SERVER,
                    attributes={"rpc.system": "grpc", "rpc.method": method},
                ):
                    return await inner(request, context)
            except BaseException:
                found = context.code()
                code = found.name if isinstance(found, grpc.StatusCode) else "UNKNOWN"
                raise
            finally:
                histogram.labels(method, code).observe(time.perf_counter() - started)

        return measured
