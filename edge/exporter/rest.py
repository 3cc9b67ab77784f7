"""The metrics exporter: `/metrics` in Prometheus text format.

Counters of every worker in this process (handled, retried, dead-lettered) are read at
scrape time, and `oncall_oncall_engineers_active` is computed from the schedules then; the
metrics issue adds the rest of the domain gauges.
"""

from __future__ import annotations

from collections.abc import Iterator

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Gauge, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from oncallnova.context import AppContext
from oncallnova.db.repositories.oncall import count_engineers_on_call


class WorkerCollector(Collector):
    def __init__(self, ctx: AppContext) -> None:
        self.ctx = ctx

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
        runners = getattr(self.ctx, "runners", {})
        handled = CounterMetricFamily(
            "oncallnova_worker_messages_handled", "Messages handled and acked", labels=["worker"]
        )
        retried = CounterMetricFamily(
            "oncallnova_worker_messages_retried", "Messages nak'd for redelivery", labels=["worker"]
        )
        dead = CounterMetricFamily(
            "oncallnova_worker_messages_dead_lettered",
            "Messages sent to the DLQ",
            labels=["worker"],
        )
        up = GaugeMetricFamily("oncallnova_worker_up", "1 while the worker runs", labels=["worker"])
        for name, runner in runners.items():
            handled.add_metric([name], runner.stats.handled)
            retried.add_metric([name], runner.stats.retried)
            dead.add_metric([name], runner.stats.dead_lettered)
            up.add_metric([name], 1.0 if runner.stats.running else 0.0)
        yield from (handled, retried, dead, up)


def router(ctx: AppContext) -> APIRouter:
    api = APIRouter(tags=["operations"])
    registry = CollectorRegistry()
    registry.register(WorkerCollector(ctx))
    on_call = Gauge(
        "oncall_oncall_engineers_active",
        "People some schedule puts on call now",
        registry=registry,
    )

    @api.get("/metrics", include_in_schema=False)
    async def metrics() -> Response:
        async with ctx.sessions() as session:
            on_call.set(await count_engineers_on_call(session, ctx.clock()))
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    return api
