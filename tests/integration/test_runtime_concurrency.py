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
    """Sleeps in every batch and records when each one ran."""

    consumer = "lifecycle"  # borrows the lifecycle's durable consumer in an idle namespace
    concurrency = 3

    def __init__(self) -> None:
        self.spans: list[tuple[str, int, float, float]] = []

    def decode(self, subject: str, envelope: Envelope, msg: Msg) -> dict:
        return json.loads(msg.data)

    def conflict_keys(self, batch: list[Delivery[dict]]) -> set[str] | None:
        return {d.data["key"] for d in batch}

    async def handle(self, batch: list[Delivery[dict]], uow: UnitOfWork) -> None:
        start = asyncio.get_running_loop().time()
        await asyncio.sleep(0.2)
        end = asyncio.get_running_loop().time()
        for d in batch:
            self.spans.append((d.data["key"], d.data["seq"], start, end))


async def test_same_key_in_order_other_keys_overlap(idle_mesh: Mesh) -> None:
    bus = idle_mesh.ctx.bus
    # One message per batch: a, a, b, c, a — the three a's must run one after another.
    for seq, key in enumerate(["a", "a", "b", "c", "a"]):
        await bus.js.publish(
            INCIDENT_COMMAND.subject(key, ns=bus.ns),
            json.dumps({"key": key, "seq": seq}).encode(),
            headers=Envelope(type=INCIDENT_COMMAND.type(), producer="test").to_headers(),
        )
    worker = Recorder()
    runner = WorkerRunner(bus, worker, batch_size=1)
    task = asyncio.create_task(runner.run())
    try:
        await eventually(lambda: _handled(runner, 5), timeout=10)
    finally:
        runner.stop()
        await task
    by_key: dict[str, list[tuple[int, float, float]]] = {}
    for key, seq, start, end in worker.spans:
        by_key.setdefault(key, []).append((seq, start, end))
    a = by_key["a"]
    assert [seq for seq, _, _ in a] == [0, 1, 4]
    for (_, _, end), (_, next_start, _) in zip(a, a[1:], strict=False):
        assert next_start >= end  # never overlapping, in order
    # b and c ran while an a was running: concurrency was used.
    b_start = by_key["b"][0][1]
    assert any(start < b_start < end for _, start, end in a)


async def _handled(runner: WorkerRunner, n: int) -> bool:
    return runner.stats.handled >= n
