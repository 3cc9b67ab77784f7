"""Bad input over HTTP: a 4xx that names the field, never a 5xx, and nothing half-written.

Each ingestion endpoint and the incident endpoints get malformed JSON, wrong types, missing
fields, oversize bodies and unknown keys on a real socket. PagerDuty endpoints answer in
PagerDuty's own 400 shape, which its clients report and do not retry. After the bad requests
a good one still goes through, and no rejected body reached the mesh: none is stored, none
was dead-lettered.
"""

from __future__ import annotations

import copy
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from oncallnova.alerts.validation import MAX_BODY_BYTES
from tests.helpers import Mesh, eventually, pd_event

Body = dict[str, Any] | list[Any]
Change = Callable[[dict[str, Any]], bytes | Body]
UNKNOWN_KEY = "f" * 32
DEDUP_KEY = "bad-input"
GOOD_SUMMARY = "Good alert after bad ones"
PAGERDUTY_400 = {"status": "invalid event", "message": "Event object is invalid"}


# --- the endpoints and a good body for each ------------------------------------------------


def alert_group(key: str, **extra: Any) -> dict[str, Any]:
    """An Alertmanager-shaped group with one firing alert (the key travels in the URL)."""
    return {
        "version": "4",
        "groupKey": '{}:{alertname="DiskFull"}',
        "status": "firing",
        "receiver": "oncallnova",
        "alerts": [
            {
                "status": "firing",
                "labels": {"alertname": "DiskFull", "instance": "db-01:9100"},
                "annotations": {"summary": GOOD_SUMMARY},
                "startsAt": "2024-05-14T08:58:43.613Z",
                "endsAt": "0001-01-01T00:00:00Z",
                "fingerprint": "946fe51a4c1085e5",
            }
        ],
        **extra,
    }


@dataclass(frozen=True)
class Endpoint:
    path: str  # `{key}` is replaced by the integration key
    good: Callable[[str], dict[str, Any]]
    pagerduty: bool = False  # answers in PagerDuty's own body shape
    key_in_header: bool = False
    change_event: bool = False  # a good body is stored as a change event, not an incident

    def url(self, key: str) -> str:
        return self.path.format(key=key)

    def headers(self, key: str) -> dict[str, str]:
        headers = {"Content-Type": "application/json"}
        if self.key_in_header and key:
            headers["Authorization"] = f"Bearer {key}"
        return headers


ENDPOINTS = {
    "pagerduty": Endpoint(
        "/v2/enqueue",
        lambda key: pd_event(key, dedup_key=DEDUP_KEY, summary=GOOD_SUMMARY),
        pagerduty=True,
    ),
    "change": Endpoint(
        "/v2/change/enqueue",
        lambda key: {
            "routing_key": key,
            "payload": {
                "summary": "Deployed checkout v42",
                "source": "ci",
                "timestamp": "2024-05-14T09:00:00Z",
            },
            "links": [{"href": "https://ci.example.com/builds/42", "text": "Build 42"}],
        },
        pagerduty=True,
        change_event=True,
    ),
    "alertmanager": Endpoint("/api/v1/integrations/alertmanager/{key}", alert_group),
    "grafana": Endpoint(
        "/api/v1/integrations/grafana/{key}",
        lambda key: alert_group(key, version="1", orgId=1, title="[FIRING:1] DiskFull"),
    ),
    "generic": Endpoint(
        "/api/v1/alerts",
        lambda key: {
            "summary": GOOD_SUMMARY,
            "severity": "warning",
            "source": "db-01",
            "dedup_key": DEDUP_KEY,
        },
        key_in_header=True,
    ),
}


# --- changes to a good body ------------------------------------------------------------------


def _walk(document: Any, path: str) -> tuple[Any, str | int]:
    *parents, last = [int(p) if p.isdigit() else p for p in path.split(".")]
    for part in parents:
        document = document[part]
    return document, last


def drop(path: str) -> Change:
    def change(body: dict[str, Any]) -> Body:
        body = copy.deepcopy(body)
        parent, last = _walk(body, path)
        del parent[last]
        return body

    return change


