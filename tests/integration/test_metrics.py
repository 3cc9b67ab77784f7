"""`/metrics` on the exporter: worker counters and the number of engineers on call now."""

from __future__ import annotations

import re
import secrets

from tests.helpers import Mesh, eventually, pd_event


def gauge(text: str, name: str) -> float:
    match = re.search(rf"^{name} ([0-9.e+]+)$", text, re.MULTILINE)
    assert match, f"{name} missing from /metrics"
    return float(match.group(1))


async def test_engineers_on_call_counts_a_new_rota(mesh: Mesh) -> None:
    before = gauge((await mesh.api.get("/metrics")).text, "oncall_oncall_engineers_active")
    users = []
    for name in ("ada", "grace"):
        response = await mesh.api.post(
            "/api/v1/users",
            json={"name": name, "email": f"{name}-{secrets.token_hex(3)}@example.com"},
        )
        assert response.status_code == 201, response.text
        users.append(response.json()["id"])
    schedule = {
        "name": f"primary-{secrets.token_hex(3)}",
        "time_zone": "Europe/Paris",
        # Weekly turns from long ago: exactly one of the two is on call at any moment.
        "layers": [{"users": users, "rotation_start": "2020-01-06T09:00:00", "turn_unit": "weeks"}],
    }
    response = await mesh.api.post("/api/v1/schedules", json=schedule)
    assert response.status_code == 201, response.text
    after = gauge((await mesh.api.get("/metrics")).text, "oncall_oncall_engineers_active")
    assert after == before + 1


async def test_worker_counters_move_with_alerts(mesh: Mesh, service: dict) -> None:
    def handled(text: str) -> float:
        return gauge(text, 'oncallnova_worker_messages_handled_total{worker="lifecycle"}')

    before = handled((await mesh.api.get("/metrics")).text)
    response = await mesh.api.post("/v2/enqueue", json=pd_event(service["key"], dedup_key="m"))
    assert response.status_code == 202
    await eventually(lambda: mesh.incidents(service["id"]))

    async def moved() -> bool:
        return handled((await mesh.api.get("/metrics")).text) >= before + 1

    await eventually(moved)
