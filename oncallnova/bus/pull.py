"""A continuous pull from a worker's durable consumers that hands out whatever is ready at once.

nats-py's `fetch(n)` waits for a full batch until its timeout once the consumer was idle,
which adds up to that timeout to every stage of the pipeline at low rates. This puller keeps
pull requests open on the server (like JetStream's "consume" API), waits only for the first
message, and returns it together with everything already delivered.

A partitioned worker pulls from one consumer per partition in the priority group `owner`
(pinned client): the server gives each partition to one copy at a time and, once that copy has
sent no pull for the consumer's pin timeout, to another. The puller keeps its pin id per
consumer, sends a pull at least every `KEEPALIVE_S` for each so a busy copy keeps its
partitions. Which partitions a copy asks for comes from one of two places:
- a `Roster` (the default): the copies announce themselves and each pulls only its even share,
  recomputed as copies come and go; a partition that stops being this copy's share is handed
  over once nothing of it is in hand (per-key order holds across the handover);
- `--partitions` (static): the named ones first, the others as a standby after
  `STANDBY_AFTER_S`, so copies given different `--partitions` start out owning those.

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

from oncallnova.bus.roster import Roster

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
    #: partition index (its place in the durables' order)
    index: int = 0


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
        roster: Roster | None = None,
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
                index=index,
            )
            for index, name in enumerate(names)
        }
        # With a roster, the share is all there is: no standby pulls (the roster is the
        # failover: a vanished copy's share is recomputed onto the others).
        self.roster = roster if group else None
        # Keep about two batches coming so the next one is ready while this one is handled.
        self.share = max(1, (2 * batch) // len(names))
        self.ready: deque[Msg] = deque()
        self.arrived = asyncio.Event()
        # Fetched and not yet acked, by reply subject: [message, last sign of life, consumer].
        self.held: dict[str, list] = {}
        self.progress_after_s = progress_after_s
        self.pulling = False
        self.started_at = 0.0
        self._ticker: asyncio.Task[None] | None = None
        self._stopped: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self.started_at = time.monotonic()
        if self.roster is not None:
            await self.roster.start()
            self._rebalance()
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
            self.ready.append(msg)
            if msg.reply:
                self.held[msg.reply] = [msg, time.monotonic(), consumer.durable]
            pin = msg.headers.get(PIN_HEADER) if self.group and msg.headers else None
            if pin and pin != consumer.pin:
                # Newly ours. Requests sent without this id wait as a standby's would: stop
                # counting them, so requests with the id go out now.
                consumer.pin = pin
                consumer.open.clear()
            elif consumer.open:
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
        if self.roster is not None:
            return consumer.preferred
        return consumer.preferred or now - self.started_at >= STANDBY_AFTER_S

    def _rebalance(self) -> None:
        """Take the share the roster gives this copy now."""
        assert self.roster is not None
        mine = self.roster.share(len(self.consumers))
        for consumer in self.consumers.values():
            consumer.preferred = consumer.index in mine

    def _releasable(self, now: float) -> list[_Consumer]:
        """Owned partitions that are no longer this copy's share and have nothing in hand, and
        no pull request of ours still open (whatever it brought would be in hand)."""
        busy = {entry[2] for entry in self.held.values()}
        return [
            c
            for c in self.consumers.values()
            if c.pin
            and not c.preferred
            and c.durable not in busy
            and now - c.last_pull > self.expires_s
        ]

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
        if not self.group:
            # One consumer: keep about two batches coming, counting what is already here.
            (consumer,) = self.consumers.values()
            owed = sum(int(r[1]) for r in consumer.open)
            wanted = self.batch * 2 - owed - len(self.ready)
            if wanted >= self.batch // 2 or (not consumer.open and wanted > 0):
                await self._pull(consumer, wanted, now)
            return
        # Partitions: the two batches' worth is shared by the partitions this copy owns; an
        # owned partition with nothing to send holds only its own share open.
        owned = sum(1 for c in self.consumers.values() if c.pin)
        self.share = max(1, (2 * self.batch) // max(1, owned))
        full = len(self.ready) >= 2 * self.batch
        for consumer in self.consumers.values():
            if not self._active(consumer, now):
                continue
            if not consumer.pin:
                # Not (yet) ours: one message at a time; the first one that comes brings a pin.
                if not consumer.open:
                    await self._pull(consumer, 1, now)
                continue
            owed = sum(int(r[1]) for r in consumer.open)
            wanted = self.share - owed
            if not full and wanted > 0 and (wanted >= self.share // 2 or not consumer.open):
                await self._pull(consumer, wanted, now)

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
                if self.roster is not None and self.pulling:
                    self._rebalance()
                    released = self._releasable(now)
                    if released:
                        await asyncio.gather(*(self._unpin_one(c) for c in released))
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
        if self.roster is not None:
            # Goodbye first: the other copies start asking for this copy's share now, and get
            # each partition the moment it is handed over.
            await self.roster.stop()
        for consumer in self.consumers.values():
            if consumer.sub is not None:
                with contextlib.suppress(Exception):
                    await consumer.sub.drain()
                consumer.sub = None

    async def give_back(self) -> int:
        """Nak (no delay) everything fetched and not in hand, and hand over at once the
        partitions with nothing in hand (`hand_over` does the rest once the batches in hand
        are acked). Returns how many messages went back."""
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
                await self.nc.request(ready[-1].reply, b"-NAK", timeout=5)
            self.done(ready[-1])
        if self.group:
            # What is still held is in hand: its partitions wait for their acks.
            await self._unpin(busy={entry[2] for entry in self.held.values()})
        return len(ready)

    async def hand_over(self) -> None:
        """Unpin every partition this copy still owns (call after the batches in hand)."""
        if self.group:
            await self._unpin()

    async def _unpin(self, busy: set[str] | None = None) -> None:
        owned = [c for c in self.consumers.values() if c.pin and c.durable not in (busy or ())]
        # All at once: on a busy machine one round trip can take a while, and every partition
        # not handed over waits for the pin timeout.
        await asyncio.gather(*(self._unpin_one(c) for c in owned))

    async def _unpin_one(self, consumer: _Consumer) -> None:
        pin, consumer.pin = consumer.pin, ""
        try:
            info = await self.nc.request(
                f"{self.api_prefix}.CONSUMER.INFO.{self.stream}.{consumer.durable}", timeout=5
            )
            groups = json.loads(info.data).get("priority_groups") or []
            if not any(g.get("pinned_client_id") == pin for g in groups):
                return  # already someone else's: leave it alone
            await self.nc.request(
                f"{self.api_prefix}.CONSUMER.UNPIN.{self.stream}.{consumer.durable}",
                json.dumps({"group": self.group}).encode(),
                timeout=5,
            )
        except Exception:
            log.warning("%s: could not hand over the partition", consumer.durable)

    async def stop(self) -> None:
        """Stop pulling and the ticker (give_back first to return what was fetched)."""
        await self.stop_pulling()
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
            self._ticker = None
        if self.roster is not None:
            await self.roster.stop()
