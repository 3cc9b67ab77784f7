"""The on-call REST API against a real PostgreSQL: CRUD, validation, rendering, who is on call,
iCalendar feeds, and the engineers-on-call count."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx
from icalendar import Calendar

from oncallnova.db.repositories.oncall import count_engineers_on_call
from tests.integration.oncall.conftest import OnCallEdge
from tests.unit.oncall import rota
from tests.unit.oncall.helpers import local, wall

NAMES = ["alice", "bob", "carol", "dave", "erin", "frank"]


async def _post(api: httpx.AsyncClient, path: str, body: dict[str, Any]) -> dict[str, Any]:
    response = await api.post(path, json=body)
    assert response.status_code == 201, response.text
    return response.json()


async def _people(api: httpx.AsyncClient, unique: str) -> dict[str, str]:
    ids = {}
    for name in NAMES:
        user = await _post(
            api,
            "/api/v1/users",
            {"name": name.title(), "email": f"{name}-{unique}@example.com", "time_zone": rota.ZONE},
        )
        ids[name] = user["id"]
    return ids


def _rota_body(ids: dict[str, str], unique: str) -> dict[str, Any]:
    weekdays = {
        "weekdays": ["mon", "tue", "wed", "thu", "fri"],
        "start_time": "09:00",
        "end_time": "17:00",
    }
    weekend = {"weekdays": ["sat", "sun"], "start_time": "10:00", "end_time": "14:00"}
    return {
        "name": f"rota-{unique}",
        "time_zone": rota.ZONE,
        "layers": [
            {
                "users": [ids["alice"], ids["bob"]],
                "rotation_start": "2024-03-18T09:00:00",
                "turn_unit": "weeks",
            },
            {
                "users": [ids["carol"], ids["dave"]],
                "rotation_start": "2024-03-25T09:00:00",
                "turn_unit": "days",
                "restrictions": [weekdays],
            },
            {
                "users": [ids["erin"]],
                "rotation_start": "2024-03-25T00:00:00",
                "turn_unit": "weeks",
                "restrictions": [weekend],
            },
        ],
    }


async def _rota(edge: OnCallEdge, unique: str) -> tuple[dict[str, str], dict[str, Any]]:
    ids = await _people(edge.api, unique)
    schedule = await _post(edge.api, "/api/v1/schedules", _rota_body(ids, unique))
    await _post(
        edge.api,
        f"/api/v1/schedules/{schedule['id']}/overrides",
        {
            "user_id": ids["frank"],
            "start": "2024-03-27T12:00:00+01:00",
            "end": "2024-03-27T13:00:00+01:00",
        },
    )
    return ids, schedule


async def test_three_layer_rota_renders_the_hand_computed_answer(
    edge: OnCallEdge, unique: str
) -> None:
    ids, schedule = await _rota(edge, unique)
    names = {v: k for k, v in ids.items()}
    start, end = (local(rota.ZONE, t).isoformat() for t in rota.RANGE)
    response = await edge.api.get(
        f"/api/v1/schedules/{schedule['id']}/render", params={"start": start, "end": end}
    )
    assert response.status_code == 200, response.text
    got = []
    for shift in response.json()["shifts"]:
        reason = shift["layer"] - 1 if shift["source"] == "layer" else "lunch"
        at = datetime.fromisoformat(shift["start"])
        got.append((wall(rota.ZONE, at), names[shift["user_id"]], shift["source"], reason))
    assert got == rota.EXPECTED


async def test_who_is_on_call_over_rest_and_grpc(edge: OnCallEdge, unique: str) -> None:
    from proto import oncall_pb2 as pb
    from proto import oncall_pb2_grpc as pb_grpc

    ids, schedule = await _rota(edge, unique)
    at = local(rota.ZONE, "2024-03-27 12:30")
    response = await edge.api.get(
        "/api/v1/oncall", params={"schedule": schedule["id"], "at": at.isoformat()}
    )
    assert response.status_code == 200, response.text
    [entry] = response.json()["oncall"]
    assert entry["user"]["id"] == ids["frank"] and entry["source"] == "override"

    stub = pb_grpc.OnCallServiceStub(edge.grpc)
    answer = await stub.WhoIsOnCall(
        pb.WhoIsOnCallRequest(schedule_id=schedule["id"], at=at.isoformat())
    )
    assert [(e.user.id, e.source) for e in answer.oncall] == [(ids["frank"], "override")]

    # Without `at`, "now" comes from the injected clock (11:30 UTC = 12:30 Paris: frank).
    edge.clock.now = at
    response = await edge.api.get("/api/v1/oncall", params={"schedule": schedule["id"]})
    assert response.json()["oncall"][0]["user"]["id"] == ids["frank"]

    rendered = await stub.RenderSchedule(
        pb.RenderScheduleRequest(
            schedule_id=schedule["id"],
            start=local(rota.ZONE, rota.RANGE[0]).isoformat(),
            end=local(rota.ZONE, rota.RANGE[1]).isoformat(),
        )
    )
    assert len(rendered.shifts) == len(rota.EXPECTED)
    fetched = await stub.GetSchedule(pb.GetScheduleRequest(id=schedule["id"]))
    assert [layer.level for layer in fetched.layers] == [1, 2, 3]
    listed = await stub.ListSchedules(pb.ListSchedulesRequest())
    assert schedule["id"] in {s.id for s in listed.schedules}


async def test_grpc_maps_domain_errors_to_status_codes(edge: OnCallEdge) -> None:
    import grpc

    from proto import oncall_pb2 as pb
    from proto import oncall_pb2_grpc as pb_grpc

    stub = pb_grpc.OnCallServiceStub(edge.grpc)
    for call, code in [
        (stub.GetSchedule(pb.GetScheduleRequest(id="missing")), grpc.StatusCode.NOT_FOUND),
        (stub.WhoIsOnCall(pb.WhoIsOnCallRequest()), grpc.StatusCode.INVALID_ARGUMENT),
    ]:
        try:
            await call
        except grpc.aio.AioRpcError as error:
            assert error.code() == code
        else:
            raise AssertionError("expected an error")


async def test_a_gap_is_reported_as_a_gap(edge: OnCallEdge, unique: str) -> None:
    ids = await _people(edge.api, unique)
    body = {
        "name": f"office-{unique}",
        "time_zone": "America/New_York",
        "layers": [
            {
                "users": [ids["alice"]],
                "rotation_start": "2024-01-01T09:00:00",
                "turn_unit": "days",
                "restrictions": [
                    {"weekdays": [0, 1, 2, 3, 4], "start_time": "09:00", "end_time": "17:00"}
                ],
            }
        ],
    }
    schedule = await _post(edge.api, "/api/v1/schedules", body)
    saturday = datetime(2024, 3, 9, 15, tzinfo=UTC).isoformat()
    response = await edge.api.get(
        "/api/v1/oncall", params={"schedule": schedule["id"], "at": saturday}
    )
    [entry] = response.json()["oncall"]
    assert entry["user"] is None and entry["source"] == "gap"
    assert entry["shift"]["start"].startswith("2024-03-08T22:00")  # Friday 17:00 EST


async def test_escalation_policy_levels_and_who_is_paged(edge: OnCallEdge, unique: str) -> None:
    ids, schedule = await _rota(edge, unique)
    policy = await _post(
        edge.api,
        "/api/v1/escalation_policies",
        {
            "name": f"policy-{unique}",
            "num_loops": 2,
            "levels": [
                {"delay_minutes": 15, "targets": [{"type": "schedule", "id": schedule["id"]}]},
                {"delay_minutes": 30, "targets": [{"type": "user", "id": ids["alice"]}]},
            ],
        },
    )
    at = local(rota.ZONE, "2024-03-26 10:00").isoformat()  # dave's business-hours turn
    response = await edge.api.get(
        "/api/v1/oncall", params={"escalation_policy": policy["id"], "at": at}
    )
    got = [(e["escalation_level"], e["user"]["id"], e["source"]) for e in response.json()["oncall"]]
    assert got == [(1, ids["dave"], "layer"), (2, ids["alice"], "direct")]

    paged = await edge.api.get(
        f"/api/v1/escalation_policies/{policy['id']}/levels/2/paged", params={"at": at}
    )
    assert [e["user"]["id"] for e in paged.json()] == [ids["alice"]]
    step = await edge.api.get(
        f"/api/v1/escalation_policies/{policy['id']}/step",
        params={"triggered_at": "2024-03-26T10:00:00Z", "at": "2024-03-26T10:50:00Z"},
    )
    assert step.json()["level"] == 1 and step.json()["loop"] == 1  # 45 min per pass

    # A schedule an escalation policy targets cannot be deleted from under it.
    refused = await edge.api.delete(f"/api/v1/schedules/{schedule['id']}")
    assert refused.status_code == 409


async def test_invalid_input_gets_a_4xx_naming_the_field(edge: OnCallEdge, unique: str) -> None:
    ids = await _people(edge.api, unique)
    bad_layer = _rota_body(ids, unique)
    bad_layer["layers"][1]["users"] = []
    nonexistent = _rota_body(ids, unique)
    nonexistent["layers"][0]["rotation_start"] = "2024-03-31T02:30:00"
    unknown_user = _rota_body(ids, unique)
    unknown_user["layers"][2]["users"] = ["nobody"]
    cases = [
        ("/api/v1/schedules", bad_layer, 422, "layers[1].users"),
        ("/api/v1/schedules", nonexistent, 422, "layers[0].rotation_start"),
        ("/api/v1/schedules", unknown_user, 422, "layers[2].users[0]"),
        (
            "/api/v1/schedules",
            {**bad_layer, "layers": [], "time_zone": "Nowhere/City"},
            422,
            "time_zone",
        ),
        ("/api/v1/users", {"name": "X", "email": f"alice-{unique}@example.com"}, 409, "email"),
        ("/api/v1/users", {"name": "X", "email": "not-an-email"}, 422, "email"),
        (
            "/api/v1/escalation_policies",
            {"name": f"p-{unique}", "levels": [{"delay_minutes": 5, "targets": []}]},
            422,
            "levels[0].targets",
        ),
    ]
    for path, body, status, field in cases:
        response = await edge.api.post(path, json=body)
        assert response.status_code == status, (field, response.text)
        assert response.json()["error"]["field"] == field, response.text


async def test_overlapping_overrides_are_refused(edge: OnCallEdge, unique: str) -> None:
    ids, schedule = await _rota(edge, unique)
    path = f"/api/v1/schedules/{schedule['id']}/overrides"
    overlap = {
        "user_id": ids["erin"],
        "start": "2024-03-27T12:30:00+01:00",
        "end": "2024-03-27T14:00:00+01:00",
    }
    response = await edge.api.post(path, json=overlap)
    assert response.status_code == 409 and "overlaps" in response.json()["error"]["message"]
    touching = {**overlap, "start": "2024-03-27T13:00:00+01:00"}
    assert (await edge.api.post(path, json=touching)).status_code == 201
    naive = {**overlap, "start": "2024-03-28T13:00:00", "end": "2024-03-28T14:00:00"}
    response = await edge.api.post(path, json=naive)
    assert response.status_code == 422 and response.json()["error"]["field"] == "start"


async def test_schedule_crud_round_trip(edge: OnCallEdge, unique: str) -> None:
    ids, schedule = await _rota(edge, unique)
    path = f"/api/v1/schedules/{schedule['id']}"
    fetched = (await edge.api.get(path)).json()
    assert [layer["handoff_time"] for layer in fetched["layers"]] == [
        "09:00:00",
        "09:00:00",
        "00:00:00",
    ]
    added = await _post(
        edge.api,
        f"{path}/layers",
        {"users": [ids["frank"]], "rotation_start": "2024-03-25T00:00:00", "turn_unit": "days"},
    )
    assert added["level"] == 4
    replaced = await edge.api.put(
        f"{path}/layers/{added['id']}",
        json={
            "users": [ids["erin"], ids["frank"]],
            "rotation_start": "2024-03-25T00:00:00",
            "turn_unit": "hours",
            "turn_length": 12,
        },
    )
    assert replaced.status_code == 200 and replaced.json()["users"] == [ids["erin"], ids["frank"]]
    assert (await edge.api.delete(f"{path}/layers/{added['id']}")).status_code == 204
    body = _rota_body(ids, unique) | {"description": "renamed"}
    body["layers"] = body["layers"][:1]
    updated = await edge.api.put(path, json=body)
    assert updated.status_code == 200 and len(updated.json()["layers"]) == 1
    overrides = (await edge.api.get(f"{path}/overrides")).json()
    assert len(overrides) == 1  # replacing layers keeps overrides
    deleted = await edge.api.delete(f"{path}/overrides/{overrides[0]['id']}")
    assert deleted.status_code == 204
    assert (await edge.api.delete(path)).status_code == 204
    assert (await edge.api.get(path)).status_code == 404
    # A user still in no layer or override can now go; one still taking turns cannot.
    assert (await edge.api.delete(f"/api/v1/users/{ids['frank']}")).status_code == 204


async def test_user_in_a_rotation_cannot_be_deleted(edge: OnCallEdge, unique: str) -> None:
    ids, _ = await _rota(edge, unique)
    response = await edge.api.delete(f"/api/v1/users/{ids['carol']}")
    assert response.status_code == 409


async def test_teams_crud(edge: OnCallEdge, unique: str) -> None:
    ids = await _people(edge.api, unique)
    team = await _post(
        edge.api,
        "/api/v1/teams",
        {"name": f"sre-{unique}", "member_ids": [ids["alice"], ids["bob"]]},
    )
    assert team["member_ids"] == [ids["alice"], ids["bob"]]
    patched = await edge.api.patch(
        f"/api/v1/teams/{team['id']}", json={"member_ids": [ids["bob"], ids["carol"]]}
    )
    assert sorted(patched.json()["member_ids"]) == sorted([ids["bob"], ids["carol"]])
    bad = await edge.api.patch(f"/api/v1/teams/{team['id']}", json={"member_ids": ["ghost"]})
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "member_ids[0]"
    assert (await edge.api.delete(f"/api/v1/teams/{team['id']}")).status_code == 204


async def test_ical_feeds_parse_back(edge: OnCallEdge, unique: str) -> None:
    ids, schedule = await _rota(edge, unique)
    start, end = (local(rota.ZONE, t).isoformat() for t in rota.RANGE)
    response = await edge.api.get(
        f"/api/v1/schedules/{schedule['id']}.ics", params={"start": start, "end": end}
    )
    assert response.status_code == 200 and response.headers["content-type"].startswith(
        "text/calendar"
    )
    events = list(Calendar.from_ical(response.content).walk("VEVENT"))
    assert len(events) == len(rota.EXPECTED)

    feed = (await edge.api.get(f"/api/v1/users/{ids['erin']}/ical-feed")).json()
    feed_url = f"/api/v1/users/{ids['erin']}/oncall.ics"
    assert feed["path"] == f"{feed_url}?token={feed['token']}"
    response = await edge.api.get(
        feed_url, params={"token": feed["token"], "start": start, "end": end}
    )
    assert response.status_code == 200, response.text
    erin = list(Calendar.from_ical(response.content).walk("VEVENT"))
    assert [e.decoded("DTSTART") for e in erin] == [
        local(rota.ZONE, "2024-03-30 10:00"),
        local(rota.ZONE, "2024-03-31 10:00"),
    ]
    wrong = await edge.api.get(f"/api/v1/users/{ids['erin']}/oncall.ics", params={"token": "guess"})
    assert wrong.status_code == 401
    rotated = (await edge.api.post(f"/api/v1/users/{ids['erin']}/ical-feed")).json()
    assert rotated["token"] != feed["token"]
    assert (await edge.api.get(feed["path"])).status_code == 401


async def test_engineers_on_call_now_counts_distinct_people(edge: OnCallEdge, unique: str) -> None:
    at = local(rota.ZONE, "2024-03-27 12:30")
    async with edge.ctx.sessions() as session:
        before = await count_engineers_on_call(session, at)
    await _rota(edge, unique)  # puts frank on call at that moment (override)
    second_ids = await _people(edge.api, unique + "b")
    body = _rota_body(second_ids, unique + "b")
    await _post(edge.api, "/api/v1/schedules", body)  # carol-b on call (business hours)
    async with edge.ctx.sessions() as session:
        after = await count_engineers_on_call(session, at)
    assert after - before == 2


async def test_openapi_documents_the_on_call_routes(edge: OnCallEdge) -> None:
    paths = (await edge.api.get("/openapi.json")).json()["paths"]
    for path in [
        "/api/v1/oncall",
        "/api/v1/schedules/{schedule_id}/render",
        "/api/v1/schedules/{schedule_id}.ics",
    ]:
        assert path in paths
