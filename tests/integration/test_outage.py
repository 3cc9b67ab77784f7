"""An outage never loses an accepted alert: the lifecycle worker retries past its attempt limit
while the database is unreachable, and the alert becomes an incident once it is back."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import UTC, datetime

from oncallnova.bus.runtime import WorkerRunner
from oncallnova.db.engine import create_engine, create_sessions
from schemas.alert_v1 import CanonicalAlertV1
from schemas.envelope import Envelope
from schemas.incident_v1 import IncidentCommandV1
from schemas.subjects import INCIDENT_COMMAND
from tests.helpers import (
    Mesh,
    eventually,
    free_port,
)
from workers.lifecycle import LifecycleWorker


async def test_database_outage_delays_but_never_dead_letters(idle_mesh: Mesh) -> None:
    service = await idle_mesh.create_service()
    bus = idle_mesh.ctx.bus
    alert = CanonicalAlertV1.model_validate(
        {
            "alert_id": "outage-1",
            "service_id": service["id"],
            "action": "trigger",
            "fingerprint": "fp:1:" + "cd" * 32,
            "dedup_key": "outage",
            "summary": "written during an outage",
            "occurred_at": datetime.now(UTC),
            "source_format": "generic",
        }
    )
    command = IncidentCommandV1(
        action="trigger", incident_id="00000000-0000-4000-8000-0000000000aa",
        service_id=service["id"], dedup_key="outage", alert=alert,
    )  # fmt: skip
    await bus.js.publish(
        INCIDENT_COMMAND.subject(command.incident_id, ns=bus.ns),
        command.model_dump_json(by_alias=True).encode(),
        headers=Envelope(type=INCIDENT_COMMAND.type(), producer="test").to_headers(),
    )

    # The same worker, but its database is a closed port.
    down = idle_mesh.ctx.settings.model_copy(
        update={"database_url": f"postgresql+asyncpg://postgres@127.0.0.1:{free_port()}/test"}
    )
    engine = create_engine(down)
    broken = dataclasses.replace(
        idle_mesh.ctx, settings=down, engine=engine, sessions=create_sessions(engine)
    )
    runner = WorkerRunner(bus, LifecycleWorker(broken), broken.sessions, backoff=lambda _: 0.05)
    task = asyncio.create_task(runner.run())
    attempts = runner.decl.max_attempts
    await eventually(lambda: _at_least(runner.stats.retried, attempts + 2), timeout=30)
    runner.stop()
    await task
    await engine.dispose()
    assert runner.stats.dead_lettered == 0
    assert runner.stats.handled == 0

    # The database is back: the same message, delivered again, becomes the incident.
    healthy = WorkerRunner(bus, LifecycleWorker(idle_mesh.ctx), idle_mesh.ctx.sessions)
    task = asyncio.create_task(healthy.run())
    try:
        [incident] = await eventually(lambda: idle_mesh.incidents(service["id"]))
        assert incident["title"] == "written during an outage"
    finally:
        healthy.stop()
        await task


async def _at_least(value: int, n: int) -> bool:
    return value >= n
