"""Real clients against the real platform: pdpyras, a real Prometheus Alertmanager, gRPC stubs
and a NATS producer. Each must work with no change but the URL (REFERENCE.md)."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import shutil
import signal
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import grpc
import httpx
import pdpyras
import pytest
import yaml

from oncallnova.alerts.fingerprint import alertmanager_dedup_key, prometheus_labels_fingerprint
from proto import incidents_pb2, incidents_pb2_grpc, ingestion_pb2, ingestion_pb2_grpc
from schemas.subjects import ALERT_RECEIVED
from tests.helpers import Mesh, dumps, eventually, free_port

ALERTMANAGER = shutil.which("prometheus-alertmanager") or shutil.which(
    "/usr/bin/prometheus-alertmanager"
)
WIRE = Path(__file__).resolve().parents[1] / "fixtures" / "wire"


def wire(name: str) -> dict[str, Any]:
    """A sample body from tests/fixtures/wire, as a real sender posts it."""
    return json.loads((WIRE / name).read_text())


async def only_incident(mesh: Mesh, service_id: str, status: str | None = None) -> dict | None:
    """The service's one incident (optionally once it has `status`); fails on a second one."""
    rows = await mesh.incidents(service_id)
    assert len(rows) <= 1, rows
    if rows and (status is None or rows[0]["status"] == status):
        return rows[0]
    return None


async def timeline_kinds(mesh: Mesh, incident_id: str) -> list[str]:
    response = await mesh.api.get(f"/api/v1/incidents/{incident_id}/timeline")
    assert response.status_code == 200, response.text
    return [entry["kind"] for entry in response.json()["timeline"]]


# --- pdpyras -------------------------------------------------------------------------------


def events_session(base: str, routing_key: str) -> pdpyras.EventsAPISession:
    session = pdpyras.EventsAPISession(routing_key)
    # pdpyras posts to `url + "/v2/enqueue"`: the base URL is all a user changes.
    session.url = base
    session.trust_env = False
    return session


async def test_pdpyras_trigger_acknowledge_resolve(
    mesh: Mesh, service: dict, http_base: str
) -> None:
    session = events_session(http_base, service["key"])
    dedup_key = await asyncio.to_thread(
        session.trigger,
        "Disk 95% full on db-01",
        "db-01",
        severity="warning",
        custom_details={"mount": "/var", "used_pct": 95},
        links=[{"href": "https://runbooks.example.com/disk", "text": "Runbook"}],
    )
    assert len(dedup_key) == 32  # generated and returned, as PagerDuty does
    incident = await eventually(lambda: only_incident(mesh, service["id"]))
    assert incident["title"] == "Disk 95% full on db-01"
    assert incident["severity"] == "warning"
    assert incident["dedup_key"] == dedup_key

    assert await asyncio.to_thread(session.acknowledge, dedup_key) == dedup_key
    acknowledged = await eventually(lambda: only_incident(mesh, service["id"], "acknowledged"))
    assert acknowledged["id"] == incident["id"]

    assert await asyncio.to_thread(session.resolve, dedup_key) == dedup_key
    resolved = await eventually(lambda: only_incident(mesh, service["id"], "resolved"))
    assert resolved["id"] == incident["id"]
    assert await timeline_kinds(mesh, incident["id"]) == ["triggered", "acknowledged", "resolved"]


async def test_pdpyras_reports_our_400_for_an_unknown_routing_key(
    mesh: Mesh, service: dict, http_base: str
) -> None:
    session = events_session(http_base, "0" * 32)
    with pytest.raises(pdpyras.PDClientError) as raised:
        await asyncio.to_thread(session.trigger, "CPU high", "web-1", dedup_key="cpu")
    response = raised.value.response
    assert response is not None and response.status_code == 400
    body = response.json()
    assert body["status"] == "invalid event"
    assert body["message"] == "Event object is invalid"
    assert any(error.startswith("routing_key:") for error in body["errors"]), body


# --- a real Prometheus Alertmanager --------------------------------------------------------


def rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class Alertmanager:
    """One Alertmanager process with one receiver; alerts are posted to its API v2."""

    def __init__(self, url: str, client: httpx.AsyncClient) -> None:
        self.url = url
        self.client = client

    async def post_alerts(self, alerts: list[dict[str, Any]]) -> None:
        response = await self.client.post(f"{self.url}/api/v2/alerts", json=alerts)
        assert response.status_code == 200, response.text