def put(path: str, value: Any) -> Change:
    def change(body: dict[str, Any]) -> Body:
        body = copy.deepcopy(body)
        parent, last = _walk(body, path)
        parent[last] = value
        return body

    return change


def raw(data: bytes) -> Change:
    return lambda _: data


def replace(value: Body) -> Change:
    return lambda _: value


@dataclass(frozen=True)
class Case:
    endpoint: str
    name: str
    change: Change
    field: str  # the field the error must name
    status: int = 400
    key: str | None = None  # instead of the service's integration key; "" sends none

    def param(self) -> Any:
        return pytest.param(self, id=f"{self.endpoint}-{self.name}")


def shared_json_cases(endpoint: str) -> list[Case]:
    """What every ingestion endpoint must refuse before it looks at any field."""
    return [
        Case(endpoint, "truncated-json", raw(b'{"summary": "CPU'), "body"),
        Case(endpoint, "empty-body", raw(b""), "body"),
        Case(endpoint, "not-an-object", raw(b"[1, 2, 3]"), "body"),
        Case(endpoint, "a-string", raw(b'"trigger"'), "body"),
        Case(endpoint, "nan-is-not-json", raw(b'{"summary": NaN}'), "body"),
        Case(endpoint, "not-utf8", raw(b'{"summary": "\xff\xfe"}'), "body"),
        Case(
            endpoint,
            "deeply-nested",
            raw(b'{"a": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"),
            "body",
        ),
    ]


CASES: list[Case] = [
    *shared_json_cases("pagerduty"),
    Case("pagerduty", "no-routing-key", drop("routing_key"), "routing_key"),
    Case("pagerduty", "routing-key-number", put("routing_key", 12345), "routing_key"),
    Case("pagerduty", "routing-key-short", put("routing_key", "abc"), "routing_key"),
    Case("pagerduty", "unknown-routing-key", put("routing_key", UNKNOWN_KEY), "routing_key"),
    Case("pagerduty", "no-event-action", drop("event_action"), "event_action"),
    Case("pagerduty", "event-action-bogus", put("event_action", "snooze"), "event_action"),
    Case("pagerduty", "event-action-list", put("event_action", ["trigger"]), "event_action"),
    Case("pagerduty", "no-payload", drop("payload"), "payload"),
    Case("pagerduty", "payload-string", put("payload", "CPU high"), "payload"),
    Case("pagerduty", "no-summary", drop("payload.summary"), "payload.summary"),
    Case("pagerduty", "summary-empty", put("payload.summary", ""), "payload.summary"),
    Case("pagerduty", "summary-too-long", put("payload.summary", "x" * 1025), "payload.summary"),
    Case("pagerduty", "summary-number", put("payload.summary", 42), "payload.summary"),
    Case("pagerduty", "no-source", drop("payload.source"), "payload.source"),
    Case("pagerduty", "no-severity", drop("payload.severity"), "payload.severity"),
    Case("pagerduty", "severity-bogus", put("payload.severity", "sev1"), "payload.severity"),
    Case("pagerduty", "timestamp-bogus", put("payload.timestamp", "soon"), "payload.timestamp"),
    Case(
        "pagerduty",
        "custom-details-list",
        put("payload.custom_details", [1, 2]),
        "payload.custom_details",
    ),
    Case("pagerduty", "dedup-key-too-long", put("dedup_key", "k" * 256), "dedup_key"),
    Case("pagerduty", "dedup-key-number", put("dedup_key", 42), "dedup_key"),
    Case("pagerduty", "link-without-href", put("links", [{"text": "x"}]), "links[0].href"),
    Case("pagerduty", "image-without-src", put("images", [{"alt": "x"}]), "images[0].src"),
    Case("pagerduty", "images-string", put("images", "chart.png"), "images"),
    Case(
        "pagerduty",
        "acknowledge-without-dedup-key",
        lambda body: {"routing_key": body["routing_key"], "event_action": "acknowledge"},
        "dedup_key",
    ),
    *shared_json_cases("change"),
    Case("change", "no-routing-key", drop("routing_key"), "routing_key"),
    Case("change", "routing-key-short", put("routing_key", "abc"), "routing_key"),
    Case("change", "unknown-routing-key", put("routing_key", UNKNOWN_KEY), "routing_key"),
    Case("change", "no-payload", drop("payload"), "payload"),
    Case("change", "summary-empty", put("payload.summary", ""), "payload.summary"),
    Case("change", "timestamp-bogus", put("payload.timestamp", "now"), "payload.timestamp"),
    Case("change", "link-without-href", put("links", [{"text": "x"}]), "links[0].href"),
    *shared_json_cases("alertmanager"),
    Case("alertmanager", "unknown-key", lambda b: b, "integration_key", 404, key=UNKNOWN_KEY),
    Case("alertmanager", "no-alerts", drop("alerts"), "alerts"),
    Case("alertmanager", "alerts-object", put("alerts", {"a": 1}), "alerts"),
    Case("alertmanager", "no-status", drop("status"), "status"),
    Case("alertmanager", "status-bogus", put("status", "pending"), "status"),
    Case("alertmanager", "alert-no-status", drop("alerts.0.status"), "alerts[0].status"),
    Case("alertmanager", "alert-no-starts-at", drop("alerts.0.startsAt"), "alerts[0].startsAt"),
    Case(
        "alertmanager",
        "alert-starts-at-bogus",
        put("alerts.0.startsAt", "yesterday"),
        "alerts[0].startsAt",
    ),
    Case("alertmanager", "labels-list", put("alerts.0.labels", ["a"]), "alerts[0].labels"),
    Case(
        "alertmanager",
        "label-value-number",
        put("alerts.0.labels.severity", 3),
        "alerts[0].labels.severity",
    ),
    Case(
        "alertmanager",
        "fingerprint-too-long",
        put("alerts.0.fingerprint", "f" * 129),
        "alerts[0].fingerprint",
    ),
    Case(
        "alertmanager", "truncated-alerts-text", put("truncatedAlerts", "many"), "truncatedAlerts"
    ),
    *shared_json_cases("grafana"),
    Case("grafana", "unknown-key", lambda b: b, "integration_key", 404, key=UNKNOWN_KEY),
    Case("grafana", "no-alerts", drop("alerts"), "alerts"),
    Case("grafana", "org-id-text", put("orgId", "one"), "orgId"),
    Case("grafana", "values-list", put("alerts.0.values", [1.5]), "alerts[0].values"),
    Case("grafana", "alert-status-bogus", put("alerts.0.status", "ok"), "alerts[0].status"),
    *shared_json_cases("generic"),
    Case("generic", "no-key", lambda b: b, "integration_key", 400, key=""),
    Case("generic", "unknown-key", lambda b: b, "integration_key", 404, key=UNKNOWN_KEY),
    Case("generic", "no-summary", drop("summary"), "summary"),
    Case("generic", "summary-empty", put("summary", ""), "summary"),
    Case("generic", "severity-bogus", put("severity", "p0"), "severity"),
    Case("generic", "details-list", put("details", ["a"]), "details"),
    Case("generic", "action-bogus", put("action", "silence"), "action"),
    Case("generic", "dedup-key-too-long", put("dedup_key", "k" * 256), "dedup_key"),
]


def padded(endpoint: str, key: str, size: int) -> bytes:
    """A good body of `endpoint` grown to about `size` bytes with a custom detail."""
    body = ENDPOINTS[endpoint].good(key)
    where = {
        "pagerduty": "payload.custom_details",
        "change": "payload.custom_details",
        "alertmanager": "alerts.0.annotations",
        "grafana": "alerts.0.annotations",
        "generic": "details",
    }[endpoint]
    parent, last = _walk(body, where)
    parent[last] = {**(parent.get(last) or {}), "pad": ""}
    room = size - len(json.dumps(body).encode())
    parent[last]["pad"] = "x" * room
    data = json.dumps(body).encode()
    assert len(data) == size
    return data


# --- sending and checking ----------------------------------------------------------------


@dataclass
class Sent:
    """Every body sent to the platform by one test, to look for in the DLQ afterwards."""

    bodies: list[bytes] = field(default_factory=list)


async def send(
    http: httpx.AsyncClient,
    endpoint: str,
    key: str,
    body: bytes | Body,
    *,
    chunked: bool = False,
    sent: Sent | None = None,
) -> httpx.Response:
    target = ENDPOINTS[endpoint]
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    if sent is not None:
        sent.bodies.append(data)
    if chunked:

        async def chunks() -> AsyncIterator[bytes]:
            for start in range(0, len(data), 64 * 1024):
                yield data[start : start + 64 * 1024]

        content: Any = chunks()
    else:
        content = data
    headers = target.headers(key)
    request = http.build_request("POST", target.url(key), content=content, headers=headers)
    if not any(name.lower() == "authorization" for name in headers):
        # Ingest routes authenticate by integration key: the client's own token is not sent.
        request.headers.pop("authorization", None)
    return await http.send(request)


def assert_names_field(endpoint: str, response: httpx.Response, field: str, status: int) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    if ENDPOINTS[endpoint].pagerduty:
        # PagerDuty's exact 400 body, one "<field>: <why>" per problem.
        assert set(body) == {"status", "message", "errors"}, body
        assert {k: body[k] for k in PAGERDUTY_400} == PAGERDUTY_400
        assert any(e.startswith(f"{field}:") for e in body["errors"]), body["errors"]
    else:
        assert body["error"]["field"] == field, body
        assert body["error"]["message"].startswith(f"{field}:"), body


def case_key(case: Case, service: dict[str, str]) -> str:
    return service["key"] if case.key is None else case.key


@pytest.mark.parametrize("case", [c.param() for c in CASES])
async def test_bad_ingestion_body_gets_4xx_naming_the_field(
    http: httpx.AsyncClient, service: dict, case: Case
) -> None:
    body = case.change(ENDPOINTS[case.endpoint].good(service["key"]))
    response = await send(http, case.endpoint, case_key(case, service), body)
    assert_names_field(case.endpoint, response, case.field, case.status)


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
@pytest.mark.parametrize("endpoint", list(ENDPOINTS))
async def test_oversize_body_is_refused_with_413(
    http: httpx.AsyncClient, service: dict, endpoint: str, chunked: bool
) -> None:
    body = padded(endpoint, service["key"], MAX_BODY_BYTES + 1)
    response = await send(http, endpoint, service["key"], body, chunked=chunked)
    assert_names_field(endpoint, response, "body", 413)


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
async def test_body_at_the_limit_is_accepted(
    mesh: Mesh, http: httpx.AsyncClient, service: dict, chunked: bool
) -> None:
    body = padded("pagerduty", service["key"], MAX_BODY_BYTES)
    response = await send(http, "pagerduty", service["key"], body, chunked=chunked)
    assert response.status_code == 202, response.text
    [incident] = await eventually(lambda: mesh.incidents(service["id"]))
    assert incident["title"] == GOOD_SUMMARY


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (put("payload.summary", "disk\u0000full"), "payload.summary"),
        (put("payload.custom_details", {"mount": "/var\u0000"}), "payload.custom_details.mount"),
    ],
    ids=["summary", "custom-details"],
)
async def test_nul_character_is_refused_or_kept(
    mesh: Mesh, http: httpx.AsyncClient, service: dict, change: Change, field: str
) -> None:
    """PostgreSQL cannot store U+0000. A 202 promises an incident (ARCHITECTURE.md), so either
    it becomes one or the 400 says which field holds the NUL."""
    body = change(ENDPOINTS["pagerduty"].good(service["key"]))
    response = await send(http, "pagerduty", service["key"], body)
    if response.status_code == 202:
        await eventually(lambda: mesh.incidents(service["id"]))
    else:
        assert_names_field("pagerduty", response, field, 400)


