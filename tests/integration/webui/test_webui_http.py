"""The console over real HTTP: login, roles, security headers, the live feed's resume, and the
forms behind every button (the browser tests drive the same routes through Chromium)."""

from __future__ import annotations

import dataclasses
import json
import re
import secrets
from datetime import UTC, datetime, timedelta
from urllib.parse import quote
from zoneinfo import ZoneInfo

import httpx
from fastapi.routing import APIRoute

from app.http import create_app
from edge.webui import pages
from edge.webui.feed import last_sequence
from oncallnova.auth import SESSION_COOKIE
from tests.helpers import Mesh, eventually, pd_event
from tests.integration.webui.console import Console, console, form_login, make_person
from tests.integration.webui.seed import seed_world


async def open_incident(mesh: Mesh, service: dict[str, str], summary: str = "Disk full") -> dict:
    """Post an alert and wait for its incident; `service` has `id` and `key`."""
    dedup = secrets.token_hex(4)
    response = await mesh.api.post(
        "/v2/enqueue", json=pd_event(service["key"], dedup_key=dedup, summary=summary)
    )
    assert response.status_code == 202, response.text

    async def opened() -> dict | None:
        rows = [i for i in await mesh.incidents(service["id"]) if i["dedup_key"] == dedup]
        return rows[0] if rows else None

    return await eventually(opened)


async def status_is(mesh: Mesh, incident_id: str, status: str) -> bool:
    response = await mesh.api.get(f"/api/v1/incidents/{incident_id}")
    return bool(response.json()["incident"]["status"] == status)


def service_of(world: dict) -> dict[str, str]:
    return {"id": world["service"]["id"], "key": world["service"]["integration_key"]}


async def test_pages_need_a_login_and_the_login_form_says_what_went_wrong(
    http: httpx.AsyncClient, mesh: Mesh
) -> None:
    response = await http.get("/incidents?status=triggered")
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=%2Fincidents%3Fstatus%3Dtriggered"
    assert (await http.get("/ui/events")).status_code == 401
    person = await make_person(mesh, "responder")
    wrong = await form_login(http, type(person)(person.user_id, person.username, "not-it"))
    assert wrong.status_code == 401
    assert 'role="alert"' in wrong.text and "wrong username or password" in wrong.text.lower()
    assert SESSION_COOKIE not in wrong.cookies
    # A login form posted without the page's nonce (from another site) is refused.
    forged = await http.post(
        "/login", data={"username": person.username, "password": person.password}
    )
    assert forged.status_code == 403 and SESSION_COOKIE not in forged.cookies
    ok = await form_login(http, person, "/oncall")
    assert ok.status_code == 303 and ok.headers["location"] == "/oncall"
    cookie = ok.headers.get_list("set-cookie")
    session_cookie = next(c for c in cookie if c.startswith(SESSION_COOKIE + "="))
    assert "HttpOnly" in session_cookie and "SameSite=strict" in session_cookie.replace(
        "Strict", "strict"
    )


async def test_too_many_failed_logins_get_a_clear_429(mesh: Mesh) -> None:
    # An app of its own with a low limit (3 failures a minute per username) and its own
    # security service, reached from an address no other test uses.
    settings = mesh.ctx.settings.model_copy(update={"login_failures_per_username": 3})
    app = create_app(dataclasses.replace(mesh.ctx, settings=settings, extras={}), ["webui"])
    transport = httpx.ASGITransport(app=app, client=("10.77.0.1", 4000))
    person = await make_person(mesh, "viewer")
    wrong = type(person)(person.user_id, person.username, "bad")
    async with httpx.AsyncClient(transport=transport, base_url="http://oncallnova") as client:
        # The limiter counts in fixed one-minute windows: attempts that straddle a window's
        # end need up to twice the limit before one window holds enough of them.
        answers = []
        while len(answers) < 7 and (not answers or answers[-1].status_code == 401):
            answers.append(await form_login(client, wrong))
    assert len(answers) > 3 and answers[-1].status_code == 429, [a.status_code for a in answers]
    assert "too many" in answers[-1].text.lower() and 'role="alert"' in answers[-1].text
    assert int(answers[-1].headers["retry-after"]) >= 1


async def test_logout_revokes_the_session(http_base: str, mesh: Mesh) -> None:
    session = await console(http_base, mesh, "viewer")
    token = session.client.cookies.get(SESSION_COOKIE)
    assert (await session.client.get("/")).status_code == 200
    response = await session.post("/logout")
    assert response.status_code == 303 and response.headers["location"] == "/login?bye=1"
    assert SESSION_COOKIE not in session.client.cookies
    # The old cookie, replayed, opens nothing any more.
    async with httpx.AsyncClient(
        base_url=http_base, trust_env=False, cookies={SESSION_COOKIE: token}
    ) as replay:
        assert (await replay.get("/")).status_code == 303
    await session.client.aclose()