@contextlib.asynccontextmanager
async def alertmanager(workdir: Path, receiver: dict[str, Any]) -> AsyncIterator[Alertmanager]:
    if ALERTMANAGER is None:
        pytest.skip(
            "prometheus-alertmanager is not installed (.ci/run installs prometheus-alertmanager)"
        )
    config = {
        "route": {
            "receiver": "oncallnova",
            "group_by": ["alertname"],
            "group_wait": "1s",
            "group_interval": "1s",
            "repeat_interval": "1h",
        },
        "receivers": [{"name": "oncallnova", **receiver}],
    }
    config_file = workdir / "alertmanager.yml"
    config_file.write_text(yaml.safe_dump(config))
    port = free_port()
    log_file = (workdir / "alertmanager.log").open("wb")
    process = await asyncio.create_subprocess_exec(
        ALERTMANAGER,
        f"--config.file={config_file}",
        f"--storage.path={workdir / 'data'}",
        "--cluster.listen-address=",
        f"--web.listen-address=127.0.0.1:{port}",
        stdout=log_file,
        stderr=asyncio.subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient(trust_env=False, timeout=5) as client:

            async def ready() -> bool:
                if process.returncode is not None:
                    log = (workdir / "alertmanager.log").read_text()
                    raise AssertionError(f"alertmanager exited:\n{log}")
                try:
                    return (await client.get(f"{url}/-/ready")).status_code == 200
                except httpx.TransportError:
                    return False

            await eventually(ready, timeout=60)
            yield Alertmanager(url, client)
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(process.wait(), timeout=5)
            except TimeoutError:
                process.kill()
                await process.wait()
        log_file.close()


def prometheus_alert(name: str, instance: str, starts_at: datetime, **annotations: str) -> dict:
    return {
        "labels": {"alertname": name, "instance": instance, "severity": "critical"},
        "annotations": annotations,
        "startsAt": rfc3339(starts_at),
        "generatorURL": "http://prometheus.example.com:9090/graph?g0.expr=up",
    }


def resolved(alert: dict) -> dict:
    # An endsAt in the past is how Prometheus tells Alertmanager an alert stopped firing.
    return {**alert, "endsAt": rfc3339(datetime.now(UTC) - timedelta(milliseconds=200))}


async def test_alertmanager_webhook_opens_and_resolves_an_incident(
    mesh: Mesh, service: dict, http_base: str, tmp_path: Path
) -> None:
    url = f"{http_base}/api/v1/integrations/alertmanager/{service['key']}"
    starts_at = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=30)
    alert = prometheus_alert("DiskFull", "db-01:9100", starts_at, summary="Disk full on db-01")
    async with alertmanager(
        tmp_path, {"webhook_configs": [{"url": url, "send_resolved": True}]}
    ) as am:
        await am.post_alerts([alert])
        incident = await eventually(lambda: only_incident(mesh, service["id"]))
        assert incident["status"] == "triggered"
        assert incident["title"] == "Disk full on db-01"
        assert incident["severity"] == "critical"
        # Keyed on Alertmanager's own fingerprint of the labels plus the episode's start.
        fingerprint = prometheus_labels_fingerprint(alert["labels"])
        assert incident["dedup_key"] == alertmanager_dedup_key(fingerprint, starts_at)

        await am.post_alerts([resolved(alert)])
        done = await eventually(lambda: only_incident(mesh, service["id"], "resolved"))
        assert done["id"] == incident["id"]


async def test_alertmanager_group_resolving_one_alert_resolves_only_its_incident(
    mesh: Mesh, service: dict, http_base: str, tmp_path: Path
) -> None:
    url = f"{http_base}/api/v1/integrations/alertmanager/{service['key']}"
    starts_at = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=30)
    web1 = prometheus_alert("HighLatency", "web-1:9100", starts_at)
    web2 = prometheus_alert("HighLatency", "web-2:9100", starts_at)
    async with alertmanager(
        tmp_path, {"webhook_configs": [{"url": url, "send_resolved": True}]}
    ) as am:
        await am.post_alerts([web1, web2])

        async def two() -> list | None:
            rows = await mesh.incidents(service["id"])
            return rows if len(rows) == 2 else None

        rows = await eventually(two)
        by_title = {row["title"]: row for row in rows}
        assert set(by_title) == {"HighLatency on web-1:9100", "HighLatency on web-2:9100"}

        # The next notification carries the whole group: web-1 resolved, web-2 still firing.
        await am.post_alerts([resolved(web1)])
        await eventually(lambda: mesh.incidents(service["id"], status="resolved"))
        await asyncio.sleep(1.5)  # one more group_interval: nothing else may change
        statuses = {row["title"]: row["status"] for row in await mesh.incidents(service["id"])}
        assert statuses == {
            "HighLatency on web-1:9100": "resolved",
            "HighLatency on web-2:9100": "triggered",
        }