@pytest.mark.parametrize("endpoint", list(ENDPOINTS))
async def test_nothing_half_written_after_bad_input(
    mesh: Mesh,
    http: httpx.AsyncClient,
    service: dict,
    dead_letters: Any,
    stored: Any,
    endpoint: str,
) -> None:
    """Every bad request of the table, then a good one: only the good one has any effect."""
    mark = await dead_letters.mark()
    sent = Sent()
    for case in [c for c in CASES if c.endpoint == endpoint]:
        body = case.change(ENDPOINTS[endpoint].good(service["key"]))
        response = await send(http, endpoint, case_key(case, service), body, sent=sent)
        assert 400 <= response.status_code < 500, (case.name, response.text)
    for chunked in (False, True):
        big = padded(endpoint, service["key"], MAX_BODY_BYTES + 1)
        response = await send(http, endpoint, service["key"], big, chunked=chunked, sent=sent)
        assert response.status_code == 413

    good = await send(http, endpoint, service["key"], ENDPOINTS[endpoint].good(service["key"]))
    assert good.status_code == 202, good.text
    if ENDPOINTS[endpoint].change_event:

        async def change_stored() -> Any:
            counts = await stored(service["id"])
            return counts if counts.change_events else None

        counts = await eventually(change_stored)
        assert (counts.alerts, counts.change_events) == (0, 1)
        assert await mesh.incidents(service["id"]) == []
    else:
        [incident] = await eventually(lambda: mesh.incidents(service["id"]))
        assert incident["title"] == GOOD_SUMMARY
        assert incident["alert_count"] == 1
        assert (await stored(service["id"])).alerts == 1
    # A rejected body was never published: the fingerprinter dead-lettered none of them.
    letters = await dead_letters.since(mark)
    assert not [letter for letter in letters if letter.data in sent.bodies]


