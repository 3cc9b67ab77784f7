"""Services over REST: create with a key, attach an escalation policy, refuse bad references."""

from __future__ import annotations

import secrets

import httpx

from tests.helpers import Mesh


def unique(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(4)}"


async def make_policy(api: httpx.AsyncClient) -> str:
    email = f"{unique('u')}@example.com"
    user = (await api.post("/api/v1/users", json={"name": "Ada", "email": email})).json()
    policy = {
        "name": unique("policy"),
        "levels": [{"delay_minutes": 5, "targets": [{"type": "user", "id": user["id"]}]}],
    }
    response = await api.post("/api/v1/escalation_policies", json=policy)
    assert response.status_code == 201, response.text
    return response.json()["id"]


async def test_create_attach_policy_and_list(mesh: Mesh) -> None:
    name = unique("checkout")
    response = await mesh.api.post("/api/v1/services", json={"name": name})
    assert response.status_code == 201, response.text
    service = response.json()
    assert len(service["integration_key"]) == 32
    assert service["escalation_policy_id"] is None

    policy_id = await make_policy(mesh.api)
    response = await mesh.api.patch(
        f"/api/v1/services/{service['id']}", json={"escalation_policy_id": policy_id}
    )
    assert response.status_code == 200, response.text
    got = (await mesh.api.get(f"/api/v1/services/{service['id']}")).json()
    assert got["escalation_policy_id"] == policy_id
    assert got["integration_key"] == service["integration_key"]
    listed = (await mesh.api.get("/api/v1/services")).json()
    assert name in [s["name"] for s in listed]


async def test_bad_service_input_names_the_field(mesh: Mesh) -> None:
    name = unique("dup")
    assert (await mesh.api.post("/api/v1/services", json={"name": name})).status_code == 201
    cases = [
        ({"name": name}, 409, "name"),
        ({"name": ""}, 422, "name"),
        ({"name": unique("x"), "escalation_policy_id": "nope"}, 422, "escalation_policy_id"),
        ({"name": unique("x"), "colour": "red"}, 422, "colour"),
    ]
    for body, status, field in cases:
        response = await mesh.api.post("/api/v1/services", json=body)
        assert response.status_code == status, (body, response.text)
        assert response.json()["error"]["field"] == field, response.text
    missing = await mesh.api.get("/api/v1/services/00000000-0000-0000-0000-000000000000")
    assert missing.status_code == 404
    assert missing.json()["error"]["field"] == "service_id"
    # Nothing half-written: only the first service by that name exists.
    listed = [s["name"] for s in (await mesh.api.get("/api/v1/services")).json()]
    assert listed.count(name) == 1