async def test_every_console_route_turns_away_a_request_without_a_session(
    http: httpx.AsyncClient,
) -> None:
    """Every route the console's areas register, read from the router so a new one is covered:
    a page sends the person to log in, a fragment the live feed fetches answers a bare 401, both
    with the security headers. (The client's bearer token is not a console session.)"""
    # Registering the routes touches no context: none is needed to list them.
    routes = pages.router(None, pages.templates()).routes
    assert len(routes) == 17
    for route in routes:
        assert isinstance(route, APIRoute)
        path = re.sub(r"\{[^}]+\}", "7", route.path)
        for method in route.methods:
            response = await http.request(method, path)
            if path.startswith("/ui/fragments/"):
                assert response.status_code == 401, (method, path)
            else:
                assert response.status_code == 303, (method, path, response.text[:200])
                assert response.headers["location"] == "/login?next=" + quote(path, safe="")
            assert response.headers["x-frame-options"] == "DENY", (method, path)


async def test_every_page_has_a_strict_csp_and_no_inline_script_or_style(
    mesh: Mesh, admin: Console
) -> None:
    world = await seed_world(mesh.api, secrets.token_hex(3))
    incident = await open_incident(mesh, service_of(world))
    paths = ["/", "/incidents", f"/incidents/{incident['number']}", "/oncall",
             f"/schedules/{world['schedule']}", "/services", f"/services/{world['service']['id']}",
             "/analytics", "/mail", "/login"]  # fmt: skip
    for path in paths:
        response = await admin.client.get(path)
        assert response.status_code in (200, 303), (path, response.text[:500])
        csp = response.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "style-src 'self'" in csp, csp
        assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
        assert "frame-ancestors 'none'" in csp
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["x-frame-options"] == "DENY"
        assert response.headers["cache-control"] == "no-store"
        html = response.text
        # Every script is a file of ours; no style attribute or block the CSP would drop.
        assert all(src.startswith("/static/") for src in re.findall(r'<script src="([^"]+)"', html))
        assert not re.search(r"<script(?![^>]*\ssrc=)[^>]*>", html), path
        assert " style=" not in html and "<style" not in html, path
    asset = await admin.client.get("/static/app.js")
    assert asset.status_code == 200 and "text/javascript" in asset.headers["content-type"]
    assert (await admin.client.get("/static/..%2Frest.py")).status_code == 404


async def test_the_feed_resumes_from_the_stream_after_last_event_id(
    mesh: Mesh, admin: Console, service: dict[str, str]
) -> None:
    incident = await open_incident(mesh, service, "Queue backlog")
    before_ack = await last_sequence(mesh.ctx.bus)
    response = await admin.post(f"/incidents/{incident['id']}/acknowledge", json_answer=True)
    assert response.status_code == 202, response.text
    await eventually(lambda: status_is(mesh, incident["id"], "acknowledged"))

    # A browser that saw everything up to `before_ack` and lost its connection comes back:
    # the acknowledgement it missed is what it gets, with a later sequence as its id.
    headers = {"Last-Event-ID": str(before_ack), "Accept": "text/event-stream"}
    async with admin.client.stream("GET", "/ui/events", headers=headers) as stream:
        assert stream.status_code == 200
        assert stream.headers["content-type"].startswith("text/event-stream")
        event = await next_event(stream, lambda e: e["data"]["incident"]["id"] == incident["id"])
    assert event["data"]["event"] == "acknowledged"
    assert int(event["id"]) > before_ack
    assert event["data"]["incident"]["status"] == "acknowledged"


async def test_the_feed_shows_a_responder_only_their_teams_incidents(
    http_base: str, mesh: Mesh
) -> None:
    mine, theirs = await mesh.create_team(), await mesh.create_team()
    own = await mesh.create_service(team_id=mine)
    other = await mesh.create_service(team_id=theirs)
    session = await console(http_base, mesh, "responder", [mine])
    async with session.client.stream("GET", "/ui/events") as stream:
        lines = stream.aiter_lines()
        assert (await anext(lines)).startswith("retry:")
        foreign = await open_incident(mesh, other, "Not yours")
        visible = await open_incident(mesh, own, "Yours")
        seen = await next_event(stream, lambda e: True, lines)
    # Another team's incident came first and was not shown; one's own came through.
    assert seen["data"]["incident"]["id"] == visible["id"] != foreign["id"]
    await session.client.aclose()


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


