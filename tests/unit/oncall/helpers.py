"""Small builders for the pure on-call tests: local wall-clock times read in a named zone."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo


def local(zone: str, text: str) -> datetime:
    """`2024-03-25 09:00` in `zone`, as a UTC instant (first occurrence if ambiguous)."""
    return datetime.fromisoformat(text).replace(tzinfo=ZoneInfo(zone)).astimezone(UTC)


def wall(zone: str, instant: datetime) -> str:
    """The local wall-clock reading of `instant`, `YYYY-MM-DD HH:MM`."""
    return instant.astimezone(ZoneInfo(zone)).strftime("%Y-%m-%d %H:%M")
