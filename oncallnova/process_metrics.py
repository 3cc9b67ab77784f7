"""Metrics of this process that are not a worker's: HTTP and gRPC latency, log shipping."""

from __future__ import annotations

import logging
from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily
from prometheus_client.registry import Collector

# Seconds; requests are milliseconds, a slow database query can take seconds.
REQUEST_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class LogShippingCollector(Collector):
    """Records sent and dropped by the Loki handlers on the root logger."""

    def collect(self) -> Iterator[CounterMetricFamily]:
        from oncallnova.loki import LokiHandler

        sent = CounterMetricFamily(
            "oncallnova_log_records_shipped", "Log records pushed to Loki", labels=["sink"]
        )
        dropped = CounterMetricFamily(
            "oncallnova_log_records_dropped",
            "Log records dropped because Loki was slow or down",
            labels=["sink"],
        )
        for handler in logging.getLogger().handlers:
            if isinstance(handler, LokiHandler):
                sent.add_metric(["loki"], handler.sent)
                dropped.add_metric(["loki"], handler.dropped)
        yield from (sent, dropped)


class ProcessMetrics:
    """One registry per process; route templates and method names only, never ids."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.http_duration = Histogram(
            "oncallnova_http_request_duration_seconds",
            "HTTP requests by route template, method and status",
            ["method", "route", "status"],
            buckets=REQUEST_BUCKETS,
            registry=self.registry,
        )
        self.grpc_duration = Histogram(
            "oncallnova_grpc_request_duration_seconds",
            "gRPC calls by method and status code",
            ["method", "code"],
            buckets=REQUEST_BUCKETS,
            registry=self.registry,
        )
        # reason: backlog_full (429), broker_unavailable (503), rate_limited (429).
        self.ingestion_refused = Counter(
            "oncallnova_ingestion_refused",
            "Alert bodies refused at ingestion, nothing stored, by reason",
            ["reason"],
            registry=self.registry,
        )
        self.registry.register(LogShippingCollector())