async def test_action_forms_send_commands_and_go_back(
    mesh: Mesh, admin: Console, service: dict[str, str]
) -> None:
    incident = await open_incident(mesh, service, "Latency high")
    ref = incident["id"]
    # Without JavaScript: a plain form post, then back to where the person was.
    response = await admin.post(
        f"/incidents/{ref}/note", {"note": "Looking at the LB", "next": "/incidents"}
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/incidents?flash=note"
    response = await admin.post(
        f"/incidents/{ref}/escalate", {"escalation_level": "2"}, json_answer=True
    )
    assert response.status_code == 202
    response = await admin.post(f"/incidents/{ref}/reassign", {"assignee_id": ""}, json_answer=True)
    assert response.status_code == 422 and response.json()["error"]["field"] == "assignee_id"
    # Somewhere off-site is never a place to go back to.
    response = await admin.post(f"/incidents/{ref}/resolve", {"next": "//evil.example/x"})
    assert response.status_code == 303
    assert response.headers["location"] == f"/incidents/{incident['number']}?flash=resolve"
    await eventually(lambda: status_is(mesh, ref, "resolved"))
    page = await admin.client.get(f"/incidents/{incident['number']}")
    assert "Looking at the LB" in page.text
    assert "escalated" in page.text.lower()
    assert admin.person.username.split("-")[0] in page.text  # the timeline names who acted
    assert 'data-action="acknowledge"' not in page.text  # nothing left to do on a resolved one


async def test_a_form_without_the_csrf_token_changes_nothing(
    mesh: Mesh, admin: Console, service: dict[str, str]
) -> None:
    incident = await open_incident(mesh, service, "CSRF target")
    response = await admin.client.post(
        f"/incidents/{incident['id']}/resolve", data={"csrf_token": "forged"},
        headers={"Accept": "application/json"},
    )  # fmt: skip
    assert response.status_code == 403 and response.json()["error"]["field"] == "csrf_token"
    response = await admin.client.post(f"/incidents/{incident['id']}/resolve")
    assert response.status_code == 403
    assert await status_is(mesh, incident["id"], "triggered")


async def test_bulk_acknowledge_then_resolve(
    mesh: Mesh, admin: Console, service: dict[str, str]
) -> None:
    first = await open_incident(mesh, service, "One")
    second = await open_incident(mesh, service, "Two")
    ids = [first["id"], second["id"]]
    response = await admin.post(
        "/incidents/bulk", {"action": "acknowledge", "incident_id": ids}, json_answer=True
    )
    assert response.status_code == 202, response.text
    for ref in ids:
        await eventually(lambda ref=ref: status_is(mesh, ref, "acknowledged"))
    response = await admin.post("/incidents/bulk", {"action": "resolve", "incident_id": ids})
    assert response.status_code == 303
    for ref in ids:
        await eventually(lambda ref=ref: status_is(mesh, ref, "resolved"))
    response = await admin.post(
        "/incidents/bulk", {"action": "delete", "incident_id": ids}, json_answer=True
    )
    assert response.status_code == 422 and response.json()["error"]["field"] == "action"


async def test_roles_decide_what_the_pages_offer(http_base: str, mesh: Mesh) -> None:
    team, other_team = await mesh.create_team(), await mesh.create_team()
    service = await mesh.create_service(team_id=team)
    incident = await open_incident(mesh, service, "Who may act")
    page_path = f"/incidents/{incident['number']}"
    viewer = await console(http_base, mesh, "viewer", [team])
    responder = await console(http_base, mesh, "responder", [team])
    outsider = await console(http_base, mesh, "responder", [other_team])
    try:
        seen = await viewer.client.get(page_path)
        assert seen.status_code == 200 and "Who may act" in seen.text
        assert "data-action=" not in seen.text and "Add a note" not in seen.text
        assert 'data-action="acknowledge"' not in (await viewer.client.get("/")).text
        refused = await viewer.post(f"/incidents/{incident['id']}/acknowledge", json_answer=True)
        assert refused.status_code == 403
        assert 'data-action="acknowledge"' in (await responder.client.get(page_path)).text
        # Another team's responder does not even learn the incident exists.
        assert (await outsider.client.get(page_path)).status_code == 404
        assert (
            f'data-incident="{incident["id"]}"'
            not in (await outsider.client.get("/incidents")).text
        )
        # Keys are the admins': a responder sees the key masked, with no way to reveal it.
        service_page = await responder.client.get(f"/services/{service['id']}?reveal=1")
        assert service["key"] not in service_page.text and "Rotate key" not in service_page.text
    finally:
        for session in (viewer, responder, outsider):
            await session.client.aclose()
    assert await status_is(mesh, incident["id"], "triggered")


async def test_incidents_list_filters_and_pages(
    mesh: Mesh, admin: Console, service: dict[str, str]
) -> None:
    for n in range(3):
        await open_incident(mesh, service, f"Filtered {n}")
    response = await admin.client.get(
        "/incidents", params={"service_id": service["id"], "status": "triggered", "limit": 25}
    )
    assert response.status_code == 200
    assert response.text.count('<tr data-incident="') == 3
    assert "1–3 of 3" in response.text


async def test_override_form_reads_times_on_the_schedule_clock(mesh: Mesh, admin: Console) -> None:
    world = await seed_world(mesh.api, secrets.token_hex(3))
    schedule = world["schedule"]
    day = (datetime.now(UTC) + timedelta(days=5)).strftime("%Y-%m-%d")
    form = {"user_id": world["people"]["grace"], "start": f"{day}T08:00", "end": f"{day}T12:00"}
    response = await admin.post(f"/schedules/{schedule}/overrides", form)
    assert response.status_code == 303, response.text
    overrides = (await mesh.api.get(f"/api/v1/schedules/{schedule}/overrides")).json()
    mine = [o for o in overrides if o["user_id"] == world["people"]["grace"]]
    assert len(mine) == 1
    paris = ZoneInfo("Europe/Paris")
    expected = datetime.fromisoformat(f"{day}T08:00").replace(tzinfo=paris)
    assert datetime.fromisoformat(mine[0]["start"]) == expected
    # The same hours again overlap: the page says why instead of failing.
    response = await admin.post(f"/schedules/{schedule}/overrides", form)
    assert response.status_code == 409
    assert 'role="alert"' in response.text and "overlap" in response.text.lower()


async def test_schedule_page_says_who_is_on_call(mesh: Mesh, admin: Console) -> None:
    world = await seed_world(mesh.api, secrets.token_hex(3))
    now = (await mesh.api.get("/api/v1/oncall", params={"schedule": world["schedule"]})).json()
    expected = now["oncall"][0]["user"]["name"]
    page = await admin.client.get(f"/schedules/{world['schedule']}")
    assert re.search(r'id="on-call-now">On call now:\s*<strong>' + re.escape(expected), page.text)
    overview = await admin.client.get("/oncall")
    assert expected in overview.text


async def test_rotating_the_key_gives_a_new_one(
    mesh: Mesh, admin: Console, service: dict[str, str]
) -> None:
    response = await admin.post(f"/services/{service['id']}/rotate-key")
    assert response.status_code == 303
    revealed = await admin.client.get(response.headers["location"])
    new_key = re.search(r'id="integration-key" class="key">([0-9a-f]{32})<', revealed.text)
    assert new_key and new_key.group(1) != service["key"]
    assert f"/api/v1/integrations/alertmanager/{new_key.group(1)}" in revealed.text
    sent = await mesh.api.post("/v2/enqueue", json=pd_event(new_key.group(1), dedup_key="rotated"))
    assert sent.status_code == 202


async def test_dashboard_counts_the_days_incidents_and_alerts_exactly(
    http_base: str, mesh: Mesh
) -> None:
    team = await mesh.create_team()
    service = await mesh.create_service(team_id=team)
    session = await console(http_base, mesh, "viewer", [team])

    async def figures() -> dict[str, int]:
        page = (await session.client.get("/")).text
        found = re.findall(r'<span class="label">([^<]+)</span><span class="value">(\d+)<', page)
        return {label: int(value) for label, value in found}

    # Services of no team are everyone's, so other tests' incidents count too: compare before
    # and after this test's own one incident of three alerts.
    before = await figures()
    for _ in range(3):
        sent = await mesh.api.post("/v2/enqueue", json=pd_event(service["key"], dedup_key="same"))
        assert sent.status_code == 202

    async def three_alerts() -> bool:
        rows = await mesh.incidents(service["id"])
        return len(rows) == 1 and rows[0]["alert_count"] == 3

    await eventually(three_alerts)
    after = await figures()
    await session.client.aclose()
    assert after["Incidents, 24 h"] - before["Incidents, 24 h"] == 1, (before, after)
    assert after["Alerts received, 24 h"] - before["Alerts received, 24 h"] == 3, (before, after)
