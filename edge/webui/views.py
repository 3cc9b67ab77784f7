"""Pure helpers the pages share: ages, durations, pagination, dashboard figures, chart bars."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode

URGENCY_ORDER = {"high": 0, "low": 1}
SEVERITY_ORDER = {"critical": 0, "error": 1, "warning": 2, "info": 3}


def duration(seconds: float | None) -> str:
    """A human duration: `45s`, `12m`, `3h 05m`, `2d 4h`; `—` when unknown."""
    if seconds is None:
        return "—"
    seconds = max(0, int(seconds))
    if seconds < 60:
        return f"{seconds}s"
    minutes = seconds // 60
    if minutes < 60:
        return f"{minutes}m"
    hours = minutes // 60
    if hours < 24:
        return f"{hours}h {minutes % 60:02d}m"
    return f"{hours // 24}d {hours % 24}h"


def age(since: datetime, now: datetime) -> str:
    return duration((now - since).total_seconds())


def percentile(values: Sequence[float], q: float) -> float | None:
    """The q-th percentile (0–100) by nearest rank; None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


@dataclass(frozen=True)
class Pagination:
    offset: int
    limit: int
    total: int

    @property
    def first(self) -> int:
        return 0 if self.total == 0 else self.offset + 1

    @property
    def last(self) -> int:
        return min(self.total, self.offset + self.limit)

    @property
    def previous_offset(self) -> int | None:
        return max(0, self.offset - self.limit) if self.offset > 0 else None

    @property
    def next_offset(self) -> int | None:
        return self.offset + self.limit if self.offset + self.limit < self.total else None


def query_with(params: Sequence[tuple[str, str]], **changes: Any) -> str:
    """The query string `params` with some keys replaced (None removes a key)."""
    kept = [(k, v) for k, v in params if k not in changes]
    kept += [(k, str(v)) for k, v in changes.items() if v is not None]
    return "?" + urlencode(kept) if kept else "?"


SINCE_CHOICES = {"1h": timedelta(hours=1), "24h": timedelta(hours=24), "7d": timedelta(days=7),
                 "30d": timedelta(days=30)}  # fmt: skip


def since_of(choice: str, now: datetime) -> datetime | None:
    """The instant a `since` filter choice (`24h`, `7d`, …) names; None for "any time"."""
    span = SINCE_CHOICES.get(choice)
    return None if span is None else now - span


def sort_open(incidents: Sequence[Any]) -> list[Any]:
    """The dashboard's order: high urgency first, then the newest first."""
    return sorted(
        incidents,
        key=lambda i: (URGENCY_ORDER.get(i.urgency, 9), -i.created_at.timestamp()),
    )


@dataclass(frozen=True)
class DayFigures:
    """What the dashboard says about the last 24 hours."""

    incidents: int
    alerts: int
    mtta_s: float | None
    mttr_s: float | None
    per_hour: list[int]
    by_severity: dict[str, int]


def day_figures(incidents: Sequence[Any], now: datetime) -> DayFigures:
    """Counts, median time to acknowledge and to resolve, and incidents per hour (oldest hour
    first) over the incidents created in the 24 hours before `now`."""
    start = now - timedelta(hours=24)
    recent = [i for i in incidents if i.created_at >= start]
    per_hour = [0] * 24
    by_severity = {s: 0 for s in SEVERITY_ORDER}
    for incident in recent:
        hour = min(23, int((incident.created_at - start).total_seconds() // 3600))
        per_hour[hour] += 1
        by_severity[incident.severity] = by_severity.get(incident.severity, 0) + 1
    acks = [(i.acknowledged_at - i.created_at).total_seconds() for i in recent if i.acknowledged_at]
    fixes = [(i.resolved_at - i.created_at).total_seconds() for i in recent if i.resolved_at]
    return DayFigures(
        incidents=len(recent),
        alerts=sum(i.alert_count for i in recent),
        mtta_s=percentile(acks, 50),
        mttr_s=percentile(fixes, 50),
        per_hour=per_hour,
        by_severity=by_severity,
    )


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    value: int
    label: str


def bar_chart(values: Sequence[int], labels: Sequence[str], *, width: float = 240,
              height: float = 48) -> list[Bar]:  # fmt: skip
    """Bars for a small SVG chart `width`×`height`; the tallest bar fills the height."""
    if not values:
        return []
    top = max(values) or 1
    step = width / len(values)
    bars = []
    for n, (value, label) in enumerate(zip(values, labels, strict=True)):
        h = 0.0 if value == 0 else max(1.5, height * value / top)
        bars.append(Bar(n * step + 1, height - h, max(1.0, step - 2), h, value, label))
    return bars


def safe_next(target: str | None, default: str = "/") -> str:
    """A same-site path to go back to after a form; anything else (other hosts, `//x`,
    `/\\x`, schemes) becomes `default`, so a form cannot redirect someone off-site."""
    if not target or not target.startswith("/") or target.startswith(("//", "/\\")):
        return default
    if any(c in target for c in "\r\n\t"):
        return default
    return target


def actor_label(actor: str, people: dict[str, str], services: dict[str, str]) -> str:
    """`user:<id>` → the person's name, `integration:<service id>` → the service's; else as is."""
    kind, _, ident = actor.partition(":")
    if kind == "user" and ident in people:
        return people[ident]
    if kind == "integration" and ident in services:
        return f"{services[ident]} (integration)"
    return actor
