"""A continuous pull from a worker's durable consumers that hands out whatever is ready at once.

nats-py's `fetch(n)` waits for a full batch until its timeout once the consumer was idle,
which adds up to that timeout to every stage of the pipeline at low rates. This puller keeps
pull requests open on the server (like JetStream's "consume" API), waits only for the first
message, and returns it together with everything already delivered.

A partitioned worker pulls from one consumer per partition in the priority group `owner`
(pinned client): the server gives each partition to one copy at a time and, once that copy has
sent no pull for the consumer's pin timeout, to another. The puller keeps its pin id per
consumer, sends a pull at least every `KEEPALIVE_S` for each so a busy copy keeps its
partitions, and asks for the partitions it does not prefer only after `STANDBY_AFTER_S`, so
copies given different `--partitions` start out owning those.

Everything fetched and not yet acked is "held": past a third of `ack_wait` the puller sends
`in_progress` for it, so nothing is redelivered while it waits or is worked on. On stop,
`stop_pulling` removes interest at once (the server drops the open pull requests), and
`give_back` naks what was not handled and unpins the partitions this copy owned, so another
copy takes them without waiting for a timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections import deque
from dataclasses import dataclass, field

from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.js.client import JetStreamContext

log = logging.getLogger(__name__)

NO_MESSAGES = "404"
REQUEST_TIMEOUT = "408"
CONFLICT = "409"
PIN_MISMATCH = "423"
HEARTBEAT = "100"
PIN_HEADER = "Nats-Pin-Id"

#: a pinned copy pulls at least this often, well inside the consumers' pin timeout
KEEPALIVE_S = 1.0
#: how long a pull request of a partitioned consumer lives (see nats/consumers.json)
GROUP_EXPIRES_S = 2.0
#: a copy asks for partitions it does not prefer only after this
STANDBY_AFTER_S = 1.0


def parse_partitions(text: str, count: int) -> set[int]:
    """`"0-3,6"` → {0, 1, 2, 3, 6}; empty means every partition."""
    if not text.strip():
        return set(range(count))
    chosen: set[int] = set()
    for part in text.split(","):
        first, _, last = part.strip().partition("-")
        try:
            low, high = int(first), int(last or first)
        except ValueError:
            raise ValueError(f"partitions: {part!r} is not a number or a range") from None
        if not 0 <= low <= high < count:
            raise ValueError(f"partitions: {part!r} is outside 0-{count - 1}")
        chosen.update(range(low, high + 1))
    return chosen


@dataclass
class _Consumer:
    """One durable consumer this puller asks for messages."""

    durable: str
    next_subject: str
    preferred: bool = True
    inbox: str = ""
    sub: Subscription | None = None
    # Open pull requests, oldest first: [expires at (monotonic), messages still owed].
    open: deque[list[float]] = field(default_factory=deque)
    pin: str = ""
    last_pull: float = 0.0


class Puller:
    def __init__(
        self,
        nc: NATS,
        stream: str,
        durables: str | list[str],
        batch: int,
        expires_s: float = 5.0,
        api_prefix: str = "$JS.API",
        *,
        group: str | None = None,
        preferred: set[str] | None = None,
        progress_after_s: float | None = None,
    ) -> None:
        self.nc = nc
        self.stream = stream
        self.api_prefix = api_prefix
        self.batch = batch
        self.group = group
        self.expires_s = GROUP_EXPIRES_S if group else expires_s
        names = [durables] if isinstance(durables, str) else list(durables)
        self.consumers = {
            name: _Consumer(
                name,
                f"{api_prefix}.CONSUMER.MSG.NEXT.{stream}.{name}",
                preferred=preferred is None or name in preferred,
            )
            for name in names
        }
        # Keep about two batches coming so the next one is ready while this one is handled.
        self.share = max(1, (2 * batch) // len(names))
        self.ready: deque[Msg] = deque()
        self.arrived = asyncio.Event()
        # Fetched and not yet acked, by reply subject: [message, last sign of life sent].
        self.held: dict[str, list] = {}
        self.progress_after_s = progress_after_s
        self.pulling = False
        self.started_at = 0.0
        self._ticker: asyncio.Task[None] | None = None
        self._stopped: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self.started_at = time.monotonic()
        for consumer in self.consumers.values():
            consumer.inbox = self.nc.new_inbox()
            consumer.sub = await self.nc.subscribe(
                consumer.inbox, cb=self._receiver(consumer), pending_msgs_limit=-1
            )
        self.pulling = True
        if self.group or self.progress_after_s:
            self._ticker = asyncio.create_task(self._tick())

    def _receiver(self, consumer: _Consumer):  # type: ignore[no-untyped-def]
        async def on_message(msg: Msg) -> None:
            self._on_message(consumer, msg)

        return on_message

    def _on_message(self, consumer: _Consumer, msg: Msg) -> None:
        status = JetStreamContext.is_status_msg(msg)
        if status is None:
            if self.group and msg.headers:
                consumer.pin = msg.headers.get(PIN_HEADER, consumer.pin)
            self.ready.append(msg)
            if msg.reply:
                self.held[msg.reply] = [msg, time.monotonic()]
            if consumer.open:
                consumer.open[0][1] -= 1
                if consumer.open[0][1] <= 0:
                    consumer.open.popleft()
            self.arrived.set()
        elif status == PIN_MISMATCH:
            # Another copy owns this partition now: ask again without an id, as a standby.
            if consumer.pin:
                log.info("%s: partition taken over by another copy", consumer.durable)
            consumer.pin = ""
            consumer.open.clear()
            self.arrived.set()
        elif status != HEARTBEAT and consumer.open:
            # 404/408/409 and the like: that request is over; ask again when needed.
            consumer.open.popleft()
            self.arrived.set()

    def done(self, msg: Msg) -> None:
        """`msg` was acked, nak'd or terminated: no more signs of life for it."""
        if msg.reply:
            self.held.pop(msg.reply, None)

    def _active(self, consumer: _Consumer, now: float) -> bool:
        return consumer.preferred or now - self.started_at >= STANDBY_AFTER_S

    async def _pull(self, consumer: _Consumer, count: int, now: float) -> None:
        request: dict[str, object] = {"batch": count, "expires": int(self.expires_s * 1e9)}
        if self.group:
            request["group"] = self.group
            if consumer.pin:
                request["id"] = consumer.pin
        consumer.open.append([now + self.expires_s, float(count)])
        consumer.last_pull = now
        await self.nc.publish(
            consumer.next_subject, json.dumps(request).encode(), reply=consumer.inbox
        )

    async def _request_more(self) -> None:
        if not self.pulling:
            return
        now = time.monotonic()
        for consumer in self.consumers.values():
            while consumer.open and consumer.open[0][0] <= now:
                consumer.open.popleft()
        owed_total = sum(int(r[1]) for c in self.consumers.values() for r in c.open)
        room = self.batch * 2 - len(self.ready) - owed_total
        if self.group:
            # The two batches' worth is shared by the partitions this copy owns right now.
            owned = sum(1 for c in self.consumers.values() if c.pin)
            self.share = max(1, (2 * self.batch) // max(1, owned))
        for consumer in self.consumers.values():
            if room <= 0 or not self._active(consumer, now):
                continue
            if self.group and not consumer.pin:
                # Not (yet) ours: one message at a time; the first one that comes brings a pin.
                if not consumer.open:
                    await self._pull(consumer, 1, now)
                    room -= 1
                continue
            owed = sum(int(r[1]) for r in consumer.open)
            wanted = min(self.share - owed, room)
            if wanted >= self.share // 2 or (not consumer.open and wanted > 0):
                await self._pull(consumer, wanted, now)
                room -= wanted

    async def _tick(self) -> None:
        """Keep pins (a pull per consumer at least every KEEPALIVE_S, even with a full buffer)
        and send `in_progress` for whatever has been held past `progress_after_s`."""
        interval = KEEPALIVE_S / 2
        if self.progress_after_s:
            interval = min(interval, self.progress_after_s / 2)
        while True:
            await asyncio.sleep(interval)
            now = time.monotonic()
            try:
                if self.group and self.pulling:
                    await self._request_more()
                    for consumer in self.consumers.values():
                        if self._active(consumer, now) and now - consumer.last_pull >= KEEPALIVE_S:
                            await self._pull(consumer, 1, now)
                if self.progress_after_s:
                    for entry in list(self.held.values()):
                        if now - entry[1] >= self.progress_after_s:
                            entry[1] = now
                            await entry[0].in_progress()
            except Exception:  # the connection is reconnecting: try again next tick
                log.debug("puller tick failed", exc_info=True)

    async def next_batch(self, wait_s: float) -> list[Msg]:
        """Up to `batch` messages: waits at most `wait_s` for the first, none for the rest."""
        await self._request_more()
        deadline = time.monotonic() + wait_s
        while not self.ready:
            if not self.pulling:
                return []
            self.arrived.clear()
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return []
            try:
                await asyncio.wait_for(self.arrived.wait(), timeout=remaining)
            except TimeoutError:
                return []
            if not self.ready:
                await self._request_more()
        count = min(self.batch, len(self.ready))
        return [self.ready.popleft() for _ in range(count)]

    def stop_pulling(self) -> asyncio.Task[None]:
        """Remove interest at once: the server drops our open pull requests; what it had
        already sent still lands in `ready` (to be given back)."""
        if self._stopped is None:
            self.pulling = False
            self.arrived.set()
            self._stopped = asyncio.get_running_loop().create_task(self._drain())
        return self._stopped

    async def _drain(self) -> None:
        for consumer in self.consumers.values():
            if consumer.sub is not None:
                with contextlib.suppress(Exception):
                    await consumer.sub.drain()
                consumer.sub = None

    async def give_back(self) -> int:
        """Nak (no delay) everything fetched and not handled, then hand over the partitions this
        copy owned. Returns how many messages went back."""
        await self.stop_pulling()
        ready = list(self.ready)
        self.ready.clear()
        for msg in ready[:-1]:
            await msg.nak()
            self.done(msg)
        if ready:
            # The last one as a request: its answer means the server has taken every nak
            # before it, so the redeliveries are queued before the partition changes hands.
            with contextlib.suppress(Exception):
                await self.nc.request(ready[-1].reply, b"-NAK", timeout=2)
            self.done(ready[-1])
        if self.group:
            await self._unpin()
        return len(ready)

    async def _unpin(self) -> None:
        for consumer in self.consumers.values():
            if not consumer.pin:
                continue
            try:
                info = await self.nc.request(
                    f"{self.api_prefix}.CONSUMER.INFO.{self.stream}.{consumer.durable}", timeout=2
                )
                groups = json.loads(info.data).get("priority_groups") or []
                if not any(g.get("pinned_client_id") == consumer.pin for g in groups):
                    continue  # already someone else's: leave it alone
                await self.nc.request(
                    f"{self.api_prefix}.CONSUMER.UNPIN.{self.stream}.{consumer.durable}",
                    json.dumps({"group": self.group}).encode(),
                    timeout=2,
                )
            except Exception:
                log.warning("%s: could not hand over the partition", consumer.durable)
            consumer.pin = ""

    async def stop(self) -> None:
        """Stop pulling and the ticker (give_back first to return what was fetched)."""
        await self.stop_pulling()
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
            self._ticker = None
