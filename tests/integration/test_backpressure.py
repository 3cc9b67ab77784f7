"""Backpressure instead of loss: with the workers stopped and tiny backlog limits, ingestion
fills the ALERTS backlog, then every door refuses (REST 429 backlog_full + Retry-After on each
ingest route, gRPC RESOURCE_EXHAUSTED, a failed PubAck for a NATS producer) and stores nothing;
`/healthz` says overloaded and `/metrics` counts the refusals. Once the workers start, every
accepted alert becomes an incident, the backlog empties, new alerts are accepted again, and the
archive still holds every raw alert for replay.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator

import grpc
import pytest
from nats.js.api import ConsumerConfig, DiscardPolicy, RetentionPolicy, StreamConfig
from nats.js.errors import APIError

import nats
from app.replay import Range, dry_run
from oncallnova.bus.connection import JS_STORE_FAILED, Outgoing, is_backlog_full
from oncallnova.context import AppContext
from oncallnova.replay import NEW, Decision
from proto import ingestion_pb2, ingestion_pb2_grpc
from schemas.envelope import Envelope
from schemas.subjects import ALERT_RECEIVED
from tests.helpers import (
    ALL_WORKERS,
    Mesh,
    bearer_channel,
    drop_namespace,
    eventually,
    new_namespace,
    pd_event,
    services_settings,
    start_mesh,
    stop_mesh,
)
from tests.integration.test_edge_limits import alertmanager, grafana

LIMIT = 50


@pytest.fixture
async def stalled() -> AsyncIterator[Mesh]:
    """Edges only (no worker pulls) on a namespace whose backlogs hold LIMIT messages."""
    ns = new_namespace()
    settings = services_settings(
        ns, alert_backlog_max_msgs=LIMIT, command_backlog_max_msgs=LIMIT, events_rate_limit=0
    )
    mesh = await start_mesh(settings, workers=[])
    try:
        yield mesh
    finally:
        await stop_mesh(mesh)
        await drop_namespace(ns)


def _refused(response: object, route: str) -> None:
    status = getattr(response, "status_code", None)
    assert status == 429, (route, status, getattr(response, "text", ""))
    assert response.headers["retry-after"] == "2", route  # type: ignore[attr-defined]
    error = response.json()["error"]  # type: ignore[attr-defined]
    assert error["code"] == "backlog_full", (route, error)
    assert "nothing was stored" in error["message"]


async def _stored(mesh: Mesh, stream: str) -> int:
    info = await mesh.ctx.bus.js.stream_info(mesh.ctx.bus.stream(stream))
    return int(info.state.messages)


async def test_a_full_backlog_refuses_at_every_door_and_loses_nothing(stalled: Mesh) -> None:
    mesh, api = stalled, stalled.api
    service = await mesh.create_service()
    key = service["key"]

    accepted = []
    for i in range(LIMIT):
        response = await api.post(
            "/v2/enqueue", json=pd_event(key, dedup_key=f"bp-{i}", summary=f"bp-{i}")
        )
        assert response.status_code == 202, response.text
        accepted.append(f"bp-{i}")
    assert await _stored(mesh, "ALERTS") == LIMIT

    # Every ingest route, past the limit.
    _refused(await api.post("/v2/enqueue", json=pd_event(key, dedup_key="over")), "enqueue")
    _refused(
        await api.post(
            "/v2/change/enqueue",
            json={"routing_key": key, "payload": {"summary": "deploy", "source": "ci"}},
        ),
        "change",
    )
    _refused(
        await api.post(
            f"/api/v1/integrations/alertmanager/{key}", json=alertmanager("2026-11-29T10:00:00Z")
        ),
        "alertmanager",
    )
    _refused(
        await api.post(f"/api/v1/integrations/grafana/{key}", json=grafana({"A": 1.0})), "grafana"
    )
    _refused(
        await api.post(
            "/api/v1/alerts",
            json={"summary": "over", "severity": "error", "dedup_key": "over-generic"},
            headers={"Authorization": f"Bearer {key}"},
        ),
        "generic",
    )

    # gRPC: RESOURCE_EXHAUSTED.
    assert mesh.platform.grpc_port
    channel = bearer_channel(f"127.0.0.1:{mesh.platform.grpc_port}", mesh.admin_token)
    try:
        stub = ingestion_pb2_grpc.AlertIngestionStub(channel)
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await stub.SendEvent(
                ingestion_pb2.Event(
                    routing_key=key,
                    event_action="trigger",
                    dedup_key="over-grpc",
                    summary="over",
                    source="grpc",
                    severity="error",
                )
            )
        assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    finally:
        await channel.close()

    # A producer straight to NATS: JetStream itself refuses the PubAck.
    nc = await nats.connect(mesh.ctx.settings.nats_url)
    try:
        with pytest.raises(APIError) as failed:
            await nc.jetstream().publish(
                mesh.ctx.bus.full(ALERT_RECEIVED.subject("pagerduty")),
                json.dumps(pd_event(key, dedup_key="over-nats")).encode(),
            )
        assert failed.value.err_code == JS_STORE_FAILED and is_backlog_full(failed.value)
    finally:
        await nc.close()
    assert await _stored(mesh, "ALERTS") == LIMIT  # none of the refused was stored

    health = await api.get("/healthz")
    assert health.status_code == 200, health.text  # not a fault: refusing is working
    assert health.json()["status"] == "overloaded"
    assert "ALERTS" in health.json()["overloaded"]
    assert health.json()["backlogs"]["ALERTS"] == 1.0

    # Five REST routes and one gRPC call went through the edge (the NATS producer did not).
    scrape = (await api.get("/metrics")).text
    assert 'oncallnova_ingestion_refused_total{reason="backlog_full"} 6.0' in scrape, [
        line for line in scrape.splitlines() if "refused" in line
    ]
    assert 'oncallnova_stream_fill_ratio{stream="ALERTS"} 1.0' in scrape

    # The workers start: everything accepted becomes an incident, the backlog empties.
    workers = await start_mesh(
        mesh.ctx.settings.model_copy(update={"grpc_port": 0}), ALL_WORKERS, []
    )
    try:

        async def all_incidents() -> bool:
            return len(await mesh.incidents(service["id"])) == LIMIT

        await eventually(all_incidents, timeout=60)
        titles = sorted(i["title"] for i in await mesh.incidents(service["id"]))
        assert titles == sorted(accepted)
        await eventually(lambda: _is_zero(mesh, "ALERTS"), timeout=15)

        # Accepting again, and that one is handled too.
        response = await api.post(
            "/v2/enqueue", json=pd_event(key, dedup_key="after", summary="after")
        )
        assert response.status_code == 202, response.text

        async def one_more() -> bool:
            return len(await mesh.incidents(service["id"])) == LIMIT + 1

        await eventually(one_more, timeout=30)
        assert (await api.get("/healthz")).json()["status"] == "ok"
    finally:
        await stop_mesh(workers)

    # The archive kept every raw alert: the replay reads them back, each one a new incident.
    assert await _stored(mesh, "ALERTS_ARCHIVE") == LIMIT + 1
    decisions: list[Decision] = []
    await dry_run(
        mesh.ctx.settings, "alert.received.v1.>", Range(from_seq=1), None, decisions.append
    )
    assert [d.decision for d in decisions] == [NEW] * (LIMIT + 1)
    assert sorted(d.dedup_key or "" for d in decisions) == sorted([*accepted, "after"])


async def _is_zero(mesh: Mesh, stream: str) -> bool:
    return await _stored(mesh, stream) == 0


async def test_a_worker_publish_into_a_full_stream_fails_at_once_as_backlog_full(
    ctx: AppContext,
) -> None:
    """The runtime gives a batch back when its output stream is full; for that it must hear
    the refusal itself, promptly, not a timeout."""
    bus = ctx.bus
    name = bus.stream("BPTEST")
    await bus.js.add_stream(
        StreamConfig(
            name=name,
            subjects=[bus.full("bptest.>")],
            retention=RetentionPolicy.INTEREST,
            discard=DiscardPolicy.NEW,
            max_msgs=2,
        )
    )
    try:
        await bus.js.add_consumer(name, ConsumerConfig(durable_name="reader"))
        batch = [
            Outgoing(f"bptest.{i}", b"{}", Envelope(id=f"bp-{i}", type="bptest", producer="t"))
            for i in range(3)
        ]
        started = time.monotonic()
        with pytest.raises(APIError) as refused:
            await bus.publish_all(batch, timeout_s=10)
        assert is_backlog_full(refused.value)
        assert time.monotonic() - started < 2.0
        assert (await bus.js.stream_info(name)).state.messages == 2
    finally:
        await bus.js.delete_stream(name)
