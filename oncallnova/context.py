"""What every worker and edge of one process shares, created once at start and passed down."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from oncallnova.bus.connection import Bus
from oncallnova.settings import Settings

Clock = Callable[[], datetime]


def system_clock() -> datetime:
    return datetime.now(UTC)


@dataclass
class AppContext:
    """Settings, the database, the bus and the clock (injectable so tests can move time)."""

    settings: Settings
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    bus: Bus
    clock: Clock = system_clock
    # Health of each component in this process, by name, for /healthz.
    components: dict[str, Callable[[], bool]] = field(default_factory=dict)
    # The worker runners of this process, by name (their counters feed /metrics).
    runners: dict[str, Any] = field(default_factory=dict)
    # Per-process services made on first use (the security service, …), by name.
    extras: dict[str, Any] = field(default_factory=dict)
