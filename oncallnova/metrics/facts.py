"""From incident events to metric series, as pure functions.

The metrics worker keeps one `Facts` row per incident: the furthest state it has seen. An
event is merged into it (`merge`, order-independent and idempotent), and the series move by
the difference between the row before and after (`deltas`). A redelivered or late event
merges into the same row and so moves nothing.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime

SEVERITIES: tuple[str, ...] = ("critical", "error", "warning", "info")
ACTIVE_STATUSES: tuple[str, ...] = ("triggered", "acknowledged")
# Status order: an incident only moves forward (the lifecycle never reopens one).
_RANK = {"": 0, "triggered": 1, "acknowledged": 2, "resolved": 3}

INCIDENTS_TOTAL = "oncall_incidents_total"
INCIDENTS_ACTIVE = "oncall_incidents_active"
MTTA = "oncall_mtta_seconds"
MTTR = "oncall_mttr_seconds"
ALERTS_INGESTED = "oncall_alerts_ingested_total"

# Minutes to days: 1m 5m 15m 30m 1h 2h 4h 8h 1d 2d 7d, then +Inf.
DURATION_BUCKETS: tuple[float, ...] = (
    60.0,
    300.0,
    900.0,
    1800.0,
    3600.0,
    7200.0,
    14400.0,
    28800.0,
    86400.0,
    172800.0,
    604800.0,
)
INF = float("inf")

SeriesKey = tuple[str, str]  # (name, canonical labels)


@dataclass(frozen=True)
class Facts:
    """What is known of one incident; status "" means not counted yet."""

    incident_id: str
    severity: str
    service_id: str
    status: str = ""
    created_at: datetime | None = None
    acknowledged_at: datetime | None = None
    resolved_at: datetime | None = None


def labels(**values: str) -> str:
    """Canonical label text, in the order given: `status=triggered,severity=critical`."""
    return ",".join(f"{k}={v}" for k, v in values.items())


def parse_labels(text: str) -> dict[str, str]:
    """The inverse of `labels`."""
    return dict(pair.split("=", 1) for pair in text.split(",")) if text else {}


def bucket_of(seconds: float) -> str:
    """The `le` of the smallest bucket holding `seconds` (stored non-cumulative)."""
    index = bisect_left(DURATION_BUCKETS, seconds)
    return format_le(DURATION_BUCKETS[index]) if index < len(DURATION_BUCKETS) else "+Inf"


def format_le(bound: float) -> str:
    return "+Inf" if bound == INF else repr(float(bound))


def merge(old: Facts, status: str, created_at: datetime | None,
          acknowledged_at: datetime | None, resolved_at: datetime | None) -> Facts:  # fmt: skip
    """`old` with one event's incident snapshot folded in: the furthest status, and each
    timestamp the first time it is known."""
    return replace(
        old,
        status=status if _RANK.get(status, 0) > _RANK.get(old.status, 0) else old.status,
        created_at=old.created_at or created_at,
        acknowledged_at=old.acknowledged_at or acknowledged_at,
        resolved_at=old.resolved_at or resolved_at,
    )


def deltas(old: Facts, new: Facts) -> dict[SeriesKey, float]:
    """How every series moves when an incident's facts go from `old` to `new`."""
    moved: dict[SeriesKey, float] = {}

    def add(name: str, label_text: str, amount: float) -> None:
        moved[(name, label_text)] = moved.get((name, label_text), 0.0) + amount

    sev = new.severity
    if old.status == "" and new.status != "":
        add(INCIDENTS_TOTAL, labels(severity=sev), 1)
    if old.status != new.status:
        if old.status in ACTIVE_STATUSES:
            add(INCIDENTS_ACTIVE, labels(status=old.status, severity=sev), -1)
        if new.status in ACTIVE_STATUSES:
            add(INCIDENTS_ACTIVE, labels(status=new.status, severity=sev), 1)
    for name, before, after in (
        (MTTA, old.acknowledged_at, new.acknowledged_at),
        (MTTR, old.resolved_at, new.resolved_at),
    ):
        if before is None and after is not None and new.created_at is not None:
            seconds = max(0.0, (after - new.created_at).total_seconds())
            add(f"{name}_bucket", labels(severity=sev, le=bucket_of(seconds)), 1)
            add(f"{name}_sum", labels(severity=sev), seconds)
            add(f"{name}_count", labels(severity=sev), 1)
    return {key: amount for key, amount in moved.items() if amount != 0}


def combine(parts: Iterable[Mapping[SeriesKey, float]]) -> dict[SeriesKey, float]:
    """The sum of several delta maps."""
    total: dict[SeriesKey, float] = {}
    for part in parts:
        for key, amount in part.items():
            total[key] = total.get(key, 0.0) + amount
    return {key: amount for key, amount in total.items() if amount != 0}


def cumulative_buckets(per_bucket: Mapping[str, float]) -> list[tuple[str, float]]:
    """Prometheus buckets (`le`, cumulative count) from stored per-bucket counts."""
    running = 0.0
    out: list[tuple[str, float]] = []
    for bound in (*DURATION_BUCKETS, INF):
        le = format_le(bound)
        running += per_bucket.get(le, 0.0)
        out.append((le, running))
    return out


def alerts_in_body(fmt: str, body: object) -> int:
    """How many alerts a received body carries: each of an Alertmanager/Grafana group's
    alerts, otherwise one (an unreadable body still was one ingested message)."""
    if fmt in ("alertmanager", "grafana") and isinstance(body, dict):
        alerts = body.get("alerts")
        if isinstance(alerts, list):
            return len(alerts)
    return 1
