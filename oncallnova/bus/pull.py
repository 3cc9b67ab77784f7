"""A continuous pull from one durable consumer that hands out whatever is ready at once.

nats-py's `fetch(n)` waits for a full batch until its timeout once the consumer was idle,
which adds up to that timeout to every stage of the pipeline at low rates. This puller keeps
pull requests open on the server (like JetStream's "consume" API), waits only for the first
message, and returns it together with everything already delivered.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import deque

from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.js.client import JetStreamContext

NO_MESSAGES = "404"
REQUEST_TIMEOUT = "408"
CONFLICT = "409"
HEARTBEAT = "100"


class Puller:
    def __init__(
        self,
        nc: NATS,
        stream: str,
        durable: str,
        batch: int,
        expires_s: float = 5.0,
        api_prefix: str = "$JS.API",
    ) -> None:
        self.nc = nc
        self.batch = batch
        self.expires_s = expires_s
        self.next_subject = f"{api_prefix}.CONSUMER.MSG.NEXT.{stream}.{durable}"
        self.ready: deque[Msg] = deque()
        self.arrived = asyncio.Event()
        # Open pull requests, oldest first: [expires at (monotonic), messages still owed].
        self.open: deque[list[float]] = deque()
        self.sub: Subscription | None = None
        self.inbox = ""

    async def start(self) -> None:
        self.inbox = self.nc.new_inbox()
        self.sub = await self.nc.subscribe(self.inbox, cb=self._on_message)

    async def stop(self) -> None:
        if self.sub is not None:
            await self.sub.unsubscribe()
            self.sub = None
        # Fetched but never handed out: give them back instead of waiting for ack_wait.
        while self.ready:
            msg = self.ready.popleft()
            try:
                # Once our open requests have expired (see the runtime's GIVE_BACK_DELAY_S).
                await msg.nak(delay=self.expires_s + 1)
            except Exception:  # the connection is gone: ack_wait redelivers them
                break

    async def _on_message(self, msg: Msg) -> None:
        status = JetStreamContext.is_status_msg(msg)
        if status is None:
            self.ready.append(msg)
            if self.open:
                self.open[0][1] -= 1
                if self.open[0][1] <= 0:
                    self.open.popleft()
            self.arrived.set()
        elif status in (NO_MESSAGES, REQUEST_TIMEOUT, CONFLICT) and self.open:
            self.open.popleft()  # that request is over; ask again when needed
            self.arrived.set()

    async def _request_more(self) -> None:
        now = time.monotonic()
        while self.open and self.open[0][0] <= now:
            self.open.popleft()
        owed = sum(int(r[1]) for r in self.open)
        wanted = self.batch * 2 - owed - len(self.ready)
        # Keep about two batches coming so the next one is ready while this one is handled.
        if wanted >= self.batch // 2 or (not self.open and wanted > 0):
            request = {"batch": wanted, "expires": int(self.expires_s * 1e9)}
            self.open.append([now + self.expires_s, float(wanted)])
            await self.nc.publish(self.next_subject, json.dumps(request).encode(), reply=self.inbox)

    async def next_batch(self, wait_s: float) -> list[Msg]:
        """Up to `batch` messages: waits at most `wait_s` for the first, none for the rest."""
        await self._request_more()
        deadline = time.monotonic() + wait_s
        while not self.ready:
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
