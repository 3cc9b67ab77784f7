"""Shared state of security decisions: revoked token ids and rate-limit counters.

Revocations live in Redis in services mode and in a NATS KV bucket (per-key TTL) on the
embedded default, so every process of a deployment sees a logout at once. Rate limits count in
fixed windows: in Redis when configured, else in the process (the embedded default is one).
"""

from __future__ import annotations

import math
import time
from typing import Protocol

from nats.js.errors import KeyNotFoundError
from nats.js.kv import KeyValue
from redis.asyncio import Redis


class Revocations(Protocol):
    async def revoke(self, jti: str, ttl_s: float) -> None: ...

    async def is_revoked(self, jti: str) -> bool: ...


class RedisRevocations:
    def __init__(self, redis: Redis, prefix: str) -> None:
        self.redis = redis
        self.prefix = prefix

    async def revoke(self, jti: str, ttl_s: float) -> None:
        await self.redis.set(self.prefix + jti, b"1", ex=max(1, math.ceil(ttl_s)))

    async def is_revoked(self, jti: str) -> bool:
        return bool(await self.redis.exists(self.prefix + jti))


class KvRevocations:
    def __init__(self, kv: KeyValue) -> None:
        self.kv = kv

    async def revoke(self, jti: str, ttl_s: float) -> None:
        await self.kv.put(jti, b"1") if ttl_s <= 0 else await self._put_ttl(jti, ttl_s)

    async def _put_ttl(self, jti: str, ttl_s: float) -> None:
        try:
            await self.kv.create(jti, b"1", msg_ttl=max(1.0, ttl_s))
        except Exception:
            # Already revoked (create refuses an existing key): nothing to do.
            if not await self.is_revoked(jti):
                raise

    async def is_revoked(self, jti: str) -> bool:
        try:
            entry = await self.kv.get(jti)
        except KeyNotFoundError:
            return False
        return entry.value is not None


class RateLimiter(Protocol):
    async def add(self, name: str, window_s: int) -> tuple[int, int]:
        """Count one event under `name`; (events in this window so far, seconds it has left)."""
        ...

    async def count(self, name: str, window_s: int) -> tuple[int, int]:
        """(events in this window so far, seconds it has left), counting nothing."""
        ...


def _window(window_s: int, now: float) -> tuple[int, int]:
    index = int(now // window_s)
    left = max(1, math.ceil((index + 1) * window_s - now))
    return index, left


class MemoryRateLimiter:
    def __init__(self) -> None:
        self._counts: dict[tuple[str, int, int], int] = {}
        self._now = time.time

    async def add(self, name: str, window_s: int) -> tuple[int, int]:
        index, left = _window(window_s, self._now())
        key = (name, window_s, index)
        count = self._counts.get(key, 0) + 1
        self._counts[key] = count
        if len(self._counts) > 100_000:
            self._prune()
        return count, left

    async def count(self, name: str, window_s: int) -> tuple[int, int]:
        index, left = _window(window_s, self._now())
        return self._counts.get((name, window_s, index), 0), left

    def _prune(self) -> None:
        now = self._now()
        self._counts = {k: v for k, v in self._counts.items() if k[2] >= int(now // k[1])}


class RedisRateLimiter:
    def __init__(self, redis: Redis, prefix: str) -> None:
        self.redis = redis
        self.prefix = prefix

    async def add(self, name: str, window_s: int) -> tuple[int, int]:
        index, left = _window(window_s, time.time())
        key = f"{self.prefix}{name}:{window_s}:{index}"
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.incr(key)
            pipe.expire(key, window_s + 1)
            count, _ = await pipe.execute()
        return int(count), left

    async def count(self, name: str, window_s: int) -> tuple[int, int]:
        index, left = _window(window_s, time.time())
        value = await self.redis.get(f"{self.prefix}{name}:{window_s}:{index}")
        return int(value or 0), left
