"""No 500 at the edges of the calendar: extreme instants, huge offsets and line breaks in names
get a 4xx naming the field (REST) or INVALID_ARGUMENT (gRPC), or a well-formed answer."""

from __future__ import annotations

from typing import Any

import grpc
import icalendar
import pytest

from proto import oncall_pb2 as pb
from proto import oncall_pb2_grpc as pb_grpc
from tests.integration.oncall.conftest import OnCallEdge

EXTREMES = [
    "0001-01-01T00:00:00Z",
    "0001-01-01T00:00:00+01:00",
    "9999-12-31T23:59:59Z",
    "9999-12-31T23:59:59-01:00",
]


async def _schedule(edge: OnCallEdge, unique: str, name: str | None = None) -> dict[str, Any]:
    user = await edge.api.post(
        "/api/v1/users", json={"name": "Limits", "email": f"limits-{unique}@example.com"}
    )
    assert user.status_code == 201, user.text
    body = {
        "name": name or f"limits-{unique}",
        "time_zone": "Europe/Paris",
        "layers": [{"users": [user.json()["id"]], "rotation_start": "2024-03-18T09:00:00"}],
    }
    schedule = await edge.api.post("/api/v1/schedules", json=body)
    assert schedule.status_code == 201, schedule.text
    policy = await edge.api.post(
        "/api/v1/escalation_policies",
        json={
            "name": f"limits-{unique}-{name is not None}",
            "levels": [
                {"delay_minutes": 5, "targets": [{"type": "schedule", "id": schedule.json()["id"]}]}
            ],
        },
    )
    assert policy.status_code == 201, policy.text
    return {**schedule.json(), "policy_id": policy.json()["id"]}


@pytest.mark.parametrize("instant", EXTREMES)
async def test_extreme_instants_get_a_4xx_over_rest(
    edge: OnCallEdge, unique: str, instant: str
) -> None:
    schedule = await _schedule(edge, unique)
    sid, pid = schedule["id"], schedule["policy_id"]
    queries = [
        ("/api/v1/oncall", {"schedule": sid, "at": instant}, "at"),
        ("/api/v1/oncall", {"escalation_policy": pid, "at": instant}, "at"),
        (f"/api/v1/escalation_policies/{pid}/levels/1/paged", {"at": instant}, "at"),
        (f"/api/v1/escalation_policies/{pid}/step", {"triggered_at": instant}, "triggered_at"),
        (
            f"/api/v1/schedules/{sid}/render",
            {"start": instant, "end": "2024-03-20T00:00:00Z"},
            "start",
        ),
        (
            f"/api/v1/schedules/{sid}/render",
            {"start": "2024-03-20T00:00:00Z", "end": instant},
            "end",
        ),
        (f"/api/v1/schedules/{sid}.ics", {"start": instant}, "start"),
    ]
    for path, params, field in queries:
        response = await edge.api.get(path, params=params)
        assert response.status_code == 422, (path, params, response.text)
        assert response.json()["error"]["field"] == field, (path, response.text)


@pytest.mark.parametrize("rotation_start", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59"])
async def test_extreme_rotation_start_gets_a_4xx(
    edge: OnCallEdge, unique: str, rotation_start: str
) -> None:
    body = {
        "name": f"extreme-{unique}-{rotation_start[:4]}",
        "time_zone": "Europe/Paris",
        "layers": [{"users": ["nobody"], "rotation_start": rotation_start}],
    }
    response = await edge.api.post("/api/v1/schedules", json=body)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["field"] == "layers[0].rotation_start"


@pytest.mark.parametrize("instant", EXTREMES)
async def test_extreme_instants_are_invalid_argument_over_grpc(
    edge: OnCallEdge, unique: str, instant: str
) -> None:
    schedule = await _schedule(edge, unique)
    stub = pb_grpc.OnCallServiceStub(edge.grpc)
    calls = [
        stub.WhoIsOnCall(pb.WhoIsOnCallRequest(schedule_id=schedule["id"], at=instant)),
        stub.WhoIsOnCall(
            pb.WhoIsOnCallRequest(escalation_policy_id=schedule["policy_id"], at=instant)
        ),
        stub.RenderSchedule(
            pb.RenderScheduleRequest(
                schedule_id=schedule["id"], start=instant, end="2024-03-20T00:00:00Z"
            )
        ),
        stub.RenderSchedule(
            pb.RenderScheduleRequest(
                schedule_id=schedule["id"], start="2024-03-20T00:00:00Z", end=instant
            )
        ),
    ]
    for call in calls:
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await call
        assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT, refused.value.details()


async def test_a_huge_offset_gets_a_4xx(edge: OnCallEdge) -> None:
    response = await edge.api.get("/api/v1/users", params={"offset": 9223372036854775808})
    assert response.status_code == 422, response.text
    assert response.json()["error"]["field"] == "offset"


@pytest.mark.parametrize("name", ["line\nbreak", "carriage\rreturn", "both\r\nends\n"])
async def test_a_line_break_in_a_schedule_name_keeps_the_calendar_valid(
    edge: OnCallEdge, unique: str, name: str
) -> None:
    schedule = await _schedule(edge, unique, name=f"{name}-{unique}")
    assert schedule["name"] == f"{name}-{unique}".strip()  # stored as sent (minus edge spaces)
    response = await edge.api.get(
        f"/api/v1/schedules/{schedule['id']}.ics",
        params={"start": "2024-03-18T00:00:00Z", "end": "2024-03-25T00:00:00Z"},
    )
    assert response.status_code == 200, response.text
    calendar = icalendar.Calendar.from_ical(response.content)
    events = list(calendar.walk("VEVENT"))
    assert events
    for event in events:
        summary = str(event["summary"])
        assert "\n" not in summary and "\r" not in summary
        assert unique in summary


@pytest.mark.parametrize("instant", EXTREMES)
async def test_override_listing_bounds_past_the_calendar_get_a_4xx(
    edge: OnCallEdge, unique: str, instant: str
) -> None:
    schedule = await _schedule(edge, unique)
    for name in ("start", "end"):
        response = await edge.api.get(
            f"/api/v1/schedules/{schedule['id']}/overrides", params={name: instant}
        )
        assert response.status_code == 422, response.text
        assert response.json()["error"]["field"] == name
