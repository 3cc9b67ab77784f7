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


def _needs_only_context(
    worker: Callable[[AppContext], Worker],  # type: ignore[type-arg]
) -> Callable[[AppContext], Awaitable[Worker]]:  # type: ignore[type-arg]
    """The factory of a worker built from the process context alone."""

    async def build(ctx: AppContext) -> Worker:  # type: ignore[type-arg]
        return worker(ctx)

    return build


WORKERS: dict[str, Callable[[AppContext], Awaitable[Worker]]] = {  # type: ignore[type-arg]
    "fingerprinter": _needs_only_context(FingerprinterWorker),
    "correlator": _correlator,
    "lifecycle": _needs_only_context(LifecycleWorker),
    "escalator": _needs_only_context(EscalatorWorker),
    "notifier": _needs_only_context(NotifierWorker),
    "webhook_fanout": _needs_only_context(WebhookFanoutWorker),
    "webhooker": _needs_only_context(WebhookerWorker),
    "metrics": _needs_only_context(IncidentMetricsWorker),
    "metrics_alerts": _needs_only_context(AlertMetricsWorker),
}
