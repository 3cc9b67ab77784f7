"""Both window stores behave alike: the first claim of a key wins for the window, later claims
get the winner's incident id, and after the window a new claim wins again."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from nats.js.kv import KeyValue
from redis.asyncio import Redis

from oncallnova.bus.connection import Bus, connect
from oncallnova.bus.provision import provision
from oncallnova.embedded_nats import EmbeddedNats
from oncallnova.settings import Settings
from tests.helpers import REDIS_URL, eventually
from workers.windows import KvWindows, RedisWindows, WindowStore


@pytest.fixture(params=["redis", "nats-kv"])
async def windows(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[WindowStore]:
    if request.param == "redis":
        store: WindowStore = RedisWindows(Redis.from_url(REDIS_URL), f"t{secrets.token_hex(4)}:w:")
        yield store
        await store.close()
        return
    server = EmbeddedNats(tmp_path / "nats")
    url = await server.start()
    bus = await connect(Settings(nats_url=url), url)
    await provision(bus, with_kv=True)
    yield KvWindows(await bus.js.key_value(bus.bucket("correlation_windows")))
    await bus.close()
    await server.stop()


async def test_first_claim_wins_until_the_window_ends(windows: WindowStore) -> None:
    first = await windows.claim({"svc.a": "incident-1", "svc.b": "incident-2"}, ttl_s=2)
    assert first == {"svc.a": "incident-1", "svc.b": "incident-2"}
    later = await windows.claim({"svc.a": "incident-3"}, ttl_s=2)
    assert later == {"svc.a": "incident-1"}
    assert await windows.peek(["svc.a", "svc.c"]) == {"svc.a": "incident-1"}

    async def closed() -> bool:
        return await windows.peek(["svc.a"]) == {}

    await eventually(closed, timeout=20)  # NATS KV expires in whole seconds
    assert await windows.claim({"svc.a": "incident-4"}, ttl_s=2) == {"svc.a": "incident-4"}


async def test_concurrent_claims_agree(windows: WindowStore) -> None:
    results = await asyncio.gather(
        *(windows.claim({"svc.same": f"candidate-{i}"}, ttl_s=5) for i in range(20))
    )
    winners = {r["svc.same"] for r in results}
    assert len(winners) == 1


@pytest.fixture
async def kv_bus(tmp_path: Path) -> AsyncIterator[Bus]:
    server = EmbeddedNats(tmp_path / "nats")
    url = await server.start()
    bus = await connect(Settings(nats_url=url), url)
    await provision(bus, with_kv=True)
    yield bus
    await bus.close()
    await server.stop()


async def kv_store(bus: Bus) -> KvWindows:
    return KvWindows(await bus.js.key_value(bus.bucket("correlation_windows")))


async def test_open_windows_cost_one_read_each_and_no_create(kv_bus: Bus) -> None:
    windows = await kv_store(kv_bus)
    keys = {f"svc.k{i}": f"incident-{i}" for i in range(50)}
    await windows.claim(keys, ttl_s=30)
    sent = kv_bus.nc.stats["out_msgs"]
    again = await windows.claim({k: "other" for k in keys}, ttl_s=30)
    assert again == keys
    # One pipelined read per key; a create attempt (the old way) would double it.
    assert kv_bus.nc.stats["out_msgs"] - sent == len(keys)


class RivalFirst(KvWindows):
    """A copy whose read finds nothing, then loses the create to a rival copy's claim."""

    def __init__(self, kv: KeyValue, rival: KvWindows, rival_candidate: str) -> None:
        super().__init__(kv)
        self.rival = rival
        self.rival_candidate = rival_candidate

    async def peek(self, keys: list[str]) -> dict[str, str]:
        found = await super().peek(keys)
        await self.rival.claim({k: self.rival_candidate for k in keys}, ttl_s=30)
        return found


async def test_a_create_that_loses_the_race_takes_the_winners_window(kv_bus: Bus) -> None:
    rival_bus = await connect(kv_bus.settings)
    try:
        rival = await kv_store(rival_bus)
        kv = await kv_bus.js.key_value(kv_bus.bucket("correlation_windows"))
        late = RivalFirst(kv, rival, "incident-rival")
        held = await late.claim({"svc.race": "incident-late", "svc.race2": "incident-late"}, 30)
        assert held == {"svc.race": "incident-rival", "svc.race2": "incident-rival"}
        assert await rival.peek(["svc.race"]) == {"svc.race": "incident-rival"}
    finally:
        await rival_bus.close()


async def test_copies_claiming_overlapping_batches_at_once_agree(kv_bus: Bus) -> None:
    """Several correlator copies, each its own connection, claim overlapping key sets at the
    same moment: every key ends with one incident id, and every copy was told that one."""
    buses = [kv_bus] + [await connect(kv_bus.settings) for _ in range(3)]
    try:
        stores = [await kv_store(b) for b in buses]
        keys = [f"svc.o{i}" for i in range(40)]
        results = await asyncio.gather(
            *(
                store.claim({k: f"copy{c}-{k}" for k in keys[c * 5 : c * 5 + 25]}, ttl_s=30)
                for c, store in enumerate(stores)
            )
        )
        stored = await stores[0].peek(keys)
        for result in results:
            for key, incident in result.items():
                assert stored[key] == incident
    finally:
        for b in buses[1:]:
            await b.close()
