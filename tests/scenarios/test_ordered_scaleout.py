"""Three lifecycle processes keep every incident's commands in order, and one stopped with
SIGTERM half way hands its partitions over without a wait.

Tried as an operator would: `oncallnova worker lifecycle` three times (each told which
partitions to take first), the fingerprinter and correlator in the test's own process, and
1,000 dedup keys each sent trigger → acknowledge → resolve back to back to
`alert.received.v1.pagerduty` with a real service's routing key.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from sqlalchemy import func, select

from oncallnova.bus import declarations
from oncallnova.db.models.incidents import Incident, TimelineEntry
from schemas.subjects import ALERT_RECEIVED
from tests.broker import nats_url
from tests.helpers import PG_URL, REDIS_URL, Mesh, dumps, eventually, namespaced_mesh, pd_event

KEYS = 1000
COPIES = ["0-2", "3-5", "6-7"]  # --partitions of each copy; the first is stopped half way


def worker_env(ns: str) -> dict[str, str]:
    return {
        **os.environ,
        "DATABASE_URL": PG_URL,
        "DATABASE_SCHEMA": ns,
        "REDIS_URL": REDIS_URL,
        "NATS_URL": nats_url(),
        "NATS_NAMESPACE": ns,
        "LOG_FORMAT": "text",
    }


async def pulling_copies(mesh: Mesh) -> int:
    """How many copies ask every partition for work (the fewest pull requests waiting on
    one of the lifecycle's partition consumers)."""
    bus = mesh.ctx.bus
    decl = declarations.consumer("lifecycle")
    waiting = []
    for durable in decl.durables():
        info = await bus.js.consumer_info(bus.stream(decl.stream), durable)
        waiting.append(info.num_waiting or 0)
    return min(waiting)


async def test_three_lifecycle_copies_keep_order_through_a_sigterm(tmp_path: Path) -> None:
    async with namespaced_mesh(workers=["fingerprinter", "correlator"], edges=[]) as mesh:
        service = await mesh.create_service()
        logs = [tmp_path / f"lifecycle-{i}.log" for i in range(len(COPIES))]
        copies = [
            subprocess.Popen(
                [sys.executable, "-m", "app.cli", "worker", "lifecycle", "--partitions", parts],
                env=worker_env(mesh.ctx.settings.nats_namespace),
                stdout=log.open("wb"),
                stderr=subprocess.STDOUT,
            )
            for parts, log in zip(COPIES, logs, strict=True)
        ]
        try:
            await eventually(lambda: _all_pulling(mesh), timeout=180, interval=0.2)

            js = mesh.ctx.bus.js
            subject = ALERT_RECEIVED.subject("pagerduty", ns=mesh.ctx.bus.ns)
            pending = []
            for n in range(KEYS):
                if n == KEYS // 2:
                    await asyncio.gather(*pending)
                    copies[0].send_signal(signal.SIGTERM)
                for action in ("trigger", "acknowledge", "resolve"):
                    body = pd_event(service["key"], action, dedup_key=f"order-{n}")
                    headers = {"Nats-Msg-Id": f"order-{n}-{action}"}
                    pending.append(await js.publish_async(subject, dumps(body), headers=headers))
            await asyncio.gather(*pending)
            last_publish = time.monotonic()

            await eventually(lambda: _resolved(mesh, service["id"], KEYS), timeout=120)
            drained = time.monotonic() - last_publish
            assert copies[0].wait(timeout=60) == 0, logs[0].read_text()[-2000:]
            # ≈ 5 s on a quiet machine, 25 s seen at load average 20; the bound only catches a
            # backlog left for redelivery timeouts (the hand-over itself is timed in
            # tests/integration/test_clean_stop.py).
            assert drained < 60, f"the backlog took {drained:.1f} s after the last publish"

            async with mesh.ctx.sessions() as session:
                incidents = (
                    await session.scalars(
                        select(Incident).where(Incident.service_id == service["id"])
                    )
                ).all()
                kinds: dict[str, list[str]] = {}
                rows = await session.execute(
                    select(TimelineEntry.incident_id, TimelineEntry.kind)
                    .join(Incident, Incident.id == TimelineEntry.incident_id)
                    .where(Incident.service_id == service["id"])
                    .order_by(TimelineEntry.id)
                )
                for incident_id, kind in rows:
                    kinds.setdefault(incident_id, []).append(kind)
            assert len(incidents) == KEYS
            assert {i.status for i in incidents} == {"resolved"}
            out_of_order = [
                (i.dedup_key, kinds.get(i.id))
                for i in incidents
                if kinds.get(i.id) != ["triggered", "acknowledged", "resolved"]
                or i.acknowledged_at is None
            ]
            assert not out_of_order, f"{len(out_of_order)} out of order: {out_of_order[:5]}"
        finally:
            for copy in copies:
                if copy.poll() is None:
                    copy.send_signal(signal.SIGTERM)
            for copy in copies:
                try:
                    copy.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    copy.kill()


async def _all_pulling(mesh: Mesh) -> bool:
    return await pulling_copies(mesh) >= len(COPIES)


async def _resolved(mesh: Mesh, service_id: str, n: int) -> bool:
    async with mesh.ctx.sessions() as session:
        count = await session.scalar(
            select(func.count())
            .select_from(Incident)
            .where(Incident.service_id == service_id, Incident.status == "resolved")
        )
    return int(count or 0) >= n
