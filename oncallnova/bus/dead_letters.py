"""Dead letters: what failed, why, and a replay to the subject it failed on once the cause is
fixed (a service created, a bug deployed). Each replayed letter leaves the DLQ."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

from nats.js.errors import NotFoundError

from oncallnova.bus.connection import Bus
from schemas.envelope import (
    DLQ_CONSUMER,
    DLQ_DELIVERIES,
    DLQ_HEADERS,
    DLQ_ORIGINAL_ID,
    DLQ_REASON,
    DLQ_SUBJECT,
    MSG_ID,
    STORE_BY,
)
from schemas.subjects import DLQ


@dataclass(frozen=True)
class DeadLetter:
    sequence: int
    consumer: str
    subject: str  # where it failed, namespace included
    reason: str
    deliveries: int
    original_id: str
    data: bytes
    headers: dict[str, str]


async def dead_letters(bus: Bus, consumer: str | None = None) -> AsyncIterator[DeadLetter]:
    """Every letter in the DLQ (of one consumer, or all), oldest first."""
    stream = bus.stream("DLQ")
    subject = bus.full(DLQ.subject(consumer) if consumer else DLQ.wildcard())
    sequence = 1
    while True:
        try:
            raw = await bus.js.get_msg(stream, seq=sequence, subject=subject, next=True)
        except NotFoundError:
            return
        headers = dict(raw.headers or {})
        yield DeadLetter(
            sequence=int(raw.seq or 0),
            consumer=headers.get(DLQ_CONSUMER, ""),
            subject=headers.get(DLQ_SUBJECT, ""),
            reason=headers.get(DLQ_REASON, ""),
            deliveries=int(headers.get(DLQ_DELIVERIES, "0") or 0),
            original_id=headers.get(DLQ_ORIGINAL_ID, ""),
            data=raw.data or b"",
            headers=headers,
        )
        sequence = int(raw.seq or 0) + 1


async def replay(bus: Bus, consumer: str, limit: int | None = None) -> int:
    """Publish letters of `consumer` back to their subjects, then delete them from the DLQ.

    Each goes out under a new `Nats-Msg-Id` (the original's would be a duplicate if it is still
    inside the stream's window); the message's own idempotency keys still apply downstream."""
    replayed = 0
    async for letter in dead_letters(bus, consumer):
        if limit is not None and replayed >= limit:
            break
        # A replay is stored long after the original's Onc-Store-By: it must not be ignored.
        headers = {
            k: v for k, v in letter.headers.items() if k not in DLQ_HEADERS and k != STORE_BY
        }
        headers[MSG_ID] = f"{letter.original_id or 'dlq'}:replay:{letter.sequence}"
        await bus.js.publish(letter.subject, letter.data, headers=headers)
        await bus.js.delete_msg(bus.stream("DLQ"), letter.sequence)
        replayed += 1
    return replayed