async def test_alertmanager_pagerduty_config_triggers_and_resolves(
    mesh: Mesh, service: dict, http_base: str, tmp_path: Path
) -> None:
    receiver = {
        "pagerduty_configs": [
            {"url": f"{http_base}/v2/enqueue", "routing_key": service["key"], "send_resolved": True}
        ]
    }
    starts_at = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=30)
    alert = prometheus_alert("HighErrorRate", "checkout-1:8080", starts_at)
    async with alertmanager(tmp_path, receiver) as am:
        await am.post_alerts([alert])
        incident = await eventually(lambda: only_incident(mesh, service["id"]))
        assert incident["status"] == "triggered"
        assert incident["title"].startswith("[FIRING:1] HighErrorRate")
        # Alertmanager keys PagerDuty events on the SHA-256 of its group key.
        group_key = '{}:{alertname="HighErrorRate"}'
        assert incident["dedup_key"] == hashlib.sha256(group_key.encode()).hexdigest()

        await am.post_alerts([resolved(alert)])
        done = await eventually(lambda: only_incident(mesh, service["id"], "resolved"))
        assert done["id"] == incident["id"]


# --- gRPC ----------------------------------------------------------------------------------


async def test_grpc_send_event_then_manage_the_incident(
    mesh: Mesh, service: dict, grpc_channel: grpc.aio.Channel
) -> None:
    ingestion = ingestion_pb2_grpc.AlertIngestionStub(grpc_channel)
    incidents = incidents_pb2_grpc.IncidentServiceStub(grpc_channel)
    accepted = await ingestion.SendEvent(
        ingestion_pb2.Event(
            routing_key=service["key"],
            event_action="trigger",
            dedup_key="grpc-queue",
            summary="Queue backlog above 10k",
            source="worker-3",
            severity="error",
            custom_details_json=json.dumps({"depth": 12000}),
        )
    )
    assert accepted.dedup_key == "grpc-queue" and accepted.message_id
    await eventually(lambda: only_incident(mesh, service["id"]))

    listed = await incidents.ListIncidents(
        incidents_pb2.ListIncidentsRequest(service_id=[service["id"]])
    )
    assert listed.total == 1
    [incident] = listed.incidents
    assert (incident.title, incident.severity, incident.status) == (
        "Queue backlog above 10k",
        "error",
        "triggered",
    )
    by_number = await incidents.GetIncident(
        incidents_pb2.GetIncidentRequest(id=str(incident.number))
    )
    assert by_number.id == incident.id

    ack = await incidents.Acknowledge(
        incidents_pb2.IncidentActionRequest(id=incident.id, actor="user:grace")
    )
    assert ack.incident_id == incident.id and ack.command_id

    async def has_status(status: str) -> incidents_pb2.Incident | None:
        got = await incidents.GetIncident(incidents_pb2.GetIncidentRequest(id=incident.id))
        return got if got.status == status else None

    assert (await eventually(lambda: has_status("acknowledged"))).acknowledged_at
    await incidents.Resolve(incidents_pb2.IncidentActionRequest(id=incident.id))
    assert (await eventually(lambda: has_status("resolved"))).resolved_at

    timeline = await incidents.GetTimeline(incidents_pb2.GetIncidentRequest(id=incident.id))
    # The actor is the caller the bearer token names; the request's `actor` is not trusted.
    assert [(e.kind, e.actor) for e in timeline.entries][1:] == [
        ("acknowledged", f"user:{mesh.admin_id}"),
        ("resolved", f"user:{mesh.admin_id}"),
    ]
    assert timeline.entries[0].kind == "triggered"


async def test_grpc_send_raw_alertmanager_body(
    mesh: Mesh, service: dict, grpc_channel: grpc.aio.Channel
) -> None:
    body = wire("alertmanager_mixed_group.json")
    firing = [a for a in body["alerts"] if a["status"] == "firing"]
    ingestion = ingestion_pb2_grpc.AlertIngestionStub(grpc_channel)
    accepted = await ingestion.SendRaw(
        ingestion_pb2.RawAlert(
            format="alertmanager", integration_key=service["key"], body=dumps(body)
        )
    )
    assert accepted.message_id

    async def all_firing() -> list | None:
        rows = await mesh.incidents(service["id"], status="triggered")
        return rows if len(rows) == len(firing) else None

    rows = await eventually(all_firing)
    assert {r["dedup_key"].split(":")[0] for r in rows} == {a["fingerprint"] for a in firing}


