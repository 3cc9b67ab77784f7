"""The authorization matrix: every REST route of the OpenAPI document and every gRPC method,
called as nobody, with broken tokens, and as each kind of person, and each answer checked.

Identities: no token, an expired token, one signed with another secret, an `alg: none` one, a
revoked one, a viewer of team A, a responder of team B, a responder of team A, an admin. The
objects named in paths (incident, service, schedule, …) belong to team A.
"""

from __future__ import annotations

import base64
import json
import re
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import grpc
import httpx
import pytest
from fastapi.routing import APIRoute
from google.protobuf import message_factory

from oncallnova.security.guard import security_of
from oncallnova.security.rules import GRPC_RULES, REST_RULES, Rule, grpc_rule, rest_rule
from oncallnova.security.tokens import issue_access_token
from proto import incidents_pb2, ingestion_pb2, oncall_pb2
from tests.helpers import Mesh, bearer_channel, eventually, pd_event

BROKEN = ("none", "expired", "other_secret", "alg_none", "revoked")
PEOPLE = ("viewer", "responder_b", "responder_a", "admin")
IDENTITIES = BROKEN + PEOPLE
GRPC_MODULES = (incidents_pb2, ingestion_pb2, oncall_pb2)


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def alg_none_token(user_id: str) -> str:
    now = int(datetime.now(UTC).timestamp())
    claims = {"sub": user_id, "role": "admin", "iat": now, "exp": now + 3600, "jti": "x"}
    return f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(claims)}."


@dataclass
class World:
    mesh: Mesh
    tokens: dict[str, str | None]
    ids: dict[str, str]
    # Throwaway objects for DELETE routes, so deleting does not break later calls.
    doomed: dict[str, str]
    # Each person's user id, for fresh tokens where a call revokes the one it used (logout).
    people: dict[str, str]


async def _post(api: httpx.AsyncClient, path: str, body: dict[str, Any]) -> dict[str, Any]:
    response = await api.post(path, json=body)
    assert response.status_code in (200, 201), response.text
    return response.json()


def _layer(user_id: str) -> dict[str, Any]:
    return {"users": [user_id], "rotation_start": "2024-01-01T09:00:00", "turn_unit": "days"}


@pytest.fixture(scope="module")
async def world(mesh: Mesh) -> AsyncIterator[World]:
    api = mesh.api
    team_a, team_b = await mesh.create_team(), await mesh.create_team()
    viewer = await mesh.create_user("viewer", [team_a])
    responder_a = await mesh.create_user("responder", [team_a])
    responder_b = await mesh.create_user("responder", [team_b])
    admin_id = (await api.get("/api/v1/auth/me")).json()["id"]
    service = await mesh.create_service(team_id=team_a)
    await api.post("/v2/enqueue", json=pd_event(service["key"], dedup_key="matrix"))
    [incident] = await eventually(lambda: mesh.incidents(service["id"]))

    def schedule_body() -> dict[str, Any]:
        return {
            "name": f"matrix-{secrets.token_hex(4)}",
            "time_zone": "UTC",
            "team_id": team_a,
            "layers": [_layer(responder_a)],
        }

    override = {
        "user_id": responder_a,
        "start": "2030-01-01T00:00:00Z",
        "end": "2030-01-02T00:00:00Z",
    }
    schedule = await _post(api, "/api/v1/schedules", schedule_body())
    doomed_schedule = await _post(api, "/api/v1/schedules", schedule_body())
    doomed_override = await _post(
        api, f"/api/v1/schedules/{doomed_schedule['id']}/overrides", override
    )
    policy_body = {
        "name": f"matrix-{secrets.token_hex(4)}",
        "levels": [{"delay_minutes": 5, "targets": [{"type": "user", "id": responder_a}]}],
    }
    policy = await _post(api, "/api/v1/escalation_policies", policy_body)
    doomed_policy = await _post(
        api,
        "/api/v1/escalation_policies",
        {**policy_body, "name": f"doomed-{secrets.token_hex(4)}"},
    )
    api_token = await _post(api, "/api/v1/api_tokens", {"name": "matrix", "role": "viewer"})

    security = await security_of(mesh.ctx)
    revoked = security.issue(admin_id, "admin").token
    async with mesh.client_for(revoked) as client:
        assert (await client.post("/api/v1/auth/logout")).status_code == 204
    past = datetime.now(UTC) - timedelta(days=2)
    tokens: dict[str, str | None] = {
        "none": None,
        "expired": issue_access_token(security.secret, admin_id, "admin", past, 3600)[0],
        "other_secret": issue_access_token(
            secrets.token_bytes(32), admin_id, "admin", datetime.now(UTC), 3600
        )[0],
        "alg_none": alg_none_token(admin_id),
        "revoked": revoked,
        "viewer": await mesh.token_for(viewer),
        "responder_b": await mesh.token_for(responder_b),
        "responder_a": await mesh.token_for(responder_a),
        "admin": mesh.admin_token,
    }
    ids = {
        "ref": incident["id"],
        "service_id": service["id"],
        "integration_key": service["key"],
        "user_id": responder_a,
        "team_id": team_a,
        "schedule_id": schedule["id"],
        "layer_id": schedule["layers"][0]["id"],
        "override_id": "00000000-0000-0000-0000-000000000000",
        "policy_id": policy["id"],
        "level": "1",
        "token_id": api_token["id"],
    }
    doomed = {
        "user_id": await mesh.create_user("viewer"),
        "team_id": await mesh.create_team(),
        "schedule_id": doomed_schedule["id"],
        "override_id": doomed_override["id"],
        "policy_id": doomed_policy["id"],
        "token_id": (await _post(api, "/api/v1/api_tokens", {"name": "doomed"}))["id"],
    }
    people = {
        "viewer": viewer,
        "responder_b": responder_b,
        "responder_a": responder_a,
        "admin": admin_id,
    }
    yield World(mesh, tokens, ids, doomed, people)


