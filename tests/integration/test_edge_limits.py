"""Whatever the ingestion edge accepts, every worker handles: bodies at the limits become
incidents; bodies past them get a 4xx naming the field, and nothing reaches a dead letter.

Also: what the ingest routes accept as Content-Type, duplicate JSON keys, the 413 that closes
the connection, titles with terminal escapes kept as sent, and error echoes that stay short.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any
from urllib.parse import urlsplit

import grpc
import pytest

from oncallnova.alerts.validation import MAX_NESTING_DEPTH
from proto import incidents_pb2, incidents_pb2_grpc
from tests.helpers import Mesh, eventually


def nested(depth: int) -> dict[str, Any]:
    """An object `depth` levels deep (1 = `{}`)."""
    value: dict[str, Any] = {}
    for _ in range(depth - 1):
        value = {"x": value}
    return value


def pagerduty(key: str, dedup_key: str, **payload: Any) -> dict[str, Any]:
    return {
        "routing_key": key,
        "event_action": "trigger",
        "dedup_key": dedup_key,
        "payload": {"summary": dedup_key, "source": "limits", "severity": "error", **payload},
    }


def alertmanager(starts_at: str, **annotations: str) -> dict[str, Any]:
    return {
        "version": "4",
        "status": "firing",
        "alerts": [
            {
                "status": "firing",
                "labels": {"alertname": "Limits", "instance": starts_at},
                "annotations": annotations,
                "startsAt": starts_at,
                "endsAt": "0001-01-01T00:00:00Z",
            }
        ],
    }


def grafana(values: dict[str, Any], starts_at: str = "2026-11-28T10:00:00Z") -> dict[str, Any]:
    body = alertmanager(starts_at)
    body["alerts"][0]["values"] = values
    return body


async def post(mesh: Mesh, path: str, body: bytes | dict[str, Any], **headers: str) -> Any:
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    return await mesh.api.post(
        path, content=content, headers={"Content-Type": "application/json", **headers}
    )


# Raw JSON text, because json.dumps cannot write a lone surrogate as an escape on purpose.
def lone_surrogate_pagerduty(key: str) -> bytes:
    body = json.dumps(pagerduty(key, "lone", custom_details={"disk": "@"}))
    return body.replace('"@"', '"\\ud800"').encode()


async def test_bodies_at_the_limits_become_incidents(
    mesh: Mesh, service: dict[str, str], dead_letters: Any
) -> None:
    mark = await dead_letters.mark()
    key = service["key"]
    accepted = {
        "deep": pagerduty(key, "deep", custom_details={"d": nested(MAX_NESTING_DEPTH - 3)}),
        "year-1": pagerduty(key, "year-1", timestamp="0001-01-01T00:00:00Z"),
        "year-9999": pagerduty(key, "year-9999", timestamp="9999-12-31T23:59:59Z"),
        "offset-ok": pagerduty(key, "offset-ok", timestamp="0001-01-01T01:00:00+01:00"),
        "emoji": pagerduty(key, "emoji", custom_details={"mood": "\U0001f525 \u202e"}),
    }
    for name, body in accepted.items():
        response = await post(mesh, "/v2/enqueue", body)
        assert response.status_code == 202, (name, response.text)
    for starts_at in ("0001-01-01T00:00:00Z", "9999-12-31T23:59:59Z"):
        response = await post(
            mesh, f"/api/v1/integrations/alertmanager/{key}", alertmanager(starts_at)
        )
        assert response.status_code == 202, (starts_at, response.text)
    response = await post(
        mesh, f"/api/v1/integrations/grafana/{key}", grafana({"B": nested(MAX_NESTING_DEPTH - 5)})
    )
    assert response.status_code == 202, response.text

    expected = len(accepted) + 3
    incidents = await eventually(lambda: _at_least(mesh, service["id"], expected), timeout=20)
    assert len(incidents) == expected
    assert await dead_letters.since(mark) == []


async def _at_least(mesh: Mesh, service_id: str, n: int) -> list[dict[str, Any]] | None:
    incidents = await mesh.incidents(service_id)
    return incidents if len(incidents) >= n else None


@pytest.mark.parametrize(
    ("route", "make", "field"),
    [
        ("pd", lambda key: lone_surrogate_pagerduty(key), "payload.custom_details.disk"),
        (
            "generic",
            lambda key: b'{"summary":"s","details":{"k":"\\udfff"}}',
            "details.k",
        ),
        (
            "alertmanager",
            lambda key: (
                json.dumps(alertmanager("2026-11-28T10:00:00Z", summary="@"))
                .replace('"@"', '"\\ud83d"')
                .encode()
            ),
            "alerts[0].annotations.summary",
        ),
        (
            "grafana",
            lambda key: json.dumps(grafana({"v": "@"})).replace('"@"', '"\\udc00"').encode(),
            "alerts[0].values.v",
        ),
        (
            "pd",
            lambda key: json.dumps(
                pagerduty(key, "deep", custom_details=nested(MAX_NESTING_DEPTH))
            ).encode(),
            "payload.custom_details",
        ),
        (
            "generic",
            lambda key: json.dumps({"summary": "s", "details": nested(300)}).encode(),
            "details",
        ),
        (
            "pd",
            lambda key: json.dumps(
                pagerduty(key, "t", timestamp="0001-01-01T00:00:00+01:00")
            ).encode(),
            "payload.timestamp",
        ),
        (
            "pd",
            lambda key: json.dumps(
                pagerduty(key, "t", timestamp="9999-12-31T23:59:59-01:00")
            ).encode(),
            "payload.timestamp",
        ),
        (
            "change",
            lambda key: json.dumps(
                {
                    "routing_key": key,
                    "payload": {"summary": "deploy", "timestamp": "9999-12-31T23:59:59-01:00"},
                }
            ).encode(),
            "payload.timestamp",
        ),
        (
            "alertmanager",
            lambda key: json.dumps(alertmanager("0001-01-01T00:00:00+01:00")).encode(),
            "alerts[0].startsAt",
        ),
        (
            "grafana",
            lambda key: json.dumps(grafana({}, starts_at="9999-12-31T23:59:59-01:00")).encode(),
            "alerts[0].startsAt",
        ),
        (
            "pd",
            lambda key: (
                '{"routing_key":"' + key + '","event_action":"trigger","event_action":"resolve"}'
            ).encode(),
            "body",
        ),
    ],
    ids=[
        "pd-surrogate",
        "generic-surrogate",
        "alertmanager-annotation-surrogate",
        "grafana-values-surrogate",
        "pd-too-deep",
        "generic-far-too-deep",
        "pd-year-0",
        "pd-year-10000",
        "change-year-10000",
        "alertmanager-year-0",
        "grafana-year-10000",
        "duplicate-key",
    ],
)
async def test_bodies_past_the_limits_get_a_4xx_naming_the_field(
    mesh: Mesh,
    service: dict[str, str],
    dead_letters: Any,
    route: str,
    make: Any,
    field: str,
) -> None:
    mark = await dead_letters.mark()
    key = service["key"]
    path = {
        "pd": "/v2/enqueue",
        "change": "/v2/change/enqueue",
        "generic": f"/api/v1/alerts?token={key}",
        "alertmanager": f"/api/v1/integrations/alertmanager/{key}",
        "grafana": f"/api/v1/integrations/grafana/{key}",
    }[route]
    response = await post(mesh, path, make(key))
    assert response.status_code == 400, response.text
    body = response.json()
    errors = body["errors"] if route in ("pd", "change") else body["error"]["errors"]
    # The path named is the field, or (too deep) the first path inside it past the limit.
    assert any(error.split(":")[0].startswith(field) for error in errors), errors
    # Nothing was published: no incident, no dead letter, ever.
    await asyncio.sleep(0.3)
    assert await mesh.incidents(service["id"]) == []
    assert await dead_letters.since(mark) == []


@pytest.mark.parametrize(
    ("content_type", "status"),
    [
        ("application/json", 202),
        ("application/json; charset=utf-8", 202),
        ("application/vnd.api+json", 202),
        (None, 202),
        ("text/plain", 415),
        ("application/x-www-form-urlencoded", 415),
    ],
)
async def test_ingest_content_types(
    mesh: Mesh, service: dict[str, str], content_type: str | None, status: int
) -> None:
    headers = {} if content_type is None else {"Content-Type": content_type}
    body = json.dumps(pagerduty(service["key"], "ct")).encode()
    response = await mesh.api.post("/v2/enqueue", content=body, headers=headers)
    assert response.status_code == status, response.text
    if status == 415:
        assert response.json()["errors"] == ["Content-Type: must be application/json"]
        generic = await mesh.api.post(
            f"/api/v1/alerts?token={service['key']}",
            content=b'{"summary": "x"}',
            headers=headers,
        )
        assert generic.status_code == 415
        assert generic.json()["error"]["field"] == "Content-Type"


async def test_a_413_closes_the_connection_without_reading_the_body(
    http_base: str, service: dict[str, str]
) -> None:
    """50 MB announced, only the start sent: the 413 comes, then the server hangs up."""
    url = urlsplit(http_base)
    reader, writer = await asyncio.open_connection(url.hostname, url.port)
    head = (
        "POST /v2/enqueue HTTP/1.1\r\nHost: oncallnova\r\nContent-Type: application/json\r\n"
        f"Content-Length: {50 * 1024 * 1024}\r\n\r\n"
    )
    writer.write(head.encode() + b"{" + b" " * 65536)
    await writer.drain()
    started = time.monotonic()
    response = await asyncio.wait_for(reader.read(), timeout=10)  # until the server closes
    writer.close()
    assert response.startswith(b"HTTP/1.1 413"), response[:200]
    assert b"connection: close" in response.lower()
    assert time.monotonic() - started < 5


async def test_titles_with_terminal_escapes_are_stored_as_sent(
    mesh: Mesh, service: dict[str, str]
) -> None:
    title = "disk \x1b[2J\x1b]0;pwned\x07 full \u202etxt.exe"
    response = await post(
        mesh,
        "/v2/enqueue",
        pagerduty(service["key"], "escapes")
        | {"payload": {"summary": title, "source": "x", "severity": "info"}},
    )
    assert response.status_code == 202, response.text
    [incident] = await eventually(lambda: mesh.incidents(service["id"]))
    assert incident["title"] == title


async def test_a_huge_id_is_not_echoed_back_whole(
    mesh: Mesh, grpc_channel: grpc.aio.Channel
) -> None:
    huge = "x" * 100_000
    response = await mesh.api.get(f"/api/v1/services/{huge[:16_000]}")
    assert response.status_code == 404
    assert len(response.text) < 2000
    stub = incidents_pb2_grpc.IncidentServiceStub(grpc_channel)
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await stub.GetIncident(incidents_pb2.GetIncidentRequest(id=huge))
    assert refused.value.code() == grpc.StatusCode.NOT_FOUND
    assert len(refused.value.details() or "") < 2000


async def test_grpc_garbage_is_invalid_argument_in_plain_words(
    grpc_channel: grpc.aio.Channel,
) -> None:
    call = grpc_channel.unary_unary(
        "/oncallnova.v1.IncidentService/GetIncident",
        request_serializer=lambda raw: raw,
        response_deserializer=lambda raw: raw,
    )
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await call(b"\xff\xff\xff\xff not protobuf")
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    details = refused.value.details() or ""
    assert "not a valid protobuf message" in details
    assert "DecodeError" not in details and "Error" not in details.split(":")[0]


async def test_grpc_reflection_lists_every_service(grpc_channel: grpc.aio.Channel) -> None:
    from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

    stub = reflection_pb2_grpc.ServerReflectionStub(grpc_channel)

    async def ask() -> Any:
        yield reflection_pb2.ServerReflectionRequest(list_services="")

    names: set[str] = set()
    async for answer in stub.ServerReflectionInfo(ask()):
        names |= {s.name for s in answer.list_services_response.service}
    assert {
        "oncallnova.v1.AlertIngestion",
        "oncallnova.v1.IncidentService",
        "oncallnova.v1.OnCallService",
    } <= names


async def test_patching_a_service_name_to_null_is_a_4xx(
    mesh: Mesh, service: dict[str, str]
) -> None:
    response = await mesh.api.patch(f"/api/v1/services/{service['id']}", json={"name": None})
    assert response.status_code == 422, response.text
    assert response.json()["error"]["field"] == "name"
    again = await mesh.api.get(f"/api/v1/services/{service['id']}")
    assert again.json()["name"] == service["name"]


async def test_openapi_documents_the_error_answers(mesh: Mesh) -> None:
    document = (await mesh.api.get("/openapi.json")).json()
    enqueue = document["paths"]["/v2/enqueue"]["post"]["responses"]
    assert {"202", "400", "413", "415", "422", "503"} <= set(enqueue)
    assert enqueue["400"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "PagerDutyError"
    )
    assert "Retry-After" in enqueue["503"]["headers"]
    acknowledge = document["paths"]["/api/v1/incidents/{ref}/acknowledge"]["post"]["responses"]
    assert {"202", "404", "422", "503"} <= set(acknowledge)
    grafana = document["paths"]["/api/v1/integrations/grafana/{integration_key}"]["post"]
    assert {"400", "401", "404", "413", "415", "503"} <= set(grafana["responses"])
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            if "422" in operation["responses"]:
                schema = operation["responses"]["422"]["content"]["application/json"]["schema"]
                assert schema == {"$ref": "#/components/schemas/Error"}, (method, path)


@pytest.mark.parametrize("moment", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00"])
async def test_incident_filters_past_the_calendar_get_a_4xx(mesh: Mesh, moment: str) -> None:
    for name in ("since", "until"):
        response = await mesh.api.get("/api/v1/incidents", params={name: moment})
        assert response.status_code == 422, response.text
        assert response.json()["error"]["field"] == name


async def test_nul_in_any_text_is_a_4xx_not_a_500(mesh: Mesh, service: dict[str, str]) -> None:
    """PostgreSQL text cannot hold U+0000: bodies name the field, ids and filters are 422."""
    created = await mesh.api.post("/api/v1/services", json={"name": "nul\u0000name"})
    assert created.status_code == 422, created.text
    assert created.json()["error"]["field"] == "name"
    note = await mesh.api.post("/api/v1/incidents/1/notes", json={"note": "a\u0000b"})
    assert note.status_code == 422, note.text
    for path, params in [
        ("/api/v1/services/%00", {}),
        ("/api/v1/users/%00", {}),
        ("/api/v1/incidents", {"service_id": "\u0000"}),
        ("/api/v1/schedules", {"team_id": "\u0000"}),
    ]:
        response = await mesh.api.get(path, params=params)
        assert response.status_code == 422, (path, response.text)
        assert "NUL" in response.json()["error"]["message"]


async def test_a_413_does_not_invite_a_waiting_client_to_send(http_base: str) -> None:
    """`Expect: 100-continue` with 50 MB announced: a 413 at once, never a 100 Continue."""
    url = urlsplit(http_base)
    reader, writer = await asyncio.open_connection(url.hostname, url.port)
    head = (
        "POST /v2/enqueue HTTP/1.1\r\nHost: oncallnova\r\nContent-Type: application/json\r\n"
        f"Expect: 100-continue\r\nContent-Length: {50 * 1024 * 1024}\r\n\r\n"
    )
    writer.write(head.encode())
    await writer.drain()
    response = await asyncio.wait_for(reader.read(), timeout=30)
    writer.close()
    assert response.startswith(b"HTTP/1.1 413"), response[:200]
