"""Integration key → service id, cached briefly so a burst of alerts costs one query per key."""

from __future__ import annotations

import time

from oncallnova.context import AppContext
from oncallnova.db.repositories import incidents as repo


class ServiceKeys:
    """Positive answers are cached for `ttl_s`; unknown keys are asked again every time, so a
    service created a moment ago is found at once."""

    def __init__(self, ctx: AppContext, ttl_s: float = 30.0) -> None:
        self.ctx = ctx
        self.ttl_s = ttl_s
        self._cache: dict[str, tuple[str, float]] = {}

    async def resolve(self, keys: set[str]) -> dict[str, str | None]:
        now = time.monotonic()
        found: dict[str, str | None] = {}
        for key in keys:
            hit = self._cache.get(key)
            if hit is not None and now - hit[1] < self.ttl_s:
                found[key] = hit[0]
        missing = keys - found.keys()
        if missing:
            async with self.ctx.sessions() as session:
                for key in missing:
                    service = await repo.service_by_key(session, key)
                    found[key] = service.id if service else None
                    if service is not None:
                        self._cache[key] = (service.id, now)
        return found

    async def service_id(self, key: str) -> str | None:
        return (await self.resolve({key}))[key]