# --- incident endpoints ----------------------------------------------------------------------

UNKNOWN_ID = "00000000-0000-0000-0000-000000000000"


@dataclass(frozen=True)
class IncidentCase:
    name: str
    method: str
    path: str  # `{id}` is a real incident's id
    field: str
    status: int = 422
    params: dict[str, Any] | None = None
    body: bytes | None = None

    def param(self) -> Any:
        return pytest.param(self, id=self.name)


INCIDENT_CASES = [
    IncidentCase("list-status-bogus", "GET", "", "status", params={"status": "bogus"}),
    IncidentCase("list-severity-bogus", "GET", "", "severity", params={"severity": "sev1"}),
    IncidentCase("list-limit-zero", "GET", "", "limit", params={"limit": 0}),
    IncidentCase("list-limit-huge", "GET", "", "limit", params={"limit": 501}),
    IncidentCase("list-limit-text", "GET", "", "limit", params={"limit": "all"}),
    IncidentCase("list-offset-negative", "GET", "", "offset", params={"offset": -1}),
    IncidentCase("list-since-bogus", "GET", "", "since", params={"since": "last tuesday"}),
    IncidentCase("get-unknown", "GET", f"/{UNKNOWN_ID}", "id", 404),
    IncidentCase("get-unknown-number", "GET", "/999999999", "id", 404),
    IncidentCase("timeline-unknown", "GET", f"/{UNKNOWN_ID}/timeline", "id", 404),
    IncidentCase("acknowledge-unknown", "POST", f"/{UNKNOWN_ID}/acknowledge", "id", 404),
    IncidentCase("resolve-unknown", "POST", f"/{UNKNOWN_ID}/resolve", "id", 404),
    IncidentCase("reassign-no-assignee", "POST", "/{id}/reassign", "assignee_id", body=b"{}"),
    IncidentCase(
        "reassign-empty-assignee",
        "POST",
        "/{id}/reassign",
        "assignee_id",
        body=b'{"assignee_id": ""}',
    ),
    IncidentCase(
        "reassign-assignee-number",
        "POST",
        "/{id}/reassign",
        "assignee_id",
        body=b'{"assignee_id": 7}',
    ),
    IncidentCase("reassign-no-body", "POST", "/{id}/reassign", "body"),
    IncidentCase("reassign-array", "POST", "/{id}/reassign", "body", body=b"[]"),
    IncidentCase("note-empty", "POST", "/{id}/notes", "note", body=b'{"note": ""}'),
    IncidentCase("note-missing", "POST", "/{id}/notes", "note", body=b'{"text": "hi"}'),
    IncidentCase("note-number", "POST", "/{id}/notes", "note", body=b'{"note": 7}'),
    IncidentCase(
        "note-too-long",
        "POST",
        "/{id}/notes",
        "note",
        body=json.dumps({"note": "n" * 65537}).encode(),
    ),
    IncidentCase("note-truncated-json", "POST", "/{id}/notes", "body", body=b'{"note": "hi'),
    IncidentCase(
        "escalate-negative",
        "POST",
        "/{id}/escalate",
        "escalation_level",
        body=b'{"escalation_level": -1}',
    ),
    IncidentCase(
        "escalate-text",
        "POST",
        "/{id}/escalate",
        "escalation_level",
        body=b'{"escalation_level": "high"}',
    ),
]


