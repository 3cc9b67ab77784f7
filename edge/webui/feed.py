"""The live feed: `incident.*` events from the INCIDENT_EVENTS stream as Server-Sent Events.

Each browser connection reads the stream through its own ordered (ephemeral, flow-controlled)
JetStream consumer. The SSE `id` is the stream sequence, so a reconnecting browser's
`Last-Event-ID` resumes exactly after the last event it saw, from the stream, not from memory.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

from nats.js.api import ConsumerConfig, DeliverPolicy

from oncallnova.bus.connection import Bus
from schemas.subjects import INCIDENT_EVENT

STREAM = "INCIDENT_EVENTS"
# A comment line this often keeps proxies and the browser from timing an idle feed out.
KEEPALIVE_S = 15.0
# Tells EventSource how long to wait before reconnecting after a drop.
RETRY_MS = 1000


@dataclass(frozen=True)
class FeedItem:
    """One incident event as the browser receives it."""

    seq: int
    body: dict[str, Any]


def parse_resume_point(last_event_id: str | None, after: str | None) -> int | None:
    """The stream sequence to resume after: `Last-Event-ID` (a reconnect) wins over `?after=`
    (the sequence the page was rendered at); None means "from now on"."""
    for value in (last_event_id, after):
        if value is not None and value.strip().isdigit():
            return int(value.strip())
    return None


def sse_message(item: FeedItem) -> bytes:
    """One SSE message: the stream sequence as its id, the event as one line of JSON."""
    data = json.dumps(item.body, separators=(",", ":"))
    return f"id: {item.seq}\ndata: {data}\n\n".encode()


def sse_preamble() -> bytes:
    return f"retry: {RETRY_MS}\n: connected\n\n".encode()


async def last_sequence(bus: Bus) -> int:
    """The stream's last sequence now: a page rendered after reading it misses no later event."""
    info = await bus.js.stream_info(bus.stream(STREAM))
    return int(info.state.last_seq)


async def incident_events(
    bus: Bus, resume_after: int | None, visible: Callable[[dict[str, Any]], bool]
) -> AsyncIterator[FeedItem | None]:
    """Incident events after `resume_after` (or from now on), then live ones, forever.

    Yields None when nothing arrived for KEEPALIVE_S (the caller sends a keepalive). Events
    `visible` rejects (another team's incidents) are skipped."""
    if resume_after is None:
        config = ConsumerConfig(deliver_policy=DeliverPolicy.NEW)
    else:
        config = ConsumerConfig(
            deliver_policy=DeliverPolicy.BY_START_SEQUENCE, opt_start_seq=resume_after + 1
        )
    subscription = await bus.js.subscribe(
        bus.full(INCIDENT_EVENT.wildcard()),
        stream=bus.stream(STREAM),
        ordered_consumer=True,
        idle_heartbeat=5.0,
        config=config,
    )
    try:
        while True:
            try:
                message = await subscription.next_msg(timeout=KEEPALIVE_S)
            except TimeoutError:
                yield None
                continue
            try:
                body = json.loads(message.data)
            except ValueError:
                continue
            if isinstance(body, dict) and visible(body):
                yield FeedItem(message.metadata.sequence.stream, body)
    finally:
        await subscription.unsubscribe()
