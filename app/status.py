"""`oncallnova status` and `GET /api/v1/status`: the mesh at a glance, and whether it needs
attention (the command exits 1 then, so it can serve as a health check; 2 when it cannot look).

Components: inside a platform process (the HTTP route) each component's own health; from the
command line, what the broker shows of each worker (a worker with open pull requests on its
consumers is there), and whether the database and the broker answer.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from oncallnova.bus import declarations
from oncallnova.bus.connection import Bus, connect
from oncallnova.bus.status import BrokerStatus, broker_problems, broker_status, worker_of
from oncallnova.context import AppContext
from oncallnova.db.engine import create_engine
from oncallnova.embedded_nats import broker_url
from oncallnova.settings import Settings


async def database_version(engine: AsyncEngine) -> str:
    """`PostgreSQL 16.4 …` or `SQLite 3.45.1`."""
    async with engine.connect() as connection:
        if engine.dialect.name == "sqlite":
            version = await connection.scalar(text("SELECT sqlite_version()"))
            return f"SQLite {version}"
        return str(await connection.scalar(text("SELECT version()")))


def workers_seen(broker: BrokerStatus) -> dict[str, bool]:
    """Each declared worker: True when some copy has pull requests open on its consumers."""
    seen = {d.durable: False for d in declarations.consumers()}
    for consumer in broker.consumers:
        worker = worker_of(consumer.name)
        if worker in seen and consumer.waiting:
            seen[worker] = True
    return seen


async def collect(
    bus: Bus,
    engine: AsyncEngine,
    components: Mapping[str, Callable[[], bool]] | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """The whole status document; `attention` lists what needs looking at (empty: all well)."""
    problems: list[str] = []
    try:
        db_version: str | None = await asyncio.wait_for(database_version(engine), timeout=5)
    except Exception as error:  # noqa: BLE001 - any failure means "does not answer"
        db_version = None
        problems.append(f"database does not answer: {error.__class__.__name__}")
    broker = await broker_status(bus, now)
    problems += broker_problems(broker)
    health: dict[str, bool] = {"database": db_version is not None, "broker": bus.nc.is_connected}
    if components is not None:
        health.update({name: bool(check()) for name, check in components.items()})
    else:
        health.update({f"worker:{name}": up for name, up in workers_seen(broker).items()})
    problems += [f"{name} is not healthy" for name, ok in health.items() if not ok]
    document = broker.to_json()
    return {
        "status": "attention" if problems else "ok",
        "attention": problems,
        "versions": {"database": db_version, "broker": broker.version},
        "components": health,
        "streams": document["streams"],
        "consumers": document["consumers"],
        "dead_letters": document["dead_letters"],
        "checked_at": (now or datetime.now(UTC)).isoformat(),
    }


def render(status: Mapping[str, Any]) -> str:
    """The status as a terminal table."""
    lines = [
        f"status: {status['status']}",
        f"versions: broker {status['versions']['broker']}, "
        f"database {status['versions']['database'] or 'unreachable'}",
        "components: "
        + ", ".join(f"{n} {'ok' if ok else 'DOWN'}" for n, ok in status["components"].items()),
        "",
        f"{'stream':<28}{'messages':>10}{'bytes':>14}{'limit':>14}{'full':>7}{'R':>3}",
    ]
    for s in status["streams"]:
        limit = s["max_bytes"] or "-"
        lines.append(
            f"{s['name']:<28}{s['messages']:>10}{s['bytes']:>14}{limit:>14}"
            f"{s['fill']:>7.1%}{s['replicas']:>3}"
            + (f"  behind: {s['behind']}" if s["behind"] else "")
        )
    lines += [
        "",
        f"{'consumer':<24}{'pending':>9}{'ack-pend':>10}{'redeliv':>9}{'oldest':>9}"
        f"{'pulling':>9}{'dead':>6}",
    ]
    for c in status["consumers"]:
        ages = [a for a in (c["oldest_unacked_age_s"], c["oldest_pending_age_s"]) if a is not None]
        oldest = f"{max(ages):.1f}s" if ages else "-"
        lines.append(
            f"{c['name']:<24}{c['pending']:>9}{c['ack_pending']:>10}{c['redeliveries']:>9}"
            f"{oldest:>9}{c['waiting']:>9}{c['dead_letters']:>6}"
        )
    if status["attention"]:
        lines += ["", "needs attention:"] + [f"  - {p}" for p in status["attention"]]
    return "\n".join(lines)


def router(ctx: AppContext) -> APIRouter:
    """`GET /api/v1/status` for operators and the UI (admins only once accounts exist)."""
    api = APIRouter(tags=["operations"])

    @api.get("/api/v1/status")
    async def status() -> dict[str, Any]:
        """Streams, consumers, dead letters, component health and versions."""
        return await collect(ctx.bus, ctx.engine, ctx.components)

    return api


def run(args: Any, settings: Settings) -> int:
    """The CLI entry: 0 all well, 1 something needs attention, 2 the mesh cannot be reached."""

    async def look() -> dict[str, Any]:
        bus = await asyncio.wait_for(
            connect(
                settings,
                broker_url(settings.nats_url, settings.data_dir),
                name="oncallnova-status",
            ),
            timeout=10,
        )
        engine = create_engine(settings)
        try:
            return await collect(bus, engine)
        finally:
            await bus.close()
            await engine.dispose()

    try:
        status = asyncio.run(look())
    except (LookupError, OSError, TimeoutError) as error:
        print(f"oncallnova status: cannot reach the mesh: {error}", file=sys.stderr)
        return 2
    print(json.dumps(status) if args.json else render(status))
    return 1 if status["attention"] else 0
