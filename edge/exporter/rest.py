"""The metrics exporter: `/metrics` in Prometheus text format, and the analytics API.

The design's six incident metrics are read from the aggregates the metrics worker keeps in the
database (`metric_series`), so every copy of this edge answers the same and a restart changes
nothing; `oncall_oncall_engineers_active` is computed from the schedules at scrape time. The
process's own metrics follow: the workers of this process (handled, redelivered, retried,
dead-lettered, handler latency), the durable consumers' pending and ack-pending counts as the
server reports them, HTTP and gRPC latency, log shipping.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Iterator
from typing import Any

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)

from edge.exporter import analytics
from oncallnova.bus import declarations
from oncallnova.bus.backlog import stream_fills
from oncallnova.context import AppContext
from oncallnova.db.repositories.metrics import read_series
from oncallnova.db.repositories.oncall import count_engineers_on_call
from oncallnova.metrics.facts import (
    ACTIVE_STATUSES,
    ALERTS_INGESTED,
    INCIDENTS_ACTIVE,
    INCIDENTS_TOTAL,
    MTTA,
    MTTR,
    SEVERITIES,
    cumulative_buckets,
    parse_labels,
)
from schemas.subjects import ALERT_FORMATS

log = logging.getLogger(__name__)


def incident_families(
    series: Iterable[tuple[str, str, float]], engineers_on_call: int
) -> list[Metric]:
    """The design's six metrics from stored series; every known label value is shown, at zero
    until it moves, so dashboards and `rate()` see a series from the start."""
    index: dict[tuple[str, frozenset[tuple[str, str]]], float] = {}
    by_name: dict[str, list[tuple[dict[str, str], float]]] = {}
    for name, label_text, value in series:
        found = parse_labels(label_text)
        index[(name, frozenset(found.items()))] = value
        by_name.setdefault(name, []).append((found, value))

    def value_of(name: str, **wanted: str) -> float:
        return index.get((name, frozenset(wanted.items())), 0.0)

    total = CounterMetricFamily(INCIDENTS_TOTAL, "Incidents opened", labels=["severity"])
    active = GaugeMetricFamily(
        INCIDENTS_ACTIVE, "Incidents open now (triggered or acknowledged)",
        labels=["status", "severity"],
    )  # fmt: skip
    for severity in SEVERITIES:
        total.add_metric([severity], value_of(INCIDENTS_TOTAL, severity=severity))
        for status in ACTIVE_STATUSES:
            active.add_metric(
                [status, severity], value_of(INCIDENTS_ACTIVE, status=status, severity=severity)
            )
    families: list[Metric] = [total, active]
    for name, doc in (
        (MTTA, "Seconds from an incident's creation to its first acknowledgement"),
        (MTTR, "Seconds from an incident's creation to its resolution"),
    ):
        histogram = HistogramMetricFamily(name, doc, labels=["severity"])
        for severity in SEVERITIES:
            per_bucket = {
                found["le"]: value
                for found, value in by_name.get(f"{name}_bucket", [])
                if found.get("severity") == severity
            }
            histogram.add_metric(
                [severity],
                buckets=cumulative_buckets(per_bucket),
                sum_value=value_of(f"{name}_sum", severity=severity),
            )
        families.append(histogram)
    ingested = CounterMetricFamily(
        ALERTS_INGESTED, "Alerts received, by wire format", labels=["format"]
    )
    for fmt in ALERT_FORMATS:
        ingested.add_metric([fmt], value_of(ALERTS_INGESTED, format=fmt))
    on_call = GaugeMetricFamily(
        "oncall_oncall_engineers_active", "People some schedule puts on call now"
    )
    on_call.add_metric([], engineers_on_call)
    families += [ingested, on_call]
    return families


def worker_families(runners: dict[str, Any]) -> list[Metric]:
    """Counters and handler latency of the workers running in this process."""
    handled = CounterMetricFamily(
        "oncallnova_worker_messages_handled", "Messages handled and acked", labels=["worker"]
    )
    redelivered = CounterMetricFamily(
        "oncallnova_worker_messages_redelivered",
        "Messages received again after an earlier delivery (nak, timeout, restart)",
        labels=["worker"],
    )
    retried = CounterMetricFamily(
        "oncallnova_worker_messages_retried", "Messages nak'd for redelivery", labels=["worker"]
    )
    dead = CounterMetricFamily(
        "oncallnova_worker_messages_dead_lettered", "Messages sent to the DLQ", labels=["worker"]
    )
    waits = CounterMetricFamily(
        "oncallnova_worker_backlog_waits",
        "Batches given back because the stream they publish to was full",
        labels=["worker"],
    )
    up = GaugeMetricFamily("oncallnova_worker_up", "1 while the worker runs", labels=["worker"])
    latency = HistogramMetricFamily(
        "oncallnova_worker_handler_seconds",
        "Seconds to handle, commit, publish and ack one batch",
        labels=["worker"],
    )
    for name, runner in runners.items():
        stats = runner.stats
        handled.add_metric([name], stats.handled)
        redelivered.add_metric([name], stats.redelivered)
        retried.add_metric([name], stats.retried)
        dead.add_metric([name], stats.dead_lettered)
        waits.add_metric([name], stats.backlog_waits)
        up.add_metric([name], 1.0 if stats.running else 0.0)
        latency.add_metric(
            [name], buckets=stats.latency.cumulative(), sum_value=stats.latency.total
        )
    return [handled, redelivered, retried, dead, waits, up, latency]


async def consumer_families(ctx: AppContext, timeout_s: float = 1.0) -> list[Metric]:
    """Pending and ack-pending of every declared durable consumer, as the server counts them
    (shared by all copies of a worker, so any process can report them)."""
    pending = GaugeMetricFamily(
        "oncallnova_consumer_pending", "Messages not yet delivered", labels=["consumer"]
    )
    ack_pending = GaugeMetricFamily(
        "oncallnova_consumer_ack_pending",
        "Messages delivered and not yet acknowledged",
        labels=["consumer"],
    )
    decls = declarations.consumers()

    async def info(decl: declarations.ConsumerDecl) -> tuple[float, float]:
        # A partitioned worker has one durable per partition: its backlog is their sum.
        stream = ctx.bus.stream(decl.stream)
        infos = [await ctx.bus.js.consumer_info(stream, durable) for durable in decl.durables()]
        return (
            float(sum(i.num_pending or 0 for i in infos)),
            float(sum(i.num_ack_pending or 0 for i in infos)),
        )

    try:
        results = await asyncio.wait_for(
            asyncio.gather(*(info(d) for d in decls), return_exceptions=True), timeout_s
        )
    except TimeoutError:
        log.warning("consumer info did not come within %.1fs; pending counts left out", timeout_s)
        return [pending, ack_pending]
    for decl, result in zip(decls, results, strict=True):
        if isinstance(result, BaseException):
            continue
        pending.add_metric([decl.durable], result[0])
        ack_pending.add_metric([decl.durable], result[1])
    return [pending, ack_pending]


async def backlog_families(ctx: AppContext) -> list[Metric]:
    """Content and limits of every stream that refuses when full (`oncallnova/bus/backlog.py`)."""
    messages = GaugeMetricFamily(
        "oncallnova_stream_messages", "Messages stored in the stream", labels=["stream"]
    )
    size = GaugeMetricFamily(
        "oncallnova_stream_bytes", "Bytes stored in the stream", labels=["stream"]
    )
    max_msgs = GaugeMetricFamily(
        "oncallnova_stream_max_messages",
        "The stream's message limit (absent: none)",
        labels=["stream"],
    )
    max_bytes = GaugeMetricFamily(
        "oncallnova_stream_max_bytes", "The stream's byte limit (absent: none)", labels=["stream"]
    )
    fill = GaugeMetricFamily(
        "oncallnova_stream_fill_ratio",
        "The larger of messages/limit and bytes/limit; at 1 publishes are refused",
        labels=["stream"],
    )
    for f in await stream_fills(ctx.bus):
        messages.add_metric([f.stream], f.messages)
        size.add_metric([f.stream], f.bytes)
        if f.max_msgs:
            max_msgs.add_metric([f.stream], f.max_msgs)
        if f.max_bytes:
            max_bytes.add_metric([f.stream], f.max_bytes)
        fill.add_metric([f.stream], f.fill)
    return [messages, size, max_msgs, max_bytes, fill]


class Families:
    """What `generate_latest` needs: something with `collect()`."""

    def __init__(self, families: list[Metric]) -> None:
        self.families = families

    def collect(self) -> Iterator[Metric]:
        return iter(self.families)


async def _series(ctx: AppContext) -> list[tuple[str, str, float]]:
    async with ctx.sessions() as session:
        return await read_series(session)


async def _engineers_on_call(ctx: AppContext) -> int:
    async with ctx.sessions() as session:
        return await count_engineers_on_call(session, ctx.clock())


async def scrape(ctx: AppContext) -> bytes:
    """The whole `/metrics` page."""
    # Independent reads at once: the series, the schedules, the consumers', the streams' fill.
    series, engineers, consumers, backlogs = await asyncio.gather(
        _series(ctx), _engineers_on_call(ctx), consumer_families(ctx), backlog_families(ctx)
    )
    families = incident_families(series, engineers)
    families += worker_families(getattr(ctx, "runners", {}))
    families += consumers + backlogs
    families += list(ctx.metrics.registry.collect())
    return generate_latest(Families(families))  # type: ignore[arg-type]


def router(ctx: AppContext) -> APIRouter:
    api = APIRouter(tags=["operations"])

    @api.get("/metrics", include_in_schema=False)
    async def metrics() -> Response:
        return Response(await scrape(ctx), media_type=CONTENT_TYPE_LATEST)

    api.include_router(analytics.router(ctx))
    return api