def bodies(world: World) -> dict[str, Any]:
    """Small valid bodies for the writes whose object-level check needs a valid body."""
    ids = world.ids
    return {
        "POST /api/v1/incidents/{ref}/notes": {"note": "looking"},
        "POST /api/v1/incidents/{ref}/reassign": {"assignee_id": ids["user_id"]},
        "POST /api/v1/schedules/{schedule_id}/layers": _layer(ids["user_id"]),
        "PUT /api/v1/schedules/{schedule_id}/layers/{layer_id}": _layer(ids["user_id"]),
        "POST /api/v1/schedules/{schedule_id}/overrides": {
            "user_id": ids["user_id"],
            "start": f"2031-0{secrets.randbelow(9) + 1}-01T00:00:00Z",
            "end": "2031-12-01T00:00:00Z",
        },
        "POST /api/v1/auth/login": {"username": "nobody", "password": "wrong-password"},
    }


def path_for(template: str, method: str, world: World) -> str:
    values = world.doomed if method == "DELETE" else {}
    path = template
    for name, value in world.ids.items():
        path = path.replace("{" + name + "}", values.get(name, value))
    # A parameter the world has no object for (a route added since) gets an id that names
    # nothing: the call still shows who is let in, and that nothing answers 5xx.
    return re.sub(r"\{[^}]+\}", "00000000-0000-0000-0000-000000000000", path)


def openapi_routes(world: World) -> list[tuple[str, str]]:
    document = world.mesh.app.openapi()
    found = []
    for template, operations in document["paths"].items():
        for method in operations:
            found.append((method.upper(), template))
    # Deletes last, so they do not remove what later calls name; logout (which revokes the
    # token it is called with) after everything.
    return sorted(found, key=lambda r: (r[1].endswith("/logout"), r[0] == "DELETE", r[1], r[0]))


# --- every route has a rule ----------------------------------------------------------------


def app_routes(app: Any) -> list[tuple[str, str, str]]:
    """(method, full path, the path the authorization dependency sees) of every API route,
    hidden ones included."""
    try:
        from fastapi.routing import iter_route_contexts
    except ImportError:  # FastAPI before lazily included routers
        pairs = [(r, r.path) for r in app.routes]
    else:
        pairs = [(c.original_route, c.path) for c in iter_route_contexts(app.routes)]
    return [
        (method, full, route.path)
        for route, full in pairs
        if isinstance(route, APIRoute)
        for method in route.methods
    ]


def test_every_route_of_the_app_has_a_rule(mesh: Mesh) -> None:
    routes = app_routes(mesh.app)
    assert len(routes) > 50
    missing = [f"{m} {full}" for m, full, _ in routes if rest_rule(m, full) is None]
    assert not missing, f"routes without a rule in oncallnova/security/rules.py: {missing}"
    # The dependency looks rules up by the route's own path: a router included with a
    # prefix would make the two differ (and its routes would be refused).
    assert [(m, full) for m, full, seen in routes if full != seen] == []
    # And the table names no route that is gone.
    present = {f"{m} {full}" for m, full, _ in routes}
    assert set(REST_RULES) <= present, set(REST_RULES) - present


def grpc_methods() -> list[tuple[str, Any, Any]]:
    found = []
    for module in GRPC_MODULES:
        for service in module.DESCRIPTOR.services_by_name.values():
            for method in service.methods:
                found.append(
                    (
                        f"/{service.full_name}/{method.name}",
                        message_factory.GetMessageClass(method.input_type),
                        message_factory.GetMessageClass(method.output_type),
                    )
                )
    return found


def test_every_grpc_method_has_a_rule() -> None:
    names = {name for name, _, _ in grpc_methods()}
    assert names, "no gRPC method found"
    assert not names - set(GRPC_RULES), f"gRPC methods without a rule: {names - set(GRPC_RULES)}"
    assert not set(GRPC_RULES) - names


# --- the REST matrix ----------------------------------------------------------------------


