"""Correlation windows: which incident a fingerprint maps to, for a limited time.

Taken atomically so any number of correlators agree: Redis `SET NX PX … GET` in services
mode, NATS KV `create` with a per-key TTL on the embedded default.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping

from nats.js.errors import KeyNotFoundError, KeyWrongLastSequenceError
from nats.js.kv import KeyValue
from redis.asyncio import Redis


def window_key(service_id: str, fingerprint: str) -> str:
    """`<service>.<sha256 hex>`: valid both as a Redis key and as a NATS KV key."""
    return f"{service_id}.{fingerprint.rsplit(':', 1)[-1]}"


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
    def __init__(self, kv: KeyValue) -> None:
        self.kv = kv

    async def claim(self, candidates: Mapping[str, str], ttl_s: float) -> dict[str, str]:
        held: dict[str, str] = {}
        for key, candidate in candidates.items():
            try:
                await self.kv.create(
                    key, candidate.encode(), msg_ttl=ttl_s
                )  # whole seconds: Settings refuses others
                held[key] = candidate
            except KeyWrongLastSequenceError:
                current = await self._get(key)
                held[key] = current or candidate
        return held

    async def peek(self, keys: list[str]) -> dict[str, str]:
        found = {}
        for key in keys:
            value = await self._get(key)
            if value is not None:
                found[key] = value
        return found

    async def _get(self, key: str) -> str | None:
        try:
            entry = await self.kv.get(key)
        except KeyNotFoundError:
            return None
        return entry.value.decode() if entry.value else None