@pytest.fixture(scope="module")
async def open_incident(mesh: Mesh) -> dict[str, Any]:
    """One triggered incident the bad commands are aimed at."""
    service = await mesh.create_service()
    response = await mesh.api.post("/v2/enqueue", json=pd_event(service["key"], dedup_key="cmd"))
    assert response.status_code == 202, response.text
    [incident] = await eventually(lambda: mesh.incidents(service["id"]))
    return incident


async def send_incident_case(
    http: httpx.AsyncClient, case: IncidentCase, incident: dict[str, Any]
) -> httpx.Response:
    headers = {"Content-Type": "application/json"} if case.body is not None else {}
    return await http.request(
        case.method,
        "/api/v1/incidents" + case.path.format(id=incident["id"]),
        params=case.params,
        content=case.body,
        headers=headers,
    )


@pytest.mark.parametrize("case", [c.param() for c in INCIDENT_CASES])
async def test_bad_incident_request_gets_4xx_naming_the_field(
    http: httpx.AsyncClient, open_incident: dict[str, Any], case: IncidentCase
) -> None:
    response = await send_incident_case(http, case, open_incident)
    assert response.status_code == case.status, response.text
    error = response.json()["error"]
    assert error["field"] == case.field, error
    assert error["message"].startswith(f"{case.field}:") or case.status == 404, error
    if case.status == 404:
        assert "no incident" in error["message"], error


