"""A stopped copy gives back what it fetched, so another copy carries on at once; a slow batch
is kept alive with `in_progress`, so it is not redelivered while still being worked on.

Each runner has its own NATS connection, as separate processes would.
"""

from __future__ import annotations

import dataclasses
import time

import pytest

from oncallnova.bus import declarations, provision
from tests.helpers import Mesh, eventually
from tests.integration.copies import TOPICS, Copy, Handled, Recorder, publish, start_copy

#: The server's ack_wait for the hand-over test: long, so "at once" and "after the server's
#: redelivery" stay far apart however slow the machine (the declared 5 s is not).
SLOW_ACK_WAIT_S = 60.0


async def slow_redelivery(mesh: Mesh, consumer: str) -> None:
    """Give the namespace's consumer(s) SLOW_ACK_WAIT_S on the server; the copies keep the
    declared ack_wait for their own timers (in_progress every third of it)."""
    decl = declarations.consumer(consumer)
    await provision._ensure_consumer(
        mesh.ctx.bus, dataclasses.replace(decl, ack_wait_s=SLOW_ACK_WAIT_S)
    )
    bus = mesh.ctx.bus
    for durable in decl.durables():
        info = await bus.js.consumer_info(bus.stream(decl.stream), durable)
        assert info.config.ack_wait == SLOW_ACK_WAIT_S


@pytest.mark.parametrize("consumer", list(TOPICS))
async def test_a_stopped_copy_gives_back_what_it_fetched_at_once(
    idle_mesh: Mesh, copies: list[Copy], consumer: str
) -> None:
    await slow_redelivery(idle_mesh, consumer)
    keys = [f"k{i}" for i in range(40)]
    await publish(idle_mesh, consumer, keys)
    log: list[Handled] = []
    first = await start_copy(idle_mesh, Recorder(consumer, "first", log, 0.3), 4, copies)
    await eventually(lambda: _handled_by(log, "first"))
    # The other copy is up before the stop (for the partitioned consumer: as a standby).
    second = await start_copy(idle_mesh, Recorder(consumer, "second", log, 0.0), 4, copies)
    await eventually(lambda: _pulling(second))
    await eventually(lambda: _waiting(first))  # fetched, not yet in hand

    handed_over = time.monotonic()
    await first.stop()
    assert first.runner.given_back > 0, "the stopped copy held nothing back"
    await eventually(lambda: _all_handled(log, keys), timeout=SLOW_ACK_WAIT_S / 2)

    # Well under the server's ack_wait: nobody waited for it to redeliver (what the stopped
    # copy held would come back only about SLOW_ACK_WAIT_S after its last in_progress).
    took = max(h.at for h in log) - handed_over
    assert took < SLOW_ACK_WAIT_S / 2, f"the rest took {took:.2f} s after the stop"
    # What the first copy finished it acked: nothing was handled twice.
    assert sorted(h.key for h in log) == sorted(keys)
    given_back = [h for h in log if h.copy == "second" and h.num_delivered > 1]
    assert len(given_back) == first.runner.given_back


async def test_in_progress_keeps_a_slow_batch_from_being_redelivered(
    idle_mesh: Mesh, copies: list[Copy]
) -> None:
    consumer = "fingerprinter"  # shared consumer: a redelivery could go to either copy
    ack_wait = declarations.consumer(consumer).ack_wait_s
    log: list[Handled] = []
    slow = Recorder(consumer, "slow", log, ack_wait + 1.5)
    slow.slow_batches = 1
    await start_copy(idle_mesh, slow, 1, copies)
    # One message in hand for longer than ack_wait, one waiting behind it in the puller.
    await publish(idle_mesh, consumer, ["slow-1", "slow-2"])
    await eventually(lambda: _fetched(copies[0], 2))
    await start_copy(idle_mesh, Recorder(consumer, "other", log, 0.0), 4, copies)

    await eventually(lambda: _all_handled(log, ["slow-1", "slow-2"]), timeout=ack_wait + 10)
    assert [(h.copy, h.key, h.num_delivered) for h in log] == [
        ("slow", "slow-1", 1),
        ("slow", "slow-2", 1),
    ]
    bus = idle_mesh.ctx.bus

    async def settled() -> bool:  # acks are sent after the handler returns
        info = await bus.js.consumer_info(bus.stream("ALERTS"), consumer)
        return info.num_ack_pending == 0

    await eventually(settled)
    info = await bus.js.consumer_info(bus.stream("ALERTS"), consumer)
    assert info.num_redelivered == 0


async def _handled_by(log: list[Handled], copy: str) -> bool:
    return any(h.copy == copy for h in log)


async def _all_handled(log: list[Handled], keys: list[str]) -> bool:
    return {h.key for h in log} >= set(keys)


async def _pulling(copy: Copy) -> bool:
    return copy.runner.is_running()


async def _waiting(copy: Copy) -> bool:
    return copy.runner.puller is not None and bool(copy.runner.puller.ready)


async def _fetched(copy: Copy, n: int) -> bool:
    puller = copy.runner.puller
    return puller is not None and len(puller.held) >= n
