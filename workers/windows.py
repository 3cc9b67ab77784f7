"""Correlation windows: which incident a fingerprint maps to, for a limited time.

Taken atomically so any number of correlators agree: Redis `SET NX PX … GET` in services
mode, NATS KV `create` with a per-key TTL on the embedded default. Either store answers a
batch in one round trip when its windows are open (a pipeline; pipelined KV reads).
"""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from collections.abc import Mapping

from nats.js.errors import KeyNotFoundError, KeyWrongLastSequenceError
from nats.js.kv import KeyValue
from redis.asyncio import Redis

from oncallnova.incidents.correlation import window_key

__all__ = ["KvWindows", "RedisWindows", "WindowStore", "window_key"]


class WindowStore(ABC):
    @abstractmethod
    async def claim(self, candidates: Mapping[str, str], ttl_s: float) -> dict[str, str]:
        """For each key, the incident id now holding its window: the candidate if none did."""

    @abstractmethod
    async def peek(self, keys: list[str]) -> dict[str, str]:
        """Incident ids of the windows that are open now (missing keys are closed)."""

    async def close(self) -> None:  # noqa: B027 - optional
        """Release connections."""


class RedisWindows(WindowStore):
    def __init__(self, redis: Redis, prefix: str) -> None:
        self.redis = redis
        self.prefix = prefix

    async def claim(self, candidates: Mapping[str, str], ttl_s: float) -> dict[str, str]:
        if not candidates:
            return {}
        keys = list(candidates)
        async with self.redis.pipeline(transaction=False) as pipe:
            for key in keys:
                # NX + GET (Redis >= 7): set only if absent, and say what was there.
                pipe.set(
                    self.prefix + key, candidates[key], nx=True, px=int(ttl_s * 1000), get=True
                )
            previous = await pipe.execute()
        return {
            key: (old.decode() if isinstance(old, bytes) else old) or candidates[key]
            for key, old in zip(keys, previous, strict=True)
        }

    async def peek(self, keys: list[str]) -> dict[str, str]:
        if not keys:
            return {}
        values = await self.redis.mget([self.prefix + k for k in keys])
        return {
            k: v.decode() if isinstance(v, bytes) else v
            for k, v in zip(keys, values, strict=True)
            if v is not None
        }

    async def close(self) -> None:
        await self.redis.aclose()


class KvWindows(WindowStore):
    """Windows in a NATS KV bucket. A batch reads every key at once (the requests are
    pipelined on the one connection: one round trip however many keys), then creates only
    the missing ones, again all at once. The common case, a key whose window is already open,
    costs that single read; a create that loses a race to another correlator copy reads the
    winner's value, so every copy still agrees."""

    def __init__(self, kv: KeyValue) -> None:
        self.kv = kv

    async def claim(self, candidates: Mapping[str, str], ttl_s: float) -> dict[str, str]:
        held = await self.peek(list(candidates))
        missing = [key for key in candidates if key not in held]
        taken = await asyncio.gather(
            *(self._create(key, candidates[key], ttl_s) for key in missing)
        )
        held.update(zip(missing, taken, strict=True))
        return {key: held[key] for key in candidates}

    async def peek(self, keys: list[str]) -> dict[str, str]:
        values = await asyncio.gather(*(self._get(key) for key in keys))
        return {key: value for key, value in zip(keys, values, strict=True) if value is not None}

    async def _create(self, key: str, candidate: str, ttl_s: float) -> str:
        """The candidate if this create opened the window, else whoever's create did."""
        try:
            # Whole seconds: Settings refuses other windows without Redis.
            await self.kv.create(key, candidate.encode(), msg_ttl=ttl_s)
        except KeyWrongLastSequenceError:
            # Another copy created it between our read and our create: theirs wins.
            return await self._get(key) or candidate
        return candidate

    async def _get(self, key: str) -> str | None:
        try:
            entry = await self.kv.get(key)
        except KeyNotFoundError:
            return None
        return entry.value.decode() if entry.value else None
