"""A service with a webhook secret takes only Grafana webhooks signed with it."""

from __future__ import annotations

import secrets
import time
from pathlib import Path

import grpc
import pytest

from oncallnova.alerts.grafana_signature import grafana_signature
from proto import ingestion_pb2, ingestion_pb2_grpc
from tests.helpers import Mesh, eventually

BODY = (Path(__file__).parents[1] / "fixtures" / "wire" / "grafana_mixed.json").read_bytes()
SIGNATURE = "X-Grafana-Alerting-Signature"
TIMESTAMP = "X-Grafana-Alerting-Timestamp"


async def make_service(mesh: Mesh, secret: str | None) -> dict:
    body: dict = {"name": f"grafana-{secrets.token_hex(4)}"}
    if secret is not None:
        body["webhook_secret"] = secret
    response = await mesh.api.post("/api/v1/services", json=body)
    assert response.status_code == 201, response.text
    service = response.json()
    assert service["has_webhook_secret"] is (secret is not None)
    assert "webhook_secret" not in service  # write-only
    return service


async def post(mesh: Mesh, service: dict, headers: dict[str, str]) -> dict:
    response = await mesh.api.post(
        f"/api/v1/integrations/grafana/{service['integration_key']}",
        content=BODY,
        headers={"Content-Type": "application/json", **headers},
    )
    return {"status": response.status_code, "body": response.json()}


async def test_signed_webhooks_only(mesh: Mesh) -> None:
    secret = secrets.token_hex(16)
    service = await make_service(mesh, secret)
    now = str(int(time.time()))
    stale = str(int(time.time()) - 3600)
    refused = [
        ({}, SIGNATURE),
        ({SIGNATURE: "0" * 64}, SIGNATURE),
        ({SIGNATURE: grafana_signature("another secret", BODY)}, SIGNATURE),
        ({SIGNATURE: grafana_signature(secret, BODY, stale), TIMESTAMP: stale}, TIMESTAMP),
    ]
    for headers, field in refused:
        answer = await post(mesh, service, headers)
        assert answer["status"] == 401, answer
        assert answer["body"]["error"]["field"] == field, answer
    # Nothing was accepted by the refused requests.
    assert await mesh.incidents(service["id"]) == []

    plain = await post(mesh, service, {SIGNATURE: grafana_signature(secret, BODY)})
    assert plain["status"] == 202, plain
    stamped = await post(
        mesh, service, {SIGNATURE: grafana_signature(secret, BODY, now), TIMESTAMP: now}
    )
    assert stamped["status"] == 202, stamped
    await eventually(lambda: mesh.incidents(service["id"]))


async def test_without_a_secret_no_signature_is_needed(mesh: Mesh) -> None:
    service = await make_service(mesh, None)
    answer = await post(mesh, service, {})
    assert answer["status"] == 202, answer
    await eventually(lambda: mesh.incidents(service["id"]))


async def test_grpc_send_raw_enforces_the_same_signature(
    mesh: Mesh, grpc_channel: grpc.aio.Channel
) -> None:
    secret = secrets.token_hex(16)
    service = await make_service(mesh, secret)
    ingestion = ingestion_pb2_grpc.AlertIngestionStub(grpc_channel)
    raw = ingestion_pb2.RawAlert(
        format="grafana", body=BODY, integration_key=service["integration_key"]
    )
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await ingestion.SendRaw(raw)
    assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert SIGNATURE in (refused.value.details() or "")
    assert await mesh.incidents(service["id"]) == []

    signed = await ingestion.SendRaw(
        raw, metadata=((SIGNATURE.lower(), grafana_signature(secret, BODY)),)
    )
    assert signed.message_id
    await eventually(lambda: mesh.incidents(service["id"]))
