"""Metric series from incident facts: what moves, by how much, and that nothing moves twice."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest

from oncallnova.metrics.facts import (
    Facts,
    alerts_in_body,
    bucket_of,
    combine,
    cumulative_buckets,
    deltas,
    merge,
)

T0 = datetime(2026, 11, 2, 10, tzinfo=UTC)
NEW = Facts("i1", "critical", "s1")
TRIGGERED = ("triggered", T0, None, None)
ACKED = ("acknowledged", T0, T0 + timedelta(seconds=120), None)
RESOLVED = ("resolved", T0, T0 + timedelta(seconds=120), T0 + timedelta(seconds=5400))
RESOLVED_UNACKED = ("resolved", T0, None, T0 + timedelta(seconds=30))


@pytest.mark.parametrize(
    ("seconds", "le"),
    [(0, "60.0"), (60, "60.0"), (60.5, "300.0"), (120, "300.0"), (3600, "3600.0"),
     (5400, "7200.0"), (86400, "86400.0"), (604800, "604800.0"), (604801, "+Inf")],
)  # fmt: skip
def test_bucket_of(seconds: float, le: str) -> None:
    assert bucket_of(seconds) == le


def test_a_new_incident_counts_once_and_is_active() -> None:
    after = merge(NEW, *TRIGGERED)
    assert deltas(NEW, after) == {
        ("oncall_incidents_total", "severity=critical"): 1,
        ("oncall_incidents_active", "status=triggered,severity=critical"): 1,
    }
    assert deltas(after, merge(after, *TRIGGERED)) == {}  # the same event again


def test_acknowledging_moves_the_gauge_and_observes_mtta() -> None:
    triggered = merge(NEW, *TRIGGERED)
    assert deltas(triggered, merge(triggered, *ACKED)) == {
        ("oncall_incidents_active", "status=triggered,severity=critical"): -1,
        ("oncall_incidents_active", "status=acknowledged,severity=critical"): 1,
        ("oncall_mtta_seconds_bucket", "severity=critical,le=300.0"): 1,
        ("oncall_mtta_seconds_sum", "severity=critical"): 120,
        ("oncall_mtta_seconds_count", "severity=critical"): 1,
    }


def test_resolving_without_acknowledging_observes_mttr_only() -> None:
    triggered = merge(NEW, *TRIGGERED)
    moved = deltas(triggered, merge(triggered, *RESOLVED_UNACKED))
    assert moved == {
        ("oncall_incidents_active", "status=triggered,severity=critical"): -1,
        ("oncall_mttr_seconds_bucket", "severity=critical,le=60.0"): 1,
        ("oncall_mttr_seconds_sum", "severity=critical"): 30,
        ("oncall_mttr_seconds_count", "severity=critical"): 1,
    }


@pytest.mark.parametrize("order", list(itertools.permutations([TRIGGERED, ACKED, RESOLVED])))
def test_any_order_and_any_repetition_gives_the_same_totals(order: tuple) -> None:
    """Redelivered and late events: the sum of every step's deltas is the same."""
    facts, steps = NEW, []
    for event in (*order, *order):  # every event delivered twice
        after = merge(facts, *event)
        steps.append(deltas(facts, after))
        facts = after
    assert combine(steps) == {
        ("oncall_incidents_total", "severity=critical"): 1,
        ("oncall_mtta_seconds_bucket", "severity=critical,le=300.0"): 1,
        ("oncall_mtta_seconds_sum", "severity=critical"): 120,
        ("oncall_mtta_seconds_count", "severity=critical"): 1,
        ("oncall_mttr_seconds_bucket", "severity=critical,le=7200.0"): 1,
        ("oncall_mttr_seconds_sum", "severity=critical"): 5400,
        ("oncall_mttr_seconds_count", "severity=critical"): 1,
    }  # and not active any more: the gauge moves net to zero
    assert facts.status == "resolved"


def test_cumulative_buckets() -> None:
    buckets = dict(cumulative_buckets({"300.0": 1, "7200.0": 2, "+Inf": 1}))
    assert buckets["60.0"] == 0 and buckets["300.0"] == 1 and buckets["3600.0"] == 1
    assert buckets["7200.0"] == 3 and buckets["604800.0"] == 3 and buckets["+Inf"] == 4


@pytest.mark.parametrize(
    ("fmt", "body", "count"),
    [("alertmanager", {"alerts": [{}, {}, {}]}, 3), ("grafana", {"alerts": []}, 0),
     ("pagerduty", {"event_action": "trigger"}, 1), ("alertmanager", None, 1)],
)  # fmt: skip
def test_alerts_in_body(fmt: str, body: object, count: int) -> None:
    assert alerts_in_body(fmt, body) == count
