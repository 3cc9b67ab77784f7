"""Every worker by name, and how to build it from the process context."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from redis.asyncio import Redis

from oncallnova.bus.runtime import Worker
from oncallnova.context import AppContext
from workers.correlator import CorrelatorWorker
from workers.escalator import EscalatorWorker
from workers.fingerprinter import FingerprinterWorker
from workers.lifecycle import LifecycleWorker
from workers.metrics import AlertMetricsWorker, IncidentMetricsWorker
from workers.notifier import NotifierWorker
from workers.webhook_fanout import WebhookFanoutWorker
from workers.webhooker import WebhookerWorker
from workers.windows import KvWindows, RedisWindows, WindowStore


async def window_store(ctx: AppContext) -> WindowStore:
    """Redis in services mode; NATS KV with per-key TTLs on the embedded default."""
    if ctx.settings.redis_url:
        prefix = f"{ctx.settings.nats_namespace or 'oncallnova'}:window:"
        return RedisWindows(Redis.from_url(ctx.settings.redis_url), prefix)
    kv = await ctx.bus.js.key_value(ctx.bus.bucket("correlation_windows"))
    return KvWindows(kv)


async def _correlator(ctx: AppContext) -> Worker:  # type: ignore[type-arg]
    return CorrelatorWorker(ctx, await window_store(ctx))


async def _fingerprinter(ctx: AppContext) -> Worker:  # type: ignore[type-arg]
    return FingerprinterWorker(ctx)


async def _lifecycle(ctx: AppContext) -> Worker:  # type: ignore[type-arg]
    return LifecycleWorker(ctx)


async def _escalator(ctx: AppContext) -> Worker:  # type: ignore[type-arg]
    return EscalatorWorker(ctx)


async def _notifier(ctx: AppContext) -> Worker:  # type: ignore[type-arg]
    return NotifierWorker(ctx)


async def _webhook_fanout(ctx: AppContext) -> Worker:  # type: ignore[type-arg]
    return WebhookFanoutWorker(ctx)


async def _webhooker(ctx: AppContext) -> Worker:  # type: ignore[type-arg]
    return WebhookerWorker(ctx)


async def _metrics(ctx: AppContext) -> Worker:  # type: ignore[type-arg]
    return IncidentMetricsWorker(ctx)


async def _metrics_alerts(ctx: AppContext) -> Worker:  # type: ignore[type-arg]
    return AlertMetricsWorker(ctx)


WORKERS: dict[str, Callable[[AppContext], Awaitable[Worker]]] = {  # type: ignore[type-arg]
    "fingerprinter": _fingerprinter,
    "correlator": _correlator,
    "lifecycle": _lifecycle,
    "escalator": _escalator,
    "notifier": _notifier,
    "webhook_fanout": _webhook_fanout,
    "webhooker": _webhooker,
    "metrics": _metrics,
    "metrics_alerts": _metrics_alerts,
}
