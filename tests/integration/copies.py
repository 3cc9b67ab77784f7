"""Copies of a worker, each on its own NATS connection as separate processes would be, and a
worker that records what it handled: for the tests of stops, hand-overs and shares."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from nats.aio.msg import Msg

from oncallnova.bus.connection import Bus, connect
from oncallnova.bus.runtime import Delivery, UnitOfWork, Worker, WorkerRunner
from schemas.envelope import Envelope
from schemas.subjects import ALERT_RECEIVED, INCIDENT_COMMAND, Topic
from tests.helpers import Mesh

TOPICS: dict[str, tuple[Topic, str | None]] = {
    # consumer: (topic, key), None: the key is the message's own
    "fingerprinter": (ALERT_RECEIVED, "generic"),  # one consumer shared by every copy
    "lifecycle": (INCIDENT_COMMAND, None),  # one consumer per partition, pinned to a copy
}


@dataclass(frozen=True)
class Handled:
    copy: str
    key: str
    num_delivered: int
    at: float
    seq: int | None = None


class Recorder(Worker[dict]):
    """Records what it handled; sleeps `delay_s` in the batches `slow` says."""

    def __init__(self, consumer: str, copy: str, log: list[Handled], delay_s: float) -> None:
        self.consumer = consumer
        self.copy = copy
        self.log = log
        self.delay_s = delay_s
        self.slow_batches = 10**9

    def decode(self, subject: str, envelope: Envelope, msg: Msg) -> dict:
        return json.loads(msg.data)

    async def handle(self, batch: list[Delivery[dict]], uow: UnitOfWork) -> None:
        if self.slow_batches > 0:
            self.slow_batches -= 1
            await asyncio.sleep(self.delay_s)
        now = time.monotonic()
        self.log.extend(
            Handled(self.copy, d.data["key"], d.num_delivered, now, d.data.get("seq"))
            for d in batch
        )


@dataclass
class Copy:
    runner: WorkerRunner
    bus: Bus
    task: asyncio.Task[None]

    async def stop(self) -> None:
        self.runner.stop()
        await self.task
        await self.bus.close()


@pytest.fixture
async def copies(idle_mesh: Mesh) -> AsyncIterator[list[Copy]]:
    started: list[Copy] = []
    yield started
    for copy in started:
        if not copy.task.done():
            await copy.stop()


async def start_copy(mesh: Mesh, worker: Recorder, batch: int, started: list[Copy]) -> Copy:
    bus = await connect(mesh.ctx.settings)
    runner = WorkerRunner(bus, worker, batch_size=batch)
    copy = Copy(runner, bus, asyncio.create_task(runner.run()))
    started.append(copy)
    return copy


async def publish(mesh: Mesh, consumer: str, keys: list[str], seq: int | None = None) -> None:
    bus = mesh.ctx.bus
    topic, fixed_key = TOPICS[consumer]
    for key in keys:
        await bus.js.publish(
            topic.subject(fixed_key or key, ns=bus.ns),
            json.dumps({"key": key, "seq": seq}).encode(),
            headers=Envelope(type=topic.type(), producer="test").to_headers(),
        )
