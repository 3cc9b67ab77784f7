"""The analytics page's figures from the analytics API's answers: pure reshaping for tables and
small SVG charts (`/api/v1/analytics/trends`, `/mttr-distribution`, `/oncall-load`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

SEVERITIES = ("critical", "error", "warning", "info")


@dataclass(frozen=True)
class Stack:
    """One day's bar: a rectangle per severity, bottom up, in a `height`-tall chart."""

    x: float
    width: float
    date: str
    total: int
    parts: list[tuple[str, float, float, int]]  # severity, y, height, count


def day_stacks(
    series: list[dict[str, Any]], *, width: float = 600, height: float = 120
) -> list[Stack]:
    """Stacked bars for incidents per day by severity; the busiest day fills the height."""
    if not series:
        return []
    top = max(int(day.get("total", 0)) for day in series) or 1
    step = width / len(series)
    stacks = []
    for n, day in enumerate(series):
        y = height
        parts = []
        for severity in SEVERITIES:
            count = int(day.get("by_severity", {}).get(severity, 0))
            if count:
                h = height * count / top
                y -= h
                parts.append((severity, y, h, count))
        stacks.append(Stack(n * step + 1, max(1.0, step - 2), str(day.get("date", "")),
                            int(day.get("total", 0)), parts))  # fmt: skip
    return stacks


@dataclass(frozen=True)
class TimeRow:
    label: str
    count: int
    p50: float | None
    p90: float | None
    p99: float | None


def time_rows(breakdown: dict[str, Any]) -> list[TimeRow]:
    """Overall, then each severity with incidents, then each service: count and percentiles."""

    def row(label: str, d: dict[str, Any]) -> TimeRow:
        return TimeRow(label, int(d.get("count", 0)), d.get("p50"), d.get("p90"), d.get("p99"))

    rows = [row("All incidents", breakdown.get("overall", {}))]
    for severity in SEVERITIES:
        figures = breakdown.get("by_severity", {}).get(severity)
        if figures and figures.get("count"):
            rows.append(row(severity, figures))
    for service in breakdown.get("by_service", []):
        rows.append(row(str(service.get("service_name", service.get("service_id", "?"))), service))
    return rows


def load_rows(people: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """People with any on-call hours or incidents, busiest first."""
    busy = [p for p in people if (p.get("hours_on_call") or 0) > 0 or p.get("incidents_assigned")]
    return sorted(busy, key=lambda p: (-(p.get("hours_on_call") or 0), str(p.get("name", ""))))
