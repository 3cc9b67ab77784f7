"""`METRICS_PORT`: a process's own metrics on a port of their own, for workers run alone (they
serve no HTTP) and edges other than the exporter. The incident metrics are the exporter's."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import Metric
from prometheus_client.registry import Collector

from edge.exporter.rest import worker_families
from oncallnova.context import AppContext


class ProcessCollector(Collector):
    """Worker counters and latency, HTTP/gRPC latency and log shipping of this process."""

    def __init__(self, ctx: AppContext) -> None:
        self.ctx = ctx

    def collect(self) -> Iterator[Metric]:
        # Read from another thread: plain counters, a torn read is at most one batch stale.
        yield from worker_families(dict(self.ctx.runners))
        yield from self.ctx.metrics.registry.collect()


def serve_process_metrics(ctx: AppContext, host: str, port: int) -> tuple[Any, threading.Thread]:
    """Start the metrics HTTP server in a thread (scrapes never wait on the event loop)."""
    registry = CollectorRegistry()
    registry.register(ProcessCollector(ctx))
    return start_http_server(port, addr=host, registry=registry)
