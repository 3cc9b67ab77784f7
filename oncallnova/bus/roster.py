"""Which copies of a partitioned worker are running, so that each takes an even share.

Every copy of a partitioned worker (lifecycle, correlator) says "I am here" on the core-NATS
subject `worker.roster.v1.<consumer>` every `BEAT_S`, and hears the others. A copy not heard
for `GONE_AFTER_S` is gone; a copy that stops cleanly says so and is gone at once. From the
copies it knows, each computes the same pure `share`: partition p belongs to the copy at index
p mod n of the sorted copy ids. A copy pulls only its share; the puller hands over a partition
that stopped being its own once nothing of it is in hand, so per-key order holds (the pinned
client of the priority group still guarantees one owner at a time while views differ).

Nothing is stored: a broker restart or a lost beat only delays the balance by a beat or two.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
import uuid
from collections.abc import Callable, Iterable

from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from pydantic import ValidationError

from schemas.roster_v1 import RosterBeatV1

log = logging.getLogger(__name__)

#: how often a copy says it is here
BEAT_S = 1.0
#: a copy not heard for this long is gone (three beats and a half: one lost beat is no loss)
GONE_AFTER_S = 3.5


def share(copies: Iterable[str], me: str, partitions: int) -> set[int]:
    """The partitions `me` owns among `copies`: every n-th, by its place among the sorted ids.

    Every copy computing this from the same set of ids gets a disjoint share, and the shares
    cover every partition."""
    ordered = sorted(set(copies) | {me})
    place, count = ordered.index(me), len(ordered)
    return {p for p in range(partitions) if p % count == place}


def new_copy_id() -> str:
    """Unique per process start; the host and pid make `oncallnova status` readable."""
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"


class Roster:
    def __init__(
        self,
        nc: NATS,
        subject: str,
        copy_id: str | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.nc = nc
        self.subject = subject
        self.me = copy_id or new_copy_id()
        self.clock = clock
        self.heard: dict[str, float] = {}
        self._sub: Subscription | None = None
        self._beating: asyncio.Task[None] | None = None

    def copies(self) -> list[str]:
        """This copy and every other heard within GONE_AFTER_S, sorted."""
        now = self.clock()
        for copy, at in list(self.heard.items()):
            if now - at > GONE_AFTER_S:
                del self.heard[copy]
        return sorted({self.me, *self.heard})

    def share(self, partitions: int) -> set[int]:
        return share(self.copies(), self.me, partitions)

    async def start(self) -> None:
        self._sub = await self.nc.subscribe(self.subject, cb=self._on_beat)
        await self._say(leaving=False)
        self._beating = asyncio.create_task(self._beat(), name=f"roster:{self.subject}")

    async def stop(self) -> None:
        """Say goodbye, so the others take this copy's share without waiting for it to fade."""
        if self._beating is not None:
            self._beating.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._beating
            self._beating = None
        with contextlib.suppress(Exception):
            await self._say(leaving=True)
        if self._sub is not None:
            with contextlib.suppress(Exception):
                await self._sub.unsubscribe()
            self._sub = None

    async def _beat(self) -> None:
        while True:
            await asyncio.sleep(BEAT_S)
            try:
                await self._say(leaving=False)
            except Exception:  # reconnecting: the next beat goes out when the link is back
                log.debug("roster beat failed", exc_info=True)

    async def _say(self, *, leaving: bool) -> None:
        beat = RosterBeatV1(copy_id=self.me, leaving=leaving)
        await self.nc.publish(self.subject, beat.model_dump_json().encode())

    async def _on_beat(self, msg: Msg) -> None:
        try:
            beat = RosterBeatV1.model_validate_json(msg.data)
        except ValidationError:
            log.warning("roster: ignoring a malformed beat on %s", msg.subject)
            return
        if beat.copy_id == self.me:
            return
        if beat.leaving:
            self.heard.pop(beat.copy_id, None)
        else:
            self.heard[beat.copy_id] = self.clock()
