"""Accounts, tokens, cookies, API tokens, integration keys, limits and the audit log, as a
client sees them."""

from __future__ import annotations

import dataclasses
import secrets
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import httpx
import jwt
import pytest
from pydantic import SecretStr
from sqlalchemy import text

from app.http import create_app
from oncallnova.security.guard import security_of
from oncallnova.security.tokens import issue_access_token
from tests.helpers import Mesh, eventually, login, pd_event


@pytest.fixture
async def from_address(mesh: Mesh):  # type: ignore[no-untyped-def]
    """Clients each from an address of its own, so rate limits do not spill over other tests."""
    clients: list[httpx.AsyncClient] = []

    def make() -> httpx.AsyncClient:
        address = f"10.{secrets.randbelow(250)}.{secrets.randbelow(250)}.{len(clients) + 1}"
        transport = httpx.ASGITransport(app=mesh.app, client=(address, 4000))
        client = httpx.AsyncClient(transport=transport, base_url="http://oncallnova")
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.aclose()


@pytest.fixture
async def person(mesh: Mesh) -> AsyncIterator[dict[str, str]]:
    """A responder made by an admin through the API, with a password."""
    password = "a-long-password-" + secrets.token_hex(4)
    username = f"ada-{secrets.token_hex(4)}"
    response = await mesh.api.post(
        "/api/v1/users",
        json={
            "name": "Ada",
            "email": f"{username}@example.com",
            "username": username,
            "role": "responder",
            "password": password,
        },
    )
    assert response.status_code == 201, response.text
    assert "password" not in response.text and "argon2" not in response.text
    yield {"id": response.json()["id"], "username": username, "password": password}


