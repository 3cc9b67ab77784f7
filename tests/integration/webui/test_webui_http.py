"""The console over real HTTP: security headers, the live feed's resume, and the forms behind
every button (the browser tests drive the same routes through Chromium)."""

from __future__ import annotations

import json
import re
import secrets
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import httpx

from edge.webui.feed import last_sequence
from tests.helpers import Mesh, eventually, pd_event
from tests.integration.webui.seed import seed_world

JSON = {"Accept": "application/json"}


async def open_incident(
    mesh: Mesh, http: httpx.AsyncClient, service: dict[str, str], summary: str
) -> dict:
    """Post an alert and wait for its incident; `service` has `id` and `key`."""
    dedup = secrets.token_hex(4)
    key = service["key"]
    response = await http.post("/v2/enqueue", json=pd_event(key, dedup_key=dedup, summary=summary))
    assert response.status_code == 202, response.text

    async def opened() -> dict | None:
        rows = [i for i in await mesh.incidents(service["id"]) if i["dedup_key"] == dedup]
        return rows[0] if rows else None

    return await eventually(opened)


async def status_of(http: httpx.AsyncClient, incident_id: str) -> str:
    response = await http.get(f"/api/v1/incidents/{incident_id}")
    return response.json()["incident"]["status"]


async def test_every_page_has_a_strict_csp_and_no_inline_script_or_style(
    mesh: Mesh, http: httpx.AsyncClient
) -> None:
    world = await seed_world(mesh.api, secrets.token_hex(3))
    incident = await open_incident(
        mesh,
        http,
        {"id": world["service"]["id"], "key": world["service"]["integration_key"]},
        "Disk full",
    )
    paths = ["/", "/incidents", f"/incidents/{incident['number']}", "/oncall",
             f"/schedules/{world['schedule']}", "/services", f"/services/{world['service']['id']}",
             "/analytics", "/mail"]  # fmt: skip
    for path in paths:
        response = await http.get(path)
        assert response.status_code == 200, (path, response.text[:500])
        csp = response.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "style-src 'self'" in csp, csp
        assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
        assert "frame-ancestors 'none'" in csp
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["x-frame-options"] == "DENY"
        assert response.headers["cache-control"] == "no-store"
        html = response.text
        # Every script is a file of ours; no style attribute or block that the CSP would drop.
        assert all(src.startswith("/static/") for src in re.findall(r'<script src="([^"]+)"', html))
        assert not re.search(r"<script(?![^>]*\ssrc=)[^>]*>", html), path
        assert " style=" not in html and "<style" not in html, path
        assert "http://" not in re.sub(r"<pre.*?</pre>", "", html, flags=re.S).replace(
            'xmlns="http://www.w3.org/2000/svg"', ""
        ), path
    asset = await http.get("/static/app.js")
    assert asset.status_code == 200 and "text/javascript" in asset.headers["content-type"]
    assert (await http.get("/static/../rest.py")).status_code == 404


async def test_the_feed_resumes_from_the_stream_after_last_event_id(
    mesh: Mesh, http: httpx.AsyncClient, service: dict[str, str]
) -> None:
    incident = await open_incident(mesh, http, service, "Queue backlog")
    before_ack = await last_sequence(mesh.ctx.bus)
    response = await http.post(f"/incidents/{incident['id']}/acknowledge", headers=JSON)
    assert response.status_code == 202, response.text
    await eventually(lambda: _is(http, incident["id"], "acknowledged"))

    # A browser that saw everything up to `before_ack` and lost its connection comes back:
    # the acknowledgement it missed is the first thing it gets, with the next sequence as id.
    headers = {"Last-Event-ID": str(before_ack), "Accept": "text/event-stream"}
    async with http.stream("GET", "/ui/events", headers=headers, timeout=10) as stream:
        assert stream.status_code == 200
        assert stream.headers["content-type"].startswith("text/event-stream")
        event = await next_event(stream, lambda e: e["data"]["incident"]["id"] == incident["id"])
    assert event["data"]["event"] == "acknowledged"
    assert int(event["id"]) > before_ack
    assert event["data"]["incident"]["status"] == "acknowledged"


async def test_a_live_feed_sees_a_new_incident(
    mesh: Mesh, http: httpx.AsyncClient, service: dict[str, str]
) -> None:
    dedup = secrets.token_hex(4)
    async with http.stream("GET", "/ui/events", timeout=10) as stream:
        lines = stream.aiter_lines()
        assert (await anext(lines)).startswith("retry:")
        response = await http.post("/v2/enqueue", json=pd_event(service["key"], dedup_key=dedup))
        assert response.status_code == 202
        event = await next_event(
            stream, lambda e: e["data"]["incident"]["dedup_key"] == dedup, lines
        )
    assert event["data"]["event"] == "triggered"


async def next_event(stream: httpx.Response, wanted, lines=None) -> dict:  # type: ignore[no-untyped-def]
    """The next SSE message whose parsed JSON satisfies `wanted`."""
    lines = lines or stream.aiter_lines()
    current: dict = {}
    async for line in lines:
        if line.startswith("id: "):
            current["id"] = line[4:]
        elif line.startswith("data: "):
            current["data"] = json.loads(line[6:])
        elif line == "" and "data" in current:
            if wanted(current):
                return current
            current = {}
    raise AssertionError("the feed ended")


async def _is(http: httpx.AsyncClient, incident_id: str, status: str) -> bool:
    return await status_of(http, incident_id) == status


