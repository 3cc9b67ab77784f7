"""Identical copies of a partitioned worker share its partitions evenly, and re-share them as
copies come and go, without ever running one key's messages out of order.

Each copy has its own NATS connection, as separate processes would; none is given
`--partitions`: the roster alone decides.
"""

from __future__ import annotations

import asyncio

from oncallnova.bus.roster import GONE_AFTER_S
from tests.helpers import Mesh, eventually
from tests.integration.copies import Copy, Handled, Recorder, publish, start_copy

CONSUMER = "lifecycle"
PARTITIONS = 8


def owned(copy: Copy) -> set[int]:
    puller = copy.runner.puller
    assert puller is not None
    return {c.index for c in puller.consumers.values() if c.pin}


def share(copy: Copy) -> set[int]:
    puller = copy.runner.puller
    assert puller is not None and puller.roster is not None
    return puller.roster.share(PARTITIONS)


async def test_copies_take_even_shares_and_keep_each_keys_order(
    idle_mesh: Mesh, copies: list[Copy]
) -> None:
    log: list[Handled] = []
    for name in ("a", "b", "c"):
        await start_copy(idle_mesh, Recorder(CONSUMER, name, log, 0.0), 16, copies)

    async def balanced() -> bool:
        # Keep messages coming on every partition: a pin is taken with a message.
        await publish(idle_mesh, CONSUMER, [f"warm-{i}" for i in range(64)])
        shares = [share(c) for c in copies]
        return all(len(s) in (2, 3) for s in shares) and all(owned(c) == share(c) for c in copies)

    await eventually(balanced, timeout=30, interval=0.5)
    assert set().union(*(owned(c) for c in copies)) == set(range(PARTITIONS))

    # Every key three times in a row: each key's messages are handled in publish order.
    keys = [f"k{i}" for i in range(300)]
    for seq in range(3):
        await publish(idle_mesh, CONSUMER, keys, seq)
    await eventually(lambda: _all_handled(log, keys, 3), timeout=30)
    by_copy = {h.copy for h in log if h.key.startswith("k")}
    assert by_copy == {"a", "b", "c"}, f"only {by_copy} did any work"
    _assert_in_order(log, keys)


async def test_a_copy_that_stops_leaves_its_share_to_the_others_at_once(
    idle_mesh: Mesh, copies: list[Copy]
) -> None:
    log: list[Handled] = []
    first = await start_copy(idle_mesh, Recorder(CONSUMER, "first", log, 0.0), 16, copies)
    second = await start_copy(idle_mesh, Recorder(CONSUMER, "second", log, 0.0), 16, copies)

    async def split() -> bool:
        await publish(idle_mesh, CONSUMER, [f"warm-{i}" for i in range(32)])
        return all(owned(c) == share(c) and len(share(c)) == 4 for c in (first, second))

    await eventually(split, timeout=30, interval=0.5)
    await first.stop()
    # The goodbye, not the fade: the survivor takes everything well before GONE_AFTER_S.
    await asyncio.wait_for(_takes_all(idle_mesh, second), timeout=GONE_AFTER_S)

    keys = [f"k{i}" for i in range(100)]
    for seq in range(2):
        await publish(idle_mesh, CONSUMER, keys, seq)
    await eventually(lambda: _all_handled(log, keys, 2), timeout=30)
    assert {h.copy for h in log if h.key.startswith("k")} == {"second"}
    _assert_in_order(log, keys)


async def _takes_all(mesh: Mesh, copy: Copy) -> None:
    while owned(copy) != set(range(PARTITIONS)):
        await publish(mesh, CONSUMER, [f"after-{i}" for i in range(32)])
        await asyncio.sleep(0.2)


async def _all_handled(log: list[Handled], keys: list[str], rounds: int) -> bool:
    done = {(h.key, h.seq) for h in log}
    return all((k, seq) in done for k in keys for seq in range(rounds))


def _assert_in_order(log: list[Handled], keys: list[str]) -> None:
    wanted = set(keys)
    seen: dict[str, list[int]] = {}
    for h in log:  # the log is appended in handling order across copies (one event loop)
        if h.key in wanted and h.seq is not None:
            seen.setdefault(h.key, []).append(h.seq)
    disordered = {k: r for k, r in seen.items() if r != sorted(r)}
    assert not disordered, f"out of order: {dict(list(disordered.items())[:5])}"
