"""Replay: a dry run of 1,000 recorded alerts gives the incidents the live run gave and changes
nothing live; `--into` re-drives them into a namespace of its own under another setting."""

from __future__ import annotations

import asyncio
import json
import os
import random
from collections import defaultdict
from typing import Any

from redis.asyncio import Redis
from sqlalchemy import func, select, text

from app.replay import Range, dry_run, into_namespace
from oncallnova.bus.provision import is_source_consumer
from oncallnova.db.models.incidents import Alert
from oncallnova.incidents.rules import candidate_incident_id
from oncallnova.replay import DROPPED, JOINS, NEW, RESOLVES, Decision
from schemas.envelope import MSG_ID
from schemas.subjects import ALERT_RECEIVED
from tests.helpers import (
    REDIS_URL,
    Mesh,
    drop_namespace,
    eventually,
    namespaced_mesh,
    new_namespace,
    run_cli,
)

RAW = ALERT_RECEIVED.wildcard().rsplit(".", 1)[0] + ".>"


def recorded_alerts(keys: list[str], count: int = 1000) -> list[tuple[int, dict[str, Any]]]:
    """A fixed mix: triggers on 40 dedup keys per service, resolves, re-triggers after a
    resolve, acknowledges, acknowledges of nothing open, and a few bodies that can never work.
    Each key starts with a trigger."""
    rng = random.Random(13)
    events: list[tuple[int, dict[str, Any]]] = []
    seen: set[tuple[str, str]] = set()
    for i in range(count):
        key = keys[i % len(keys)]
        dedup = f"k{rng.randrange(40)}"
        roll = rng.random()
        if i % 97 == 5:
            events.append((i, {"routing_key": key, "event_action": "trigger"}))  # no payload
            continue
        if roll < 0.70 or (key, dedup) not in seen:
            seen.add((key, dedup))
            body: dict[str, Any] = {
                "routing_key": key,
                "event_action": "trigger",
                "dedup_key": dedup,
                "payload": {"summary": f"{dedup} high", "source": "db1", "severity": "error"},
            }
        elif roll < 0.85:
            body = {"routing_key": key, "event_action": "resolve", "dedup_key": dedup}
        else:
            body = {"routing_key": key, "event_action": "acknowledge", "dedup_key": dedup}
        events.append((i, body))
    return events


async def publish_recorded(mesh: Mesh, keys: list[str]) -> int:
    """Publish the recorded set straight to NATS; returns how many are valid alerts."""
    bus = mesh.ctx.bus
    events = recorded_alerts(keys)
    for start in range(0, len(events), 100):
        futures = [
            await bus.js.publish_async(
                bus.full(ALERT_RECEIVED.subject("pagerduty")),
                json.dumps(body).encode(),
                headers={MSG_ID: f"rec-{i}"},
            )
            for i, body in events[start : start + 100]
        ]
        await asyncio.gather(*futures)
    return sum(1 for _, body in events if "dedup_key" in body)


async def live_alerts(mesh: Mesh) -> dict[str, str | None]:
    async with mesh.ctx.sessions() as session:
        rows = await session.execute(select(Alert.id, Alert.incident_id))
        return {row.id: row.incident_id for row in rows}


async def live_snapshot(mesh: Mesh) -> tuple[Any, ...]:
    """Everything a replay must not touch: incidents, alerts, timeline, windows, consumers."""
    ns = mesh.ctx.settings.nats_namespace
    async with mesh.ctx.sessions() as session:
        incidents = sorted(
            tuple(r) for r in await session.execute(text(f'SELECT * FROM "{ns}".incidents'))
        )
        timeline = await session.scalar(text(f'SELECT count(*) FROM "{ns}".incident_timeline'))
        alerts = await session.scalar(select(func.count()).select_from(Alert))
    redis = Redis.from_url(REDIS_URL)
    windows = sorted([(k, await redis.get(k)) async for k in redis.scan_iter(f"{ns}:window:*")])
    await redis.aclose()
    consumers = sorted(
        (c.name, c.delivered.stream_seq, c.ack_floor.stream_seq, c.num_pending)
        for c in await mesh.ctx.bus.js.consumers_info(mesh.ctx.bus.stream("ALERTS"))
        # the replay's own ordered consumers are ephemeral; the archive's copier moves on
        if c.config.durable_name and not is_source_consumer(c.config.metadata)
    )
    return incidents, timeline, alerts, windows, consumers


def grouping(pairs: list[tuple[str, str | None]]) -> set[frozenset[str]]:
    """Alerts grouped by the incident they went to, whatever the incidents are called."""
    groups: dict[str, set[str]] = defaultdict(set)
    for alert_id, incident in pairs:
        if incident is not None:
            groups[incident].add(alert_id)
    return {frozenset(g) for g in groups.values()}