DEEP_JSON = '{"a": ' + "[" * 100_000 + "]" * 100_000 + "}"


@pytest.mark.parametrize(
    ("call", "code", "says"),
    [
        ("get_unknown", grpc.StatusCode.NOT_FOUND, "no incident"),
        ("ack_unknown", grpc.StatusCode.NOT_FOUND, "no incident"),
        ("timeline_unknown", grpc.StatusCode.NOT_FOUND, "no incident"),
        ("list_bad_status", grpc.StatusCode.INVALID_ARGUMENT, "status"),
        ("list_bad_limit", grpc.StatusCode.INVALID_ARGUMENT, "limit"),
        ("list_bad_since", grpc.StatusCode.INVALID_ARGUMENT, "since"),
        ("event_unknown_key", grpc.StatusCode.NOT_FOUND, "routing_key"),
        ("event_no_summary", grpc.StatusCode.INVALID_ARGUMENT, "payload.summary"),
        ("event_bad_severity", grpc.StatusCode.INVALID_ARGUMENT, "payload.severity"),
        ("event_bad_action", grpc.StatusCode.INVALID_ARGUMENT, "event_action"),
        ("event_details_not_json", grpc.StatusCode.INVALID_ARGUMENT, "custom_details_json"),
        ("event_details_not_object", grpc.StatusCode.INVALID_ARGUMENT, "payload.custom_details"),
        ("raw_bad_format", grpc.StatusCode.INVALID_ARGUMENT, "format"),
        ("raw_not_json", grpc.StatusCode.INVALID_ARGUMENT, "body"),
        ("raw_no_key", grpc.StatusCode.INVALID_ARGUMENT, "integration_key"),
        ("raw_unknown_key", grpc.StatusCode.NOT_FOUND, "integration_key"),
        ("get_number_past_int64", grpc.StatusCode.NOT_FOUND, "no incident"),
        ("get_ref_with_nul", grpc.StatusCode.NOT_FOUND, "no incident"),
        ("list_since_without_offset", grpc.StatusCode.INVALID_ARGUMENT, "since"),
        ("raw_too_large", grpc.StatusCode.INVALID_ARGUMENT, "body"),
        ("raw_deeply_nested", grpc.StatusCode.INVALID_ARGUMENT, "body"),
        ("event_details_deeply_nested", grpc.StatusCode.INVALID_ARGUMENT, "custom_details_json"),
    ],
)
async def test_grpc_bad_input_gets_a_status_naming_the_field(
    mesh: Mesh,
    service: dict,
    grpc_channel: grpc.aio.Channel,
    call: str,
    code: grpc.StatusCode,
    says: str,
) -> None:
    """The status code says what kind of mistake; the details start with the field's name."""
    ingestion = ingestion_pb2_grpc.AlertIngestionStub(grpc_channel)
    incidents = incidents_pb2_grpc.IncidentServiceStub(grpc_channel)
    unknown = "00000000-0000-0000-0000-000000000000"

    def event(**fields: str) -> ingestion_pb2.Event:
        values = {
            "routing_key": service["key"],
            "event_action": "trigger",
            "summary": "CPU high",
            "source": "web-1",
            "severity": "critical",
            **fields,
        }
        return ingestion_pb2.Event(**values)

    am_body = dumps(wire("alertmanager_mixed_group.json"))
    calls = {
        "get_unknown": lambda: incidents.GetIncident(incidents_pb2.GetIncidentRequest(id=unknown)),
        "ack_unknown": lambda: incidents.Acknowledge(
            incidents_pb2.IncidentActionRequest(id=unknown)
        ),
        "timeline_unknown": lambda: incidents.GetTimeline(
            incidents_pb2.GetIncidentRequest(id="999999999")
        ),
        "list_bad_status": lambda: incidents.ListIncidents(
            incidents_pb2.ListIncidentsRequest(status=["bogus"])
        ),
        "list_bad_limit": lambda: incidents.ListIncidents(
            incidents_pb2.ListIncidentsRequest(limit=501)
        ),
        "list_bad_since": lambda: incidents.ListIncidents(
            incidents_pb2.ListIncidentsRequest(since="yesterday")
        ),
        "event_unknown_key": lambda: ingestion.SendEvent(event(routing_key="f" * 32)),
        "event_no_summary": lambda: ingestion.SendEvent(event(summary="")),
        "event_bad_severity": lambda: ingestion.SendEvent(event(severity="sev1")),
        "event_bad_action": lambda: ingestion.SendEvent(event(event_action="snooze")),
        "event_details_not_json": lambda: ingestion.SendEvent(event(custom_details_json="{")),
        "event_details_not_object": lambda: ingestion.SendEvent(
            event(custom_details_json="[1, 2]")
        ),
        "raw_bad_format": lambda: ingestion.SendRaw(
            ingestion_pb2.RawAlert(format="nagios", integration_key=service["key"], body=b"{}")
        ),
        "raw_not_json": lambda: ingestion.SendRaw(
            ingestion_pb2.RawAlert(
                format="alertmanager", integration_key=service["key"], body=b"<xml/>"
            )
        ),
        "raw_no_key": lambda: ingestion.SendRaw(
            ingestion_pb2.RawAlert(format="alertmanager", body=am_body)
        ),
        "raw_unknown_key": lambda: ingestion.SendRaw(
            ingestion_pb2.RawAlert(format="alertmanager", integration_key="f" * 32, body=am_body)
        ),
        "get_number_past_int64": lambda: incidents.GetIncident(
            incidents_pb2.GetIncidentRequest(id="99999999999999999999")
        ),
        "get_ref_with_nul": lambda: incidents.GetIncident(
            incidents_pb2.GetIncidentRequest(id="a\x00b")
        ),
        "list_since_without_offset": lambda: incidents.ListIncidents(
            incidents_pb2.ListIncidentsRequest(since="2024-01-01T00:00:00")
        ),
        "raw_too_large": lambda: ingestion.SendRaw(
            ingestion_pb2.RawAlert(
                format="generic",
                integration_key=service["key"],
                body=dumps({"summary": "x" * (512 * 1024)}),
            )
        ),
        "raw_deeply_nested": lambda: ingestion.SendRaw(
            ingestion_pb2.RawAlert(
                format="generic", integration_key=service["key"], body=DEEP_JSON.encode()
            )
        ),
        "event_details_deeply_nested": lambda: ingestion.SendEvent(
            event(custom_details_json=DEEP_JSON)
        ),
    }
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await calls[call]()
    assert raised.value.code() == code, raised.value.details()
    details = raised.value.details() or ""
    assert details.startswith(says if " " in says else f"{says}:"), details
    # Nothing reached the mesh for this service.
    await asyncio.sleep(0.2)
    assert await mesh.incidents(service["id"]) == []