async def test_login_gives_an_hs256_jwt_with_the_claims(
    mesh: Mesh, person: dict[str, str], from_address
) -> None:  # type: ignore[no-untyped-def]
    client = from_address()
    response = await client.post(
        "/api/v1/auth/login", json={"username": person["username"], "password": person["password"]}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["token_type"] == "bearer" and body["expires_in"] == 24 * 3600
    assert jwt.get_unverified_header(body["access_token"])["alg"] == "HS256"
    claims = jwt.decode(body["access_token"], options={"verify_signature": False})
    assert claims["sub"] == person["id"] and claims["role"] == "responder"
    assert claims["exp"] - claims["iat"] == 24 * 3600 and claims["jti"]
    cookie = response.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie
    # Login by email works too.
    by_email = await client.post(
        "/api/v1/auth/login",
        json={"username": f"{person['username']}@example.com", "password": person["password"]},
    )
    assert by_email.status_code == 200


async def test_wrong_password_and_unknown_user_look_the_same(
    person: dict[str, str], from_address
) -> None:  # type: ignore[no-untyped-def]
    client = from_address()
    wrong = await client.post(
        "/api/v1/auth/login", json={"username": person["username"], "password": "not-it-at-all"}
    )
    unknown = await client.post(
        "/api/v1/auth/login", json={"username": "nobody-" + secrets.token_hex(3), "password": "x"}
    )
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json()
    assert wrong.headers["www-authenticate"].startswith("Bearer")


@pytest.fixture
async def strict_app(mesh: Mesh):  # type: ignore[no-untyped-def]
    """The HTTP app with low login limits (3 per address, 3 failures per username a minute),
    and a security service of its own, so every guess costs one argon2 check, not dozens."""
    settings = mesh.ctx.settings.model_copy(
        update={"login_rate_per_ip": 3, "login_failures_per_username": 3}
    )
    ctx = dataclasses.replace(mesh.ctx, settings=settings, extras={})
    yield create_app(ctx, ["incidents"])


async def test_brute_force_login_gets_429_with_retry_after(
    person: dict[str, str], strict_app
) -> None:  # type: ignore[no-untyped-def]
    def client(address: str) -> httpx.AsyncClient:
        transport = httpx.ASGITransport(app=strict_app, client=(address, 4000))
        return httpx.AsyncClient(transport=transport, base_url="http://oncallnova")

    async def attempt(address: str, username: str, password: str = "guess-guess") -> httpx.Response:
        async with client(address) as c:
            return await c.post(
                "/api/v1/auth/login", json={"username": username, "password": password}
            )

    # Limits count in one-minute windows: a window may end mid-test, so each loop goes on
    # until the limit must have been reached even across one boundary.
    # Per username, from a new address each time: past 3 failures a minute, refused.
    statuses: list[int] = []
    while 429 not in statuses and len(statuses) < 7:
        response = await attempt(f"10.1.0.{len(statuses) + 1}", person["username"])
        statuses.append(response.status_code)
    assert statuses[:3] == [401] * 3 and statuses[-1] == 429, statuses
    assert 1 <= int(response.headers["retry-after"]) <= 60
    # Even the right password waits now: the guesser cannot tell it found it.
    right = await attempt("10.1.1.1", person["username"], person["password"])
    assert right.status_code == 429
    # Per address: one client trying a new username each time, 3 a minute.
    codes: list[int] = []
    while 429 not in codes and len(codes) < 7:
        response = await attempt("10.2.0.1", f"nobody-{len(codes)}-{secrets.token_hex(3)}")
        codes.append(response.status_code)
    assert codes[:3] == [401] * 3 and codes[-1] == 429, codes
    assert int(response.headers["retry-after"]) >= 1


async def test_logout_revokes_the_token(mesh: Mesh, person: dict[str, str]) -> None:
    token = await login(mesh.anonymous, person["username"], person["password"])
    async with mesh.client_for(token) as client:
        assert (await client.get("/api/v1/auth/me")).status_code == 200
        assert (await client.post("/api/v1/auth/logout")).status_code == 204
        after = await client.get("/api/v1/auth/me")
    assert after.status_code == 401 and after.headers["www-authenticate"].startswith("Bearer")


async def test_cookie_sessions_need_the_csrf_header_for_writes(
    mesh: Mesh, person: dict[str, str], from_address
) -> None:  # type: ignore[no-untyped-def]
    browser = from_address()
    response = await browser.post(
        "/api/v1/auth/login", json={"username": person["username"], "password": person["password"]}
    )
    assert response.status_code == 200
    csrf = browser.cookies["oncallnova_csrf"]
    assert (await browser.get("/api/v1/auth/me")).json()["id"] == person["id"]  # cookie alone
    path = f"/api/v1/users/{person['id']}"
    forged = await browser.patch(path, json={"name": "Mallory was here"})
    assert forged.status_code == 403 and forged.json()["error"]["field"] == "X-CSRF-Token"
    wrong = await browser.patch(path, json={"name": "x"}, headers={"X-CSRF-Token": "0" * 64})
    assert wrong.status_code == 403
    ok = await browser.patch(path, json={"name": "Ada L."}, headers={"X-CSRF-Token": csrf})
    assert ok.status_code == 200 and ok.json()["name"] == "Ada L."


async def test_changing_ones_password_ends_older_tokens(mesh: Mesh, person: dict[str, str]) -> None:
    security = await security_of(mesh.ctx)
    earlier = datetime.now(UTC) - timedelta(seconds=30)
    old, _ = issue_access_token(security.secret, person["id"], "responder", earlier, 3600)
    token = await login(mesh.anonymous, person["username"], person["password"])
    async with mesh.client_for(token) as client:
        wrong = await client.post(
            "/api/v1/auth/password",
            json={"current_password": "not-mine-at-all", "new_password": "another-long-one"},
        )
        assert wrong.status_code == 403 and wrong.json()["error"]["field"] == "current_password"
        short = await client.post(
            "/api/v1/auth/password",
            json={"current_password": person["password"], "new_password": "short"},
        )
        assert short.status_code == 422 and short.json()["error"]["field"] == "new_password"
        changed = await client.post(
            "/api/v1/auth/password",
            json={"current_password": person["password"], "new_password": "another-long-one"},
        )
        assert changed.status_code == 204
    async with mesh.client_for(old) as client:
        assert (await client.get("/api/v1/auth/me")).status_code == 401
    assert await login(mesh.anonymous, person["username"], "another-long-one")


async def test_roles_and_fields_a_role_may_not_set(mesh: Mesh, person: dict[str, str]) -> None:
    token = await login(mesh.anonymous, person["username"], person["password"])
    async with mesh.client_for(token) as client:
        promote = await client.patch(f"/api/v1/users/{person['id']}", json={"role": "admin"})
        assert promote.status_code == 403 and promote.json()["error"]["field"] == "role"
        create = await client.post(
            "/api/v1/users", json={"name": "X", "email": "x@example.com", "role": "admin"}
        )
        assert create.status_code == 403
        team_b = await mesh.create_team()
        schedule = await client.post(
            "/api/v1/schedules", json={"name": "not mine", "time_zone": "UTC", "team_id": team_b}
        )
        assert schedule.status_code == 403 and schedule.json()["error"]["field"] == "team_id"
    # An admin may, and a demotion takes effect on the next request with the same token.
    promoted = await mesh.api.patch(f"/api/v1/users/{person['id']}", json={"role": "viewer"})
    assert promoted.status_code == 200 and promoted.json()["role"] == "viewer"
    async with mesh.client_for(token) as client:
        me = await client.get("/api/v1/auth/me")
        assert me.json()["role"] == "viewer"


async def test_the_last_admin_cannot_be_removed(mesh: Mesh) -> None:
    demote = await mesh.api.patch(f"/api/v1/users/{mesh.admin_id}", json={"role": "viewer"})
    assert demote.status_code == 409 and demote.json()["error"]["field"] == "role"
    assert (await mesh.api.delete(f"/api/v1/users/{mesh.admin_id}")).status_code == 409


async def test_api_tokens_are_shown_once_scoped_and_revocable(
    mesh: Mesh, person: dict[str, str]
) -> None:
    token = await login(mesh.anonymous, person["username"], person["password"])
    async with mesh.client_for(token) as client:
        above = await client.post("/api/v1/api_tokens", json={"name": "ci", "role": "admin"})
        assert above.status_code == 403 and above.json()["error"]["field"] == "role"
        made = await client.post("/api/v1/api_tokens", json={"name": "ci", "role": "viewer"})
        assert made.status_code == 201
        secret_token = made.json()["token"]
        listed = (await client.get("/api/v1/api_tokens")).json()
        assert [t["id"] for t in listed] == [made.json()["id"]]
        assert secret_token not in str(listed)
    async with mesh.client_for(secret_token) as program:
        me = (await program.get("/api/v1/auth/me")).json()
        assert me["role"] == "viewer" and me["via"] == "api_token"
        # Scoped to viewer although its user is a responder.
        assert (await program.post("/api/v1/teams", json={"name": "t"})).status_code == 403
        assert (await mesh.api.delete(f"/api/v1/api_tokens/{made.json()['id']}")).status_code == 204
        assert (await program.get("/api/v1/auth/me")).status_code == 401
    async with mesh.client_for(token) as client:
        listed = (await client.get("/api/v1/api_tokens")).json()
        assert listed[0]["revoked_at"] is not None


async def test_team_scoping_hides_other_teams_services_and_incidents(mesh: Mesh) -> None:
    team_a, team_b = await mesh.create_team(), await mesh.create_team()
    service_a = await mesh.create_service(team_id=team_a)
    service_b = await mesh.create_service(team_id=team_b)
    for service in (service_a, service_b):
        await mesh.anonymous.post("/v2/enqueue", json=pd_event(service["key"], dedup_key="scope"))
        await eventually(lambda s=service: mesh.incidents(s["id"]))
    viewer_a = await mesh.token_for(await mesh.create_user("viewer", [team_a]))
    async with mesh.client_for(viewer_a) as client:
        services = {s["id"] for s in (await client.get("/api/v1/services")).json()}
        assert service_a["id"] in services and service_b["id"] not in services
        listed = (await client.get("/api/v1/incidents", params={"limit": 500})).json()
        assert {i["service_id"] for i in listed["incidents"]} <= services
        assert service_b["id"] not in {i["service_id"] for i in listed["incidents"]}
        asked = await client.get(
            "/api/v1/incidents", params={"service_id": service_b["id"], "limit": 500}
        )
        assert asked.json()["incidents"] == []
        [incident_b] = await mesh.incidents(service_b["id"])
        assert (await client.get(f"/api/v1/incidents/{incident_b['id']}")).status_code == 404
        by_number = await client.get(f"/api/v1/incidents/{incident_b['number']}")
        assert by_number.status_code == 404
        assert (await client.get(f"/api/v1/services/{service_b['id']}")).status_code == 404


async def test_a_key_for_service_a_cannot_post_to_service_b(mesh: Mesh) -> None:
    service_a, service_b = await mesh.create_service(), await mesh.create_service()
    anonymous = mesh.anonymous
    key_a = service_a["key"]
    sent = [
        await anonymous.post("/v2/enqueue", json=pd_event(key_a, dedup_key="a-1")),
        await anonymous.post(
            "/api/v1/alerts",
            json={"summary": "to b?", "service_id": service_b["id"]},
            headers={"Authorization": f"Bearer {key_a}"},
        ),
        await anonymous.post(
            f"/api/v1/integrations/grafana/{key_a}",
            json={"status": "firing", "alerts": []},
        ),
    ]
    assert [r.status_code for r in sent[:2]] == [202, 202]
    await eventually(lambda: mesh.incidents(service_a["id"]))
    assert await mesh.incidents(service_b["id"]) == []
    # A wrong key is refused without echoing it back.
    guess = service_b["key"][:-1] + ("0" if service_b["key"][-1] != "0" else "1")
    refused = await anonymous.post("/v2/enqueue", json=pd_event(guess))
    assert refused.status_code == 400 and guess not in refused.text


async def test_rotated_key_works_during_its_overlap_only(mesh: Mesh) -> None:
    service = await mesh.create_service()
    old = service["key"]
    rotated = await mesh.api.post(
        f"/api/v1/services/{service['id']}/integration_key/rotate", json={"overlap_seconds": 600}
    )
    assert rotated.status_code == 200, rotated.text
    new = rotated.json()["integration_key"]
    assert new != old and len(new) == 32 and rotated.json()["previous_key_expires_at"]
    for key in (old, new):
        response = await mesh.anonymous.post("/v2/enqueue", json=pd_event(key))
        assert response.status_code == 202, key
    again = await mesh.api.post(
        f"/api/v1/services/{service['id']}/integration_key/rotate", json={"overlap_seconds": 0}
    )
    newest = again.json()["integration_key"]

    async def refused(key: str) -> bool:
        return (await mesh.anonymous.post("/v2/enqueue", json=pd_event(key))).status_code == 400

    assert await eventually(lambda: refused(old), timeout=15)
    assert await eventually(lambda: refused(new), timeout=15)
    assert (await mesh.anonymous.post("/v2/enqueue", json=pd_event(newest))).status_code == 202


async def test_events_per_key_are_rate_limited(mesh: Mesh) -> None:
    service = await mesh.create_service()
    limited = dataclasses.replace(
        mesh.ctx, settings=mesh.ctx.settings.model_copy(update={"events_rate_limit": 3})
    )
    app = create_app(limited, ["ingestion"])
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://oncallnova"
    ) as client:
        codes = [
            (await client.post("/v2/enqueue", json=pd_event(service["key"]))).status_code
            for _ in range(5)
        ]
        last = await client.post("/v2/enqueue", json=pd_event(service["key"]))
    assert codes == [202, 202, 202, 429, 429]
    assert 1 <= int(last.headers["retry-after"]) <= 60