async def test_action_forms_send_commands_and_go_back(
    mesh: Mesh, http: httpx.AsyncClient, service: dict[str, str]
) -> None:
    incident = await open_incident(mesh, http, service, "Latency high")
    ref = incident["id"]
    # Without JavaScript: a plain form post, then back to where the person was.
    response = await http.post(
        f"/incidents/{ref}/note",
        data={"note": "Looking at the load balancer", "next": "/incidents"},
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/incidents?flash=note"
    response = await http.post(
        f"/incidents/{ref}/escalate", data={"escalation_level": "2"}, headers=JSON
    )
    assert response.status_code == 202
    response = await http.post(f"/incidents/{ref}/reassign", data={"assignee_id": ""}, headers=JSON)
    assert response.status_code == 422 and response.json()["error"]["field"] == "assignee_id"
    # Somewhere off-site is never a place to go back to.
    response = await http.post(f"/incidents/{ref}/resolve", data={"next": "//evil.example/x"})
    assert response.status_code == 303
    assert response.headers["location"] == f"/incidents/{incident['number']}?flash=resolve"
    await eventually(lambda: _is(http, ref, "resolved"))
    page = await http.get(f"/incidents/{incident['number']}")
    assert "Looking at the load balancer" in page.text
    assert "escalated" in page.text.lower()
    assert 'data-action="acknowledge"' not in page.text  # nothing left to do on a resolved one


async def test_bulk_acknowledge_then_resolve(
    mesh: Mesh, http: httpx.AsyncClient, service: dict[str, str]
) -> None:
    first = await open_incident(mesh, http, service, "One")
    second = await open_incident(mesh, http, service, "Two")
    ids = [first["id"], second["id"]]
    response = await http.post(
        "/incidents/bulk", data={"action": "acknowledge", "incident_id": ids}, headers=JSON
    )
    assert response.status_code == 202, response.text
    for ref in ids:
        await eventually(lambda ref=ref: _is(http, ref, "acknowledged"))
    response = await http.post("/incidents/bulk", data={"action": "resolve", "incident_id": ids})
    assert response.status_code == 303
    for ref in ids:
        await eventually(lambda ref=ref: _is(http, ref, "resolved"))
    response = await http.post(
        "/incidents/bulk", data={"action": "delete", "incident_id": ids}, headers=JSON
    )
    assert response.status_code == 422 and response.json()["error"]["field"] == "action"


async def test_incidents_list_filters_and_pages(
    mesh: Mesh, http: httpx.AsyncClient, service: dict[str, str]
) -> None:
    for n in range(3):
        await open_incident(mesh, http, service, f"Filtered {n}")
    response = await http.get(
        "/incidents", params={"service_id": service["id"], "status": "triggered", "limit": 25}
    )
    assert response.status_code == 200
    assert response.text.count('data-incident="') == 3
    assert "1–3 of 3" in response.text


async def test_override_form_reads_times_on_the_schedule_clock(
    mesh: Mesh, http: httpx.AsyncClient
) -> None:
    world = await seed_world(mesh.api, secrets.token_hex(3))
    schedule = world["schedule"]
    day = (datetime.now(UTC) + timedelta(days=5)).strftime("%Y-%m-%d")
    form = {"user_id": world["people"]["grace"], "start": f"{day}T08:00", "end": f"{day}T12:00"}
    response = await http.post(f"/schedules/{schedule}/overrides", data=form)
    assert response.status_code == 303, response.text
    overrides = (await http.get(f"/api/v1/schedules/{schedule}/overrides")).json()
    paris = ZoneInfo("Europe/Paris")
    mine = [o for o in overrides if o["user_id"] == world["people"]["grace"]]
    assert len(mine) == 1
    assert datetime.fromisoformat(mine[0]["start"]) == datetime.fromisoformat(
        f"{day}T08:00"
    ).replace(tzinfo=paris)
    # The same hours again overlap: the page says why instead of failing.
    response = await http.post(f"/schedules/{schedule}/overrides", data=form)
    assert response.status_code == 409
    assert 'role="alert"' in response.text and "overlap" in response.text.lower()


async def test_schedule_page_says_who_is_on_call(mesh: Mesh, http: httpx.AsyncClient) -> None:
    world = await seed_world(mesh.api, secrets.token_hex(3))
    now = (await http.get("/api/v1/oncall", params={"schedule": world["schedule"]})).json()
    expected = now["oncall"][0]["user"]["name"]
    page = await http.get(f"/schedules/{world['schedule']}")
    assert re.search(r'id="on-call-now">On call now:\s*<strong>' + re.escape(expected), page.text)
    overview = await http.get("/oncall")
    assert expected in overview.text


async def test_rotating_the_key_gives_a_new_one(
    mesh: Mesh, http: httpx.AsyncClient, service: dict[str, str]
) -> None:
    response = await http.post(f"/services/{service['id']}/rotate-key")
    assert response.status_code == 303
    revealed = await http.get(response.headers["location"])
    new_key = re.search(r'id="integration-key" class="key">([0-9a-f]{32})<', revealed.text)
    assert new_key and new_key.group(1) != service["key"]
    assert f"/api/v1/integrations/alertmanager/{new_key.group(1)}" in revealed.text
    sent = await http.post("/v2/enqueue", json=pd_event(new_key.group(1), dedup_key="after-rotate"))
    assert sent.status_code == 202
