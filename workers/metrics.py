"""Metrics worker: incident events and received alerts in, idempotent aggregates out.

Consumes: `incident.<event>.v1.<incident_id>` (durable `metrics`) and
          `alert.received.v1.<format>` (durable `metrics_alerts`).
Emits:    nothing; it writes `metric_incidents` and `metric_series`, which every copy of the
          exporter edge reads at scrape time.
Idempotency: an incident's series move by the difference between its stored facts before and
          after an event (`oncallnova/metrics/facts.py`), so a redelivered or late event moves
          nothing; a received message is counted once, by its id (`metric_seen_messages`,
          pruned past the ALERTS stream's retention, when no redelivery can come).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import timedelta

from nats.aio.msg import Msg

from oncallnova.bus.runtime import Delivery, InvalidMessage, UnitOfWork, Worker, parse
from oncallnova.context import AppContext
from oncallnova.db.repositories import metrics as repo
from oncallnova.metrics.facts import (
    ALERTS_INGESTED,
    Facts,
    alerts_in_body,
    combine,
    deltas,
    labels,
    merge,
)
from schemas.envelope import Envelope
from schemas.incident_v1 import IncidentEventV1
from schemas.subjects import ALERT_FORMATS


class IncidentMetricsWorker(Worker[IncidentEventV1]):
    consumer = "metrics"

    def __init__(self, ctx: AppContext) -> None:
        self.ctx = ctx

    def decode(self, subject: str, envelope: Envelope, msg: Msg) -> IncidentEventV1:
        return parse(IncidentEventV1, msg)

    async def handle(self, batch: list[Delivery[IncidentEventV1]], uow: UnitOfWork) -> None:
        incidents = {
            d.data.incident.id: (d.data.incident.severity, d.data.incident.service_id)
            for d in batch
        }
        before = await repo.lock_facts(uow.session, incidents)
        after = dict(before)
        for delivery in batch:
            incident = delivery.data.incident
            after[incident.id] = merge(
                after[incident.id],
                incident.status,
                incident.created_at,
                incident.acknowledged_at,
                incident.resolved_at,
            )
        changed: list[Facts] = [f for i, f in after.items() if f != before[i]]
        await repo.save_facts(uow.session, changed)
        await repo.add_to_series(
            uow.session, combine(deltas(before[f.incident_id], f) for f in changed)
        )


@dataclass(frozen=True)
class Received:
    fmt: str
    alerts: int


# ALERTS keeps messages 7 days (nats/streams.json): an id older than that cannot come back.
SEEN_KEPT = timedelta(days=8)
PRUNE_EVERY = 500  # batches


class AlertMetricsWorker(Worker[Received]):
    consumer = "metrics_alerts"

    def __init__(self, ctx: AppContext) -> None:
        self.ctx = ctx
        self._batches = 0

    def decode(self, subject: str, envelope: Envelope, msg: Msg) -> Received:
        fmt = subject.rsplit(".", 1)[-1]
        if fmt not in ALERT_FORMATS:
            raise InvalidMessage(f"format: {fmt!r} is not one of {', '.join(ALERT_FORMATS)}")
        try:
            body = json.loads(msg.data)
        except ValueError:
            body = None  # the fingerprinter dead-letters it; it was still ingested
        return Received(fmt, alerts_in_body(fmt, body))

    async def handle(self, batch: list[Delivery[Received]], uow: UnitOfWork) -> None:
        by_id = {d.envelope.id: d for d in batch}
        new = await repo.first_seen(uow.session, sorted(by_id), self.ctx.clock())
        moved: dict[tuple[str, str], float] = {}
        for message_id in new:
            received = by_id[message_id].data
            key = (ALERTS_INGESTED, labels(format=received.fmt))
            moved[key] = moved.get(key, 0.0) + received.alerts
        await repo.add_to_series(uow.session, moved)
        self._batches += 1
        if self._batches % PRUNE_EVERY == 1:
            await repo.forget_seen_before(uow.session, self.ctx.clock() - SEEN_KEPT)
