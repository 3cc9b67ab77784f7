"""Every worker, handed the same message twice (a real JetStream redelivery), has one effect.

Workers are not running here: the test fetches from each durable consumer itself, applies the
handler, naks (as a crash before the ack would), and lets the runtime process the redelivery.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

from sqlalchemy import func, select

from app.workers import WORKERS
from oncallnova.bus.runtime import WorkerRunner
from oncallnova.db.models.incidents import Alert, Incident, TimelineEntry
from schemas.alert_v1 import CanonicalAlertV1
from schemas.envelope import Envelope
from schemas.incident_v1 import IncidentCommandV1
from schemas.subjects import ALERT_FINGERPRINTED, ALERT_RECEIVED, INCIDENT_COMMAND
from tests.helpers import (
    Mesh,
)


async def runner_for(mesh: Mesh, name: str) -> WorkerRunner:
    worker = await WORKERS[name](mesh.ctx)
    await worker.start()
    return WorkerRunner(mesh.ctx.bus, worker, mesh.ctx.sessions, batch_size=10)


async def deliver_twice(mesh: Mesh, runner: WorkerRunner) -> int:
    """Handle once without acking, nak, then let the runtime handle the redelivery."""
    puller = runner.new_puller()
    await puller.start()
    try:
        [msg] = await puller.next_batch(5)
        delivery = runner._decode(msg)
        await runner.run_unit([delivery])
        await msg.nak()  # the process "crashed" after its effect, before its ack
        [again] = await puller.next_batch(5)
        assert again.metadata.num_delivered == 2
        await runner.process([again])
    finally:
        await puller.give_back()
        await puller.hand_over()  # the partition, for the next puller
        await puller.stop()
    return runner.stats.handled


async def messages_on(mesh: Mesh, stream: str, subject: str) -> int:
    info = await mesh.ctx.bus.js.stream_info(mesh.ctx.bus.stream(stream), subjects_filter=subject)
    return sum((info.state.subjects or {}).values())


def canonical(service_id: str, alert_id: str) -> CanonicalAlertV1:
    return CanonicalAlertV1.model_validate(
        {
            "alert_id": alert_id,
            "service_id": service_id,
            "action": "trigger",
            "fingerprint": "fp:1:" + "ab" * 32,
            "dedup_key": "redelivered",
            "summary": "queue depth high",
            "severity": "warning",
            "occurred_at": datetime.now(UTC),
            "source_format": "pagerduty",
        }
    )


async def test_fingerprinter_redelivery_publishes_once(idle_mesh: Mesh) -> None:
    service = await idle_mesh.create_service()
    bus = idle_mesh.ctx.bus
    body = {
        "routing_key": service["key"],
        "event_action": "trigger",
        "dedup_key": "fp-redelivery",
        "payload": {"summary": "s", "source": "h", "severity": "info"},
    }
    await bus.js.publish(
        ALERT_RECEIVED.subject("pagerduty", ns=bus.ns),
        json.dumps(body).encode(),
        headers={"Nats-Msg-Id": "producer-msg-1"},
    )
    runner = await runner_for(idle_mesh, "fingerprinter")
    assert await deliver_twice(idle_mesh, runner) == 1
    out = ALERT_FINGERPRINTED.subject(service["id"], ns=bus.ns)
    assert await messages_on(idle_mesh, "ALERTS_FINGERPRINTED", f"{out}.*") == 1  # with partition


async def test_correlator_redelivery_sends_one_command(idle_mesh: Mesh) -> None:
    service = await idle_mesh.create_service()
    bus = idle_mesh.ctx.bus
    alert = canonical(service["id"], "corr-redelivery-1")
    await bus.js.publish(
        ALERT_FINGERPRINTED.subject(service["id"], ns=bus.ns),
        alert.model_dump_json(by_alias=True).encode(),
        headers=Envelope(type="alert.fingerprinted.v1", producer="test").to_headers(),
    )
    runner = await runner_for(idle_mesh, "correlator")
    assert await deliver_twice(idle_mesh, runner) == 1
    commands = await messages_on(
        idle_mesh, "INCIDENT_COMMANDS", INCIDENT_COMMAND.stored_wildcard(bus.ns)
    )
    assert commands == 1
    await runner.worker.stop()


async def test_lifecycle_redelivery_changes_the_incident_once(idle_mesh: Mesh) -> None:
    service = await idle_mesh.create_service()
    bus = idle_mesh.ctx.bus
    alert = canonical(service["id"], "life-redelivery-1")
    command = IncidentCommandV1(
        action="trigger", incident_id="00000000-0000-4000-8000-00000000abcd",
        service_id=service["id"], dedup_key=alert.dedup_key, alert=alert,
    )  # fmt: skip
    subject = INCIDENT_COMMAND.subject(command.incident_id, ns=bus.ns)
    body = command.model_dump_json(by_alias=True).encode()

    def headers(msg_id: str) -> dict[str, str]:
        return Envelope(id=msg_id, type="incident.command.v1", producer="test").to_headers()

    await bus.js.publish(subject, body, headers=headers("first-copy"))
    runner = await runner_for(idle_mesh, "lifecycle")
    assert await deliver_twice(idle_mesh, runner) == 1
    # A second copy under another id: past JetStream's duplicate window, as a producer retrying
    # late would send it. Only the lifecycle worker's own keys stop it.
    await bus.js.publish(subject, body, headers=headers("second-copy"))
    puller = runner.new_puller()
    await puller.start()
    try:
        await runner.process(await puller.next_batch(5))
    finally:
        await puller.give_back()
        await puller.hand_over()  # the partition, for the next puller
        await puller.stop()
    assert runner.stats.handled == 2

    async with idle_mesh.ctx.sessions() as session:
        incidents = (
            await session.scalars(select(Incident).where(Incident.service_id == service["id"]))
        ).all()
        alerts = await session.scalar(
            select(func.count()).select_from(Alert).where(Alert.service_id == service["id"])
        )
        entries = await session.scalar(
            select(func.count())
            .select_from(TimelineEntry)
            .where(TimelineEntry.incident_id == incidents[0].id)
        )
    assert len(incidents) == 1
    assert incidents[0].alert_count == 1
    assert alerts == 1
    assert entries == 1
    events = await messages_on(idle_mesh, "INCIDENT_EVENTS", f"{bus.ns}.incident.*.v1.*")
    assert events == 1


async def test_a_persons_command_redelivered_applies_once(idle_mesh: Mesh) -> None:
    """Escalate is not idempotent by nature (each one raises the level): a redelivery after
    the commit must still raise it once, with one timeline entry and one event."""
    service = await idle_mesh.create_service()
    bus = idle_mesh.ctx.bus
    alert = canonical(service["id"], "human-redelivery-1")
    incident_id = "00000000-0000-4000-8000-00000000beef"
    trigger = IncidentCommandV1(
        action="trigger", incident_id=incident_id, service_id=service["id"],
        dedup_key=alert.dedup_key, alert=alert,
    )  # fmt: skip
    subject = INCIDENT_COMMAND.subject(incident_id, ns=bus.ns)
    runner = await runner_for(idle_mesh, "lifecycle")
    await bus.js.publish(
        subject,
        trigger.model_dump_json(by_alias=True).encode(),
        headers=Envelope(type="incident.command.v1", producer="test").to_headers(),
    )
    # The command's partition consumer, through the runtime's own puller.
    puller = runner.new_puller()
    await puller.start()
    try:
        await runner.process(await puller.next_batch(5))
    finally:
        await puller.give_back()
        await puller.hand_over()  # the partition, for the next puller
        await puller.stop()

    escalate = IncidentCommandV1(action="escalate", incident_id=incident_id, actor="user:u1")
    await bus.js.publish(
        subject,
        escalate.model_dump_json().encode(),
        headers=Envelope(type="incident.command.v1", producer="test").to_headers(),
    )
    assert await deliver_twice(idle_mesh, runner) == 2  # the trigger, then the escalate once

    async with idle_mesh.ctx.sessions() as session:
        incident = await session.get(Incident, incident_id)
        kinds = (
            await session.scalars(
                select(TimelineEntry.kind).where(TimelineEntry.incident_id == incident_id)
            )
        ).all()
    assert incident is not None
    assert (incident.escalation_level, incident.status) == (1, "triggered")
    assert sorted(kinds) == ["escalated", "triggered"]
    escalated = await messages_on(
        idle_mesh, "INCIDENT_EVENTS", f"{bus.ns}.incident.escalated.v1.{incident_id}"
    )
    assert escalated == 1