@pytest.mark.parametrize(
    ("path", "params", "field"),
    [
        pytest.param("", {"offset": 10**20}, "offset", id="offset-past-int64"),
        pytest.param("", {"since": "2024-01-01T00:00:00"}, "since", id="since-without-offset"),
        pytest.param("/99999999999999999999", None, "id", id="ref-number-past-int64"),
        pytest.param("/a%00b", None, "id", id="ref-with-nul"),
        pytest.param("/" + "x" * 2000, None, "id", id="ref-very-long"),
        pytest.param("", {"service_id": "x" * 2000}, "service_id", id="service-id-very-long"),
        pytest.param("", {"limit": 10**20}, "limit", id="limit-past-int64"),
    ],
)
async def test_odd_incident_request_is_never_a_5xx(
    http: httpx.AsyncClient, path: str, params: dict[str, Any] | None, field: str
) -> None:
    """Either an answer, or a 4xx that names the field."""
    response = await http.get("/api/v1/incidents" + path, params=params)
    assert response.status_code < 500, response.text
    if response.status_code >= 400:
        assert response.json()["error"]["field"] == field, response.text


async def test_bad_incident_commands_change_nothing(
    mesh: Mesh, http: httpx.AsyncClient, open_incident: dict[str, Any]
) -> None:
    for case in INCIDENT_CASES:
        response = await send_incident_case(http, case, open_incident)
        assert 400 <= response.status_code < 500, (case.name, response.text)
    # A good command after them is applied, and it is the only change on the timeline.
    response = await http.post(
        f"/api/v1/incidents/{open_incident['id']}/notes", json={"note": "looking into it"}
    )
    assert response.status_code == 202, response.text

    async def timeline() -> list | None:
        got = await http.get(f"/api/v1/incidents/{open_incident['id']}/timeline")
        entries = got.json()["timeline"]
        return entries if len(entries) >= 2 else None

    entries = await eventually(timeline)
    assert [e["kind"] for e in entries] == ["triggered", "note_added"]
    current = (await http.get(f"/api/v1/incidents/{open_incident['id']}")).json()["incident"]
    assert current["status"] == "triggered"
    assert current["assignee_id"] is None
    assert current["escalation_level"] == open_incident["escalation_level"]