async def test_metrics_token_guards_metrics_when_set(mesh: Mesh) -> None:
    guarded = dataclasses.replace(
        mesh.ctx,
        settings=mesh.ctx.settings.model_copy(update={"metrics_token": SecretStr("m" * 24)}),
    )
    app = create_app(guarded, ["exporter"])
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://oncallnova"
    ) as client:
        assert (await client.get("/metrics")).status_code == 401
        wrong = await client.get("/metrics", headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401
        right = await client.get("/metrics", headers={"Authorization": "Bearer " + "m" * 24})
        assert right.status_code == 200
    assert (await mesh.anonymous.get("/metrics")).status_code == 200  # unset: public


async def test_answers_carry_security_headers(mesh: Mesh) -> None:
    response = await mesh.anonymous.get("/healthz")
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["referrer-policy"] == "no-referrer"


async def test_bodies_over_the_limit_get_413(mesh: Mesh) -> None:
    big = {"name": "x", "description": "y" * (mesh.ctx.settings.max_body_bytes + 10)}
    response = await mesh.api.post("/api/v1/teams", json=big)
    assert response.status_code == 413 and response.json()["error"]["field"] == "body"


async def test_writes_are_audited_with_before_after_and_no_secrets(mesh: Mesh) -> None:
    created = await mesh.api.post(
        "/api/v1/services",
        json={"name": f"audited-{secrets.token_hex(3)}", "webhook_secret": "s3cret-value"},
    )
    service_id = created.json()["id"]
    await mesh.api.patch(f"/api/v1/services/{service_id}", json={"description": "now described"})
    page = (await mesh.api.get("/api/v1/audit", params={"limit": 20})).json()
    patch = next(e for e in page["entries"] if e["path"] == f"/api/v1/services/{service_id}")
    assert patch["actor"] == f"user:{mesh.admin_id}" and patch["method"] == "PATCH"
    assert patch["route"] == "/api/v1/services/{service_id}" and patch["status"] == 200
    assert patch["address"]
    [change] = [c for c in patch["changes"] if c["table"] == "services"]
    assert change["before"] == {"description": None}
    assert change["after"] == {"description": "now described"}
    create = next(
        e for e in page["entries"] if e["path"] == "/api/v1/services" and e["status"] == 201
    )
    assert "s3cret-value" not in str(create) and created.json()["integration_key"] not in str(
        create
    )
    assert create["changes"][0]["after"]["webhook_secret"] == "[redacted]"
    viewer = await mesh.token_for(await mesh.create_user("viewer"))
    async with mesh.client_for(viewer) as client:
        assert (await client.get("/api/v1/audit")).status_code == 403
    # Append-only, in the database itself.
    with pytest.raises(Exception, match="append-only"):
        async with mesh.ctx.sessions.begin() as session:
            await session.execute(text("UPDATE audit_log SET actor = 'someone else'"))
    with pytest.raises(Exception, match="append-only"):
        async with mesh.ctx.sessions.begin() as session:
            await session.execute(text("DELETE FROM audit_log"))


async def test_schedule_feed_by_its_own_token(mesh: Mesh) -> None:
    user = await mesh.create_user("responder")
    schedule = (
        await mesh.api.post(
            "/api/v1/schedules",
            json={
                "name": f"feed-{secrets.token_hex(3)}",
                "time_zone": "UTC",
                "layers": [
                    {"users": [user], "rotation_start": "2024-01-01T09:00:00", "turn_unit": "days"}
                ],
            },
        )
    ).json()
    feed = (await mesh.api.get(f"/api/v1/schedules/{schedule['id']}/ical-feed")).json()
    calendar = await mesh.anonymous.get(feed["path"])
    assert calendar.status_code == 200 and calendar.text.startswith("BEGIN:VCALENDAR")
    bare = await mesh.anonymous.get(f"/api/v1/schedules/{schedule['id']}.ics")
    assert bare.status_code == 401
    wrong = await mesh.anonymous.get(f"/api/v1/schedules/{schedule['id']}.ics?token=nope")
    assert wrong.status_code == 401
    rotated = (await mesh.api.post(f"/api/v1/schedules/{schedule['id']}/ical-feed")).json()
    assert rotated["token"] != feed["token"]
    assert (await mesh.anonymous.get(feed["path"])).status_code == 401
    assert (await mesh.anonymous.get(rotated["path"])).status_code == 200


async def test_admin_creates_a_login_with_username_role_and_password(mesh: Mesh) -> None:
    username = f"grace-{secrets.token_hex(3)}"
    made = await mesh.api.post(
        "/api/v1/users",
        json={"username": username, "password": "grace-password", "role": "responder"},
    )
    assert made.status_code == 201, made.text
    assert made.json()["role"] == "responder" and made.json()["username"] == username
    assert "password" not in made.json()
    token = await login(mesh.anonymous, username, "grace-password")
    async with mesh.client_for(token) as client:
        assert (await client.get("/api/v1/auth/me")).json()["role"] == "responder"
    nameless = await mesh.api.post("/api/v1/users", json={"password": "x-long-password"})
    assert nameless.status_code == 422 and nameless.json()["error"]["field"] == "email"
