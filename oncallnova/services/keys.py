"""Integration key → service id, cached briefly so a burst of alerts costs one query per key."""

from __future__ import annotations

import asyncio
import time

from oncallnova.context import AppContext
from oncallnova.db.repositories import incidents as repo
from oncallnova.db.types import utcnow


class ServiceKeys:
    """Positive answers are cached for `ttl_s` (a key rotated out without overlap still works
    that long in a process that had it cached); unknown keys are asked again every time, so a
    service created a moment ago is found at once. Lookups run one at a time: when a key's
    entry expires under load, one request asks the database and the others wait for its
    answer instead of all asking at once."""

    def __init__(self, ctx: AppContext, ttl_s: float = 5.0) -> None:
        self.ctx = ctx
        self.ttl_s = ttl_s
        self._cache: dict[str, tuple[str, float]] = {}
        self._lookup = asyncio.Lock()

    def _cached(self, keys: set[str], found: dict[str, str | None]) -> set[str]:
        """Fill `found` from the cache; the keys still missing."""
        now = time.monotonic()
        for key in keys:
            hit = self._cache.get(key)
            if hit is not None and now < hit[1]:
                found[key] = hit[0]
        return keys - found.keys()

    async def resolve(self, keys: set[str]) -> dict[str, str | None]:
        found: dict[str, str | None] = {}
        if not self._cached(keys, found):
            return found
        async with self._lookup:
            missing = self._cached(keys, found)  # filled meanwhile by the one that asked
            if not missing:
                return found
            now = time.monotonic()
            async with self.ctx.sessions() as session:
                for key in missing:
                    service = await repo.service_by_key(session, key)
                    found[key] = service.id if service else None
                    if service is None:
                        continue
                    expires = now + self.ttl_s
                    if service.integration_key != key and service.previous_key_expires_at:
                        # A rotated-out key in its overlap: cached no longer than it works.
                        left = (service.previous_key_expires_at - utcnow()).total_seconds()
                        expires = min(expires, now + left)
                    self._cache[key] = (service.id, expires)
        return found

    async def service_id(self, key: str) -> str | None:
        return (await self.resolve({key}))[key]