def expected_rest(rule: Rule, template: str, identity: str) -> set[int] | None:
    """The statuses allowed for `identity` on a route; None = anything but 401/403/5xx."""
    if rule.public:
        return None
    if identity in BROKEN:
        return {401}
    role = {"viewer": 1, "responder_b": 2, "responder_a": 2, "admin": 3}[identity]
    if role < rule.role:
        return {403}
    if rule.owner and identity in ("viewer", "responder_b"):
        return {403}  # the path names responder A
    team_scoped = "{ref}" in template or "{service_id}" in template
    if identity == "responder_b" and team_scoped:
        return {404}  # another team's incident or service: as if it did not exist
    if identity == "responder_b" and "{schedule_id}" in template and rule.role > 1:
        return {403, 404, 422}  # another team's schedule: refused (403) once the body is valid
    return None


async def test_rest_matrix(world: World) -> None:
    failures: list[str] = []
    sample = bodies(world)
    calls = 0
    clients = {i: world.mesh.client_for(t) for i, t in world.tokens.items()}
    try:
        for method, template in openapi_routes(world):
            rule = rest_rule(method, template)
            assert rule is not None, f"{method} {template} has no rule"
            path = path_for(template, method, world)
            body = sample.get(f"{method} {template}")
            for identity in IDENTITIES:
                client = clients[identity]
                if template.endswith("/logout") and identity in PEOPLE:
                    # Logout revokes the token it is called with: spend a fresh one.
                    client = world.mesh.client_for(
                        await world.mesh.token_for(world.people[identity])
                    )
                # An admin's delete is the one that succeeds: run it after everyone else's.
                response = await client.request(
                    method, path, json=body if method in ("POST", "PUT", "PATCH") else None
                )
                calls += 1
                status = response.status_code
                where = f"{identity:12} {method} {template} -> {status} {response.text[:120]}"
                if status >= 500:
                    failures.append("5xx: " + where)
                    continue
                allowed = expected_rest(rule, template, identity)
                if allowed is None:
                    if not rule.public and status in (401, 403):
                        failures.append("refused: " + where)
                elif status not in allowed:
                    failures.append(f"expected {sorted(allowed)}: " + where)
                if status == 401 and response.headers.get("www-authenticate", "")[:6] != "Bearer":
                    failures.append("401 without WWW-Authenticate: Bearer: " + where)
                if "$argon2" in response.text:
                    failures.append("password hash in the answer: " + where)
    finally:
        for client in clients.values():
            await client.aclose()
    assert calls > 400
    assert not failures, "\n".join(failures)


# --- the gRPC matrix ----------------------------------------------------------------------


def grpc_request(request_class: Any, world: World) -> Any:
    request = request_class()
    fields = {f.name for f in request.DESCRIPTOR.fields}
    if "id" in fields:
        request.id = world.ids["ref"]
    if "schedule_id" in fields:
        request.schedule_id = world.ids["schedule_id"]
    if "start" in fields and "end" in fields:
        request.start, request.end = "2030-01-01T00:00:00+00:00", "2030-01-02T00:00:00+00:00"
    if "routing_key" in fields:
        request.routing_key = world.ids["integration_key"]
        request.event_action = "trigger"
        request.summary, request.source, request.severity = "matrix", "matrix", "info"
    if "integration_key" in fields:
        request.integration_key = world.ids["integration_key"]
        request.format = "generic"
        request.body = b'{"summary": "matrix"}'
    return request


def expected_grpc(rule: Rule, method: str, identity: str) -> set[grpc.StatusCode] | None:
    if rule.public:
        return None
    if identity in BROKEN:
        return {grpc.StatusCode.UNAUTHENTICATED}
    role = {"viewer": 1, "responder_b": 2, "responder_a": 2, "admin": 3}[identity]
    if role < rule.role:
        return {grpc.StatusCode.PERMISSION_DENIED}
    if identity == "responder_b" and "IncidentService/" in method and "List" not in method:
        return {grpc.StatusCode.NOT_FOUND}
    return None


async def test_grpc_matrix(world: World) -> None:
    port = world.mesh.platform.grpc_port
    assert port
    failures: list[str] = []
    for identity in IDENTITIES:
        async with bearer_channel(f"127.0.0.1:{port}", world.tokens[identity]) as channel:
            for method, request_class, response_class in grpc_methods():
                rule = grpc_rule(method)
                assert rule is not None
                call = channel.unary_unary(
                    method,
                    request_serializer=request_class.SerializeToString,
                    response_deserializer=response_class.FromString,
                )
                try:
                    await call(grpc_request(request_class, world), timeout=10)
                    code = grpc.StatusCode.OK
                except grpc.aio.AioRpcError as error:
                    code = error.code()
                where = f"{identity:12} {method} -> {code.name}"
                if code in (grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN):
                    failures.append("internal error: " + where)
                    continue
                allowed = expected_grpc(rule, method, identity)
                refusals = (grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED)
                if allowed is None:
                    if not rule.public and code in refusals:
                        failures.append("refused: " + where)
                elif code not in allowed:
                    failures.append(f"expected {[c.name for c in allowed]}: " + where)
    assert not failures, "\n".join(failures)
