"""Batches in flight at once: those touching the same key never overlap and keep their order;
those touching different keys do overlap."""

from __future__ import annotations

import asyncio
import json

from nats.aio.msg import Msg

from oncallnova.bus.runtime import Delivery, UnitOfWork, Worker, WorkerRunner
from schemas.envelope import Envelope
from schemas.subjects import INCIDENT_COMMAND
from tests.helpers import (
    Mesh,
    eventually,
)


class Recorder(Worker[dict]):
    """Sleeps in every batch and records when each one ran. The first batch of key "a" also
    waits (up to 5 s) for a batch of another key to start, which can only happen if batches of
    different keys run at once: the test does not depend on how fast the machine is."""

    consumer = "lifecycle"  # borrows the lifecycle's durable consumer in an idle namespace
    concurrency = 3

    def __init__(self) -> None:
        self.spans: list[tuple[str, int, float, float]] = []
        self.first_a_started = asyncio.Event()
        self.other_key_started = asyncio.Event()
        self.other_key_ran_alongside: bool | None = None

    def decode(self, subject: str, envelope: Envelope, msg: Msg) -> dict:
        return json.loads(msg.data)

    def conflict_keys(self, batch: list[Delivery[dict]]) -> set[str] | None:
        return {d.data["key"] for d in batch}

    async def handle(self, batch: list[Delivery[dict]], uow: UnitOfWork) -> None:
        start = asyncio.get_running_loop().time()
        if {d.data["key"] for d in batch} != {"a"}:
            self.other_key_started.set()
        elif not self.first_a_started.is_set():
            self.first_a_started.set()
            try:
                await asyncio.wait_for(self.other_key_started.wait(), timeout=5)
                self.other_key_ran_alongside = True
            except TimeoutError:
                self.other_key_ran_alongside = False
        await asyncio.sleep(0.2)
        end = asyncio.get_running_loop().time()
        for d in batch:
            self.spans.append((d.data["key"], d.data["seq"], start, end))


async def test_same_key_in_order_other_keys_overlap(idle_mesh: Mesh) -> None:
    bus = idle_mesh.ctx.bus

    async def publish(seq: int, key: str) -> None:
        await bus.js.publish(
            INCIDENT_COMMAND.subject(key, ns=bus.ns),
            json.dumps({"key": key, "seq": seq}).encode(),
            headers=Envelope(type=INCIDENT_COMMAND.type(), producer="test").to_headers(),
        )

    # One message per batch: a, then b and c while it runs, then two more a's, which must run
    # after it and one after the other.
    worker = Recorder()
    runner = WorkerRunner(bus, worker, batch_size=1)
    task = asyncio.create_task(runner.run())
    try:
        await publish(0, "a")
        await asyncio.wait_for(worker.first_a_started.wait(), timeout=10)
        await publish(1, "b")
        await publish(2, "c")
        await asyncio.wait_for(worker.other_key_started.wait(), timeout=10)
        await publish(3, "a")
        await publish(4, "a")
        await eventually(lambda: _handled(runner, 5), timeout=20)
    finally:
        runner.stop()
        await task
    by_key: dict[str, list[tuple[int, float, float]]] = {}
    for key, seq, start, end in worker.spans:
        by_key.setdefault(key, []).append((seq, start, end))
    a = by_key["a"]
    assert [seq for seq, _, _ in a] == [0, 3, 4]
    for (_, _, end), (_, next_start, _) in zip(a, a[1:], strict=False):
        assert next_start >= end  # never overlapping, in order
    # b or c started while the first a was running: concurrency was used.
    assert worker.other_key_ran_alongside is True


async def _handled(runner: WorkerRunner, n: int) -> bool:
    return runner.stats.handled >= n