# --- NATS producers ------------------------------------------------------------------------


async def test_nats_producer_pagerduty_body_becomes_an_incident(mesh: Mesh, service: dict) -> None:
    body = wire("pagerduty_trigger.json")
    body["routing_key"] = service["key"]
    subject = ALERT_RECEIVED.subject("pagerduty", ns=mesh.ctx.bus.ns)
    await mesh.ctx.bus.js.publish(
        subject, dumps(body), headers={"Nats-Msg-Id": f"producer-{service['id']}"}
    )
    incident = await eventually(lambda: only_incident(mesh, service["id"]))
    assert incident["dedup_key"] == body["dedup_key"]
    assert incident["title"] == body["payload"]["summary"]


async def test_nats_producer_alertmanager_body_with_integration_key_header(
    mesh: Mesh, service: dict
) -> None:
    body = wire("alertmanager_mixed_group.json")
    firing = {a["fingerprint"] for a in body["alerts"] if a["status"] == "firing"}
    subject = ALERT_RECEIVED.subject("alertmanager", ns=mesh.ctx.bus.ns)
    message_id = f"producer-am-{service['id']}"
    headers = {"Integration-Key": service["key"], "Nats-Msg-Id": message_id}
    await mesh.ctx.bus.js.publish(subject, dumps(body), headers=headers)
    # A producer's retry with the same Nats-Msg-Id changes nothing.
    ack = await mesh.ctx.bus.js.publish(subject, dumps(body), headers=headers)
    assert ack.duplicate

    async def all_firing() -> list | None:
        rows = await mesh.incidents(service["id"])
        return rows if len(rows) == len(firing) else None

    rows = await eventually(all_firing)
    assert {r["dedup_key"].split(":")[0] for r in rows} == firing
    assert all(r["alert_count"] == 1 for r in rows)
