"""A small, realistic world for the console's browser tests and screenshots: people, a team, a
weekly rotation with a business-hours layer, an override, an escalation policy, a service."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx


async def seed_world(
    api: httpx.AsyncClient, suffix: str, now: datetime | None = None
) -> dict[str, Any]:
    """Create the world through the REST API; returns ids by name."""
    now = now or datetime.now(UTC)
    people = {}
    for name in ("Ada Lovelace", "Grace Hopper", "Linus Torvalds", "Margaret Hamilton"):
        first = name.split()[0].lower()
        response = await api.post(
            "/api/v1/users",
            json={
                "name": name,
                "email": f"{first}.{suffix}@example.com",
                "time_zone": "Europe/Paris",
            },
        )
        assert response.status_code == 201, response.text
        people[first] = response.json()["id"]
    response = await api.post(
        "/api/v1/teams", json={"name": f"Payments {suffix}", "member_ids": list(people.values())}
    )
    assert response.status_code == 201, response.text
    team = response.json()["id"]
    monday = (now - timedelta(days=now.weekday() + 7)).strftime("%Y-%m-%dT09:00:00")
    response = await api.post(
        "/api/v1/schedules",
        json={
            "name": f"Payments primary {suffix}",
            "time_zone": "Europe/Paris",
            "team_id": team,
            "layers": [
                {
                    "name": "weekly",
                    "users": [people["ada"], people["grace"], people["linus"]],
                    "rotation_start": monday,
                    "turn_unit": "weeks",
                    "turn_length": 1,
                },
                {
                    "name": "business hours",
                    "users": [people["margaret"]],
                    "rotation_start": monday,
                    "turn_unit": "days",
                    "turn_length": 1,
                    "restrictions": [
                        {
                            "weekdays": ["mon", "tue", "wed"],
                            "start_time": "09:00",
                            "end_time": "17:00",
                        }
                    ],
                },
            ],
        },
    )
    assert response.status_code == 201, response.text
    schedule = response.json()["id"]
    start = (now + timedelta(days=3)).replace(hour=18, minute=0, second=0, microsecond=0)
    response = await api.post(
        f"/api/v1/schedules/{schedule}/overrides",
        json={
            "user_id": people["linus"],
            "start": start.isoformat(),
            "end": (start + timedelta(hours=14)).isoformat(),
        },
    )
    assert response.status_code == 201, response.text
    response = await api.post(
        "/api/v1/escalation_policies",
        json={
            "name": f"Payments escalation {suffix}",
            "team_id": team,
            "num_loops": 1,
            "levels": [
                {"delay_minutes": 10, "targets": [{"type": "schedule", "id": schedule}]},
                {"delay_minutes": 20, "targets": [{"type": "user", "id": people["grace"]}]},
            ],
        },
    )
    assert response.status_code == 201, response.text
    policy = response.json()["id"]
    response = await api.post(
        "/api/v1/services",
        json={
            "name": f"checkout-{suffix}",
            "description": "Card payments at checkout",
            "escalation_policy_id": policy,
        },
    )
    assert response.status_code == 201, response.text
    service = response.json()
    return {
        "people": people,
        "team": team,
        "schedule": schedule,
        "policy": policy,
        "service": service,
    }
