"""The design's six metrics from a scripted sequence, checked against values computed by hand,
and unchanged after every message is delivered again, after a restart, and on a second exporter.

Sequence on an injected clock (T = 10:00 UTC):
  T+0     three incidents open: A critical, B critical, C warning
  T+120   A acknowledged         → MTTA critical 120 s   (bucket le=300)
  T+3600  C acknowledged         → MTTA warning 3,600 s  (bucket le=3600)
  T+5400  A resolved             → MTTR critical 5,400 s (bucket le=7200)
Six PagerDuty events were ingested (3 triggers, 2 acknowledges, 1 resolve).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

import nats
from tests.helpers import (
    NATS_URL,
    Mesh,
    drop_namespace,
    eventually,
    new_namespace,
    pd_event,
    services_settings,
    start_mesh,
    stop_mesh,
)

DOMAIN = (
    "oncall_incidents_total",
    "oncall_incidents_active",
    "oncall_mtta_seconds",
    "oncall_mttr_seconds",
    "oncall_alerts_ingested_total",
)
T0 = datetime(2026, 11, 2, 10, 0, tzinfo=UTC)

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def parse(text: str) -> Samples:
    """Every sample of the page, parsed by Prometheus' own client library."""
    samples: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples


def domain(samples: Samples) -> Samples:
    return {k: v for k, v in samples.items() if k[0].startswith(DOMAIN)}


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples[(name, frozenset(labels.items()))]


def key(name: str, **labels: str) -> tuple[str, frozenset[tuple[str, str]]]:
    return (name, frozenset(labels.items()))


def expected() -> Samples:
    """The hand-computed values (every other label combination is zero)."""
    out: Samples = {
        key("oncall_incidents_total", severity="critical"): 2,
        key("oncall_incidents_total", severity="warning"): 1,
        key("oncall_incidents_active", status="triggered", severity="critical"): 1,
        key("oncall_incidents_active", status="acknowledged", severity="warning"): 1,
        key("oncall_alerts_ingested_total", format="pagerduty"): 6,
        key("oncall_mtta_seconds_count", severity="critical"): 1,
        key("oncall_mtta_seconds_sum", severity="critical"): 120,
        key("oncall_mtta_seconds_count", severity="warning"): 1,
        key("oncall_mtta_seconds_sum", severity="warning"): 3600,
        key("oncall_mttr_seconds_count", severity="critical"): 1,
        key("oncall_mttr_seconds_sum", severity="critical"): 5400,
    }
    bounds = ["60.0", "300.0", "900.0", "1800.0", "3600.0", "7200.0", "14400.0", "28800.0",
              "86400.0", "172800.0", "604800.0", "+Inf"]  # fmt: skip
    for name, severity, seconds in (
        ("oncall_mtta_seconds_bucket", "critical", 120),
        ("oncall_mtta_seconds_bucket", "warning", 3600),
        ("oncall_mttr_seconds_bucket", "critical", 5400),
    ):
        for le in bounds:
            if float(le) >= seconds:
                out[key(name, severity=severity, le=le)] = 1
    return out


def check(samples: Samples) -> None:
    wanted = expected()
    found_all = domain(samples)
    assert len(found_all) > 100  # every series is there, zeros included
    for (name, labels), found in found_all.items():
        assert found == wanted.get((name, labels), 0), f"{name}{dict(labels)} = {found}"
    # Spot checks in the reader's words.
    assert value(samples, "oncall_incidents_total", severity="critical") == 2
    assert value(samples, "oncall_mtta_seconds_bucket", severity="critical", le="60.0") == 0
    assert value(samples, "oncall_mtta_seconds_bucket", severity="critical", le="300.0") == 1
    assert value(samples, "oncall_mttr_seconds_bucket", severity="critical", le="3600.0") == 0
    assert value(samples, "oncall_mttr_seconds_bucket", severity="critical", le="7200.0") == 1
    assert (
        value(samples, "oncall_incidents_active", status="acknowledged", severity="critical") == 0
    )


async def scrape(mesh: Mesh) -> Samples:
    response = await mesh.api.get("/metrics")
    assert response.status_code == 200
    return parse(response.text)


async def settled(mesh: Mesh) -> bool:
    """Both metrics consumers have nothing pending and nothing unacknowledged."""
    js = mesh.ctx.bus.js
    for stream, durable in (("INCIDENT_EVENTS", "metrics"), ("ALERTS", "metrics_alerts")):
        info = await js.consumer_info(mesh.ctx.bus.stream(stream), durable)
        if info.num_pending or info.num_ack_pending:
            return False
    return True


async def run_sequence(mesh: Mesh) -> None:
    clock: dict[str, Any] = {"now": T0}
    mesh.ctx.clock = lambda: clock["now"]
    service = await mesh.create_service()
    for key, severity in (("a", "critical"), ("b", "critical"), ("c", "warning")):
        response = await mesh.api.post(
            "/v2/enqueue", json=pd_event(service["key"], dedup_key=key, severity=severity)
        )
        assert response.status_code == 202, response.text

    async def incidents(count: int, **status: str) -> list[dict[str, Any]] | None:
        found = await mesh.incidents(service["id"], **status)
        return found if len(found) == count else None

    await eventually(lambda: incidents(3))
    for seconds, action, key, done in (
        (120, "acknowledge", "a", ("acknowledged", 1)),
        (3600, "acknowledge", "c", ("acknowledged", 2)),
        (5400, "resolve", "a", ("resolved", 1)),
    ):
        clock["now"] = T0 + timedelta(seconds=seconds)
        response = await mesh.api.post(
            "/v2/enqueue", json=pd_event(service["key"], action=action, dedup_key=key)
        )
        assert response.status_code == 202, response.text
        await eventually(lambda done=done: incidents(done[1], status=done[0]))


async def test_scripted_sequence_gives_hand_computed_metrics_whatever_happens() -> None:
    ns = new_namespace()
    settings = services_settings(ns)
    mesh = await start_mesh(settings)
    try:
        await run_sequence(mesh)

        async def counted() -> Samples | None:
            samples = await scrape(mesh)
            done = value(samples, "oncall_mttr_seconds_count", severity="critical") == 1
            return samples if done and await settled(mesh) else None

        check(await eventually(counted))
        before = domain(await scrape(mesh))
    finally:
        await stop_mesh(mesh)

    try:
        # Every message again: the metrics consumers are removed, so the restarted platform
        # provisions them anew and JetStream delivers every event and alert a second time.
        nc = await nats.connect(NATS_URL)
        js = nc.jetstream()
        await js.delete_consumer(f"{ns.upper()}_INCIDENT_EVENTS", "metrics")
        await js.delete_consumer(f"{ns.upper()}_ALERTS", "metrics_alerts")
        await nc.close()
        mesh = await start_mesh(services_settings(ns))
        try:
            await eventually(lambda: settled(mesh))
            info = await mesh.ctx.bus.js.consumer_info(
                mesh.ctx.bus.stream("INCIDENT_EVENTS"), "metrics"
            )
            assert info.delivered.stream_seq > 0  # the events really came again
            after = await scrape(mesh)
            check(after)
            assert domain(after) == before

            # A second exporter (no workers at all) answers the same.
            second = await start_mesh(services_settings(ns), workers=[], edges=["exporter"])
            try:
                assert domain(await scrape(second)) == before
            finally:
                await stop_mesh(second)
        finally:
            await stop_mesh(mesh)
    finally:
        await drop_namespace(ns)
