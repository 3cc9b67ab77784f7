"""How full the streams that refuse when full (discard new) are: for `/healthz`, `/metrics` and
sizing. Reading is I/O (`stream_fills`); deciding what counts as overloaded is pure."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass

from oncallnova.bus import declarations
from oncallnova.bus.connection import Bus

# Past this share of a limit the platform reports itself overloaded: ingestion is about to
# answer 429 backlog_full (or already does), so an operator should look before senders retry.
OVERLOADED_AT = 0.9


@dataclass(frozen=True)
class StreamFill:
    stream: str  # as declared, without the namespace: ALERTS, INCIDENT_COMMANDS …
    messages: int
    bytes: int
    max_msgs: int | None  # None: no limit
    max_bytes: int | None

    @property
    def fill(self) -> float:
        """The larger of messages/max_msgs and bytes/max_bytes (0 without limits)."""
        return max(
            self.messages / self.max_msgs if self.max_msgs else 0.0,
            self.bytes / self.max_bytes if self.max_bytes else 0.0,
        )


def refusing_streams() -> list[declarations.StreamDecl]:
    """The streams that refuse a publish at their limit instead of dropping stored messages."""
    return [d for d in declarations.streams() if d.discard == "new"]


def _limit(value: int | None) -> int | None:
    return value if value is not None and value > 0 else None


async def stream_fills(bus: Bus, timeout_s: float = 1.0) -> list[StreamFill]:
    """Each refusing stream's content and limits, as the server counts them (any process can
    ask); streams that do not answer within `timeout_s` are left out."""
    decls = refusing_streams()

    async def one(decl: declarations.StreamDecl) -> StreamFill:
        info = await bus.js.stream_info(bus.stream(decl.name))
        return StreamFill(
            decl.name,
            info.state.messages,
            info.state.bytes,
            _limit(info.config.max_msgs),
            _limit(info.config.max_bytes),
        )

    try:
        results = await asyncio.wait_for(
            asyncio.gather(*(one(d) for d in decls), return_exceptions=True), timeout_s
        )
    except TimeoutError:
        return []
    return [r for r in results if isinstance(r, StreamFill)]


def overloaded(fills: Iterable[StreamFill], at: float = OVERLOADED_AT) -> list[str]:
    """The streams at or past `at` of a limit, by name."""
    return sorted(f.stream for f in fills if f.fill >= at)
