"""The NATS KV window store alone: time to claim a batch of windows that are already open (the
common case in a storm), as the correlator does per batch, against the store before this change
(a create that fails, then a get, key after key). The bundled nats-server, on loopback.

    .venv/bin/python bench/windows.py --batches 40 --keys 256
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path

from nats.js.errors import KeyWrongLastSequenceError

from oncallnova.bus.connection import connect
from oncallnova.bus.provision import provision
from oncallnova.embedded_nats import EmbeddedNats
from oncallnova.settings import Settings
from workers.windows import KvWindows


class SequentialKvWindows(KvWindows):
    """The store as it was: create, and on conflict get, one key after another."""

    async def claim(self, candidates: Mapping[str, str], ttl_s: float) -> dict[str, str]:
        held: dict[str, str] = {}
        for key, candidate in candidates.items():
            try:
                await self.kv.create(key, candidate.encode(), msg_ttl=ttl_s)
                held[key] = candidate
            except KeyWrongLastSequenceError:
                held[key] = await self._get(key) or candidate
        return held


async def main(batches: int, keys: int, rounds: int) -> None:
    server = EmbeddedNats(Path(tempfile.mkdtemp()) / "nats")
    url = await server.start()
    bus = await connect(Settings(nats_url=url), url)
    try:
        await provision(bus, with_kv=True)
        kv = await bus.js.key_value(bus.bucket("correlation_windows"))
        batch = {f"svc.k{i}": f"incident-{i}" for i in range(keys)}
        await KvWindows(kv).claim(batch, 300)  # every window open
        for round_no in range(rounds):
            for store in (SequentialKvWindows(kv), KvWindows(kv)):
                started = time.perf_counter()
                for _ in range(batches):
                    held = await store.claim({k: "other" for k in batch}, 300)
                    assert held == batch
                elapsed = time.perf_counter() - started
                print(
                    f"round {round_no + 1} {type(store).__name__:<20} "
                    f"{elapsed / batches * 1000:7.1f} ms per batch of {keys}, "
                    f"{batches * keys / elapsed:9,.0f} open windows/s"
                )
    finally:
        await bus.close()
        await server.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--batches", type=int, default=40)
    parser.add_argument("--keys", type=int, default=256)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    asyncio.run(main(args.batches, args.keys, args.rounds))