async def test_dry_run_gives_the_live_incidents_and_changes_nothing() -> None:
    async with namespaced_mesh(edges=["incidents"]) as mesh:
        services = [await mesh.create_service() for _ in range(2)]
        valid = await publish_recorded(mesh, [s["key"] for s in services])

        async def all_stored() -> bool:
            return len(await live_alerts(mesh)) == valid

        await eventually(all_stored, timeout=60)
        live = await live_alerts(mesh)
        before = await live_snapshot(mesh)

        decisions: list[Decision] = []
        shown = await dry_run(mesh.ctx.settings, RAW, Range(from_seq=1), None, decisions.append)
        assert shown == len(decisions) == 1000
        replayed = {d.alert_id: d.incident_id for d in decisions if d.alert_id}
        assert replayed == live, "the dry run must put every alert where the live run did"
        assert grouping(list(replayed.items())) == grouping(list(live.items()))

        kinds = {d.decision for d in decisions}
        assert {NEW, JOINS, RESOLVES, DROPPED} <= kinds
        invalid = [d for d in decisions if d.alert_id is None]
        assert len(invalid) == 1000 - valid and all("invalid body" in d.reason for d in invalid)
        nothing_open = [d for d in decisions if d.reason and "nothing open" in d.reason]
        assert nothing_open, "acknowledge/resolve with nothing open on their key are dropped"
        assert all(d.incident_number for d in decisions if d.decision in (NEW, JOINS))
        reopened = [d for d in decisions if d.decision == NEW and d.reason]
        assert reopened, "a trigger after a resolve inside the window opens a new incident"

        # The command itself, as a user runs it: one JSON object per line, one service only.
        env = {**os.environ, **_env(mesh)}
        code, out, err = await run_cli(
            ["replay", "--subject", RAW, "--from-seq", "1", "--service", services[0]["name"],
             "--dry-run", "--json"],
            env,
        )  # fmt: skip
        assert code == 0, err
        lines = [json.loads(line) for line in out.splitlines()]
        assert lines and {line["service"] for line in lines} == {services[0]["name"]}
        assert {line["alert_id"]: line["incident_id"] for line in lines} == {
            a: i for a, i in live.items() if a in {line["alert_id"] for line in lines}
        }

        assert await live_snapshot(mesh) == before, "a dry run changed live state"


async def test_into_a_namespace_with_a_shorter_window() -> None:
    async with namespaced_mesh(edges=["incidents"]) as mesh:
        service = await mesh.create_service()
        bus = mesh.ctx.bus
        # db1 fires and resolves; 2.5 s later it fires twice more. Live (5-minute window) the
        # window still names the resolved incident, so the new one takes a derived id; with a
        # 1 s window, re-driven at the original pace, the window has closed and the trigger
        # opens one under its own candidate id. The grouping itself follows the dedup key.
        steps = [("trigger", 0.0), ("resolve", 0.0), ("trigger", 2.5), ("trigger", 0.0)]
        for n, (action, pause) in enumerate(steps):
            await asyncio.sleep(pause)
            body: dict[str, Any] = {
                "routing_key": service["key"],
                "event_action": action,
                "dedup_key": "db1",
            }
            if action == "trigger":
                body["payload"] = {"summary": "db1 down", "source": "db1", "severity": "critical"}
            await bus.js.publish(
                bus.full(ALERT_RECEIVED.subject("pagerduty")),
                json.dumps(body).encode(),
                headers={MSG_ID: f"db1-{n}"},
            )
        await eventually(lambda: _count(mesh, len(steps)), timeout=30)
        live = await live_alerts(mesh)
        before = await live_snapshot(mesh)
        second = "db1-2"
        assert live[second] != candidate_incident_id(second), "live: the window was open"

        other = new_namespace()
        rows: list[dict[str, Any]] = []
        try:
            shorter = mesh.ctx.settings.model_copy(update={"correlation_window": 1.0})
            count = await into_namespace(
                shorter, other, RAW, Range(from_seq=1), None, rows.append, 60, pace=True
            )
        finally:
            await drop_namespace(other)
        assert count == len(steps)
        into = {r["alert_id"]: r["incident_id"] for r in rows}
        assert into[second] == candidate_incident_id(second), "the 1 s window had closed"
        assert into["db1-3"] == into[second] and into["db1-0"] == live["db1-0"]
        assert grouping(list(into.items())) == grouping(list(live.items()))
        assert [r["incident_number"] for r in rows if r["action"] == "trigger"] == [1, 2, 2]
        assert await live_snapshot(mesh) == before, "--into changed the live namespace"


async def _count(mesh: Mesh, n: int) -> bool:
    return len(await live_alerts(mesh)) == n


def _env(mesh: Mesh) -> dict[str, str]:
    s = mesh.ctx.settings
    return {
        "DATABASE_URL": s.database_url or "",
        "DATABASE_SCHEMA": s.database_schema or "",
        "REDIS_URL": s.redis_url or "",
        "NATS_URL": s.nats_url or "",
        "NATS_NAMESPACE": s.nats_namespace,
        "LOG_LEVEL": "WARNING",
    }
