"""Both window stores behave alike: the first claim of a key wins for the window, later claims
get the winner's incident id, and after the window a new claim wins again."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from redis.asyncio import Redis

from oncallnova.bus.connection import connect
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
