"""Dead letters can be listed and, once their cause is fixed, replayed into incidents."""

from __future__ import annotations

import json
import secrets

from sqlalchemy import update

from oncallnova.bus.dead_letters import dead_letters, replay
from oncallnova.db.models.incidents import Service
from schemas.envelope import INTEGRATION_KEY, MSG_ID
from schemas.subjects import ALERT_RECEIVED
from tests.helpers import eventually, namespaced_mesh


async def test_unknown_key_letter_replays_once_the_service_exists() -> None:
    async with namespaced_mesh(edges=["incidents"]) as mesh:
        bus = mesh.ctx.bus
        lost_key = secrets.token_hex(16)
        body = {"summary": "Queue depth high", "severity": "warning", "dedup_key": "queue"}
        await bus.js.publish(
            ALERT_RECEIVED.subject("generic", ns=bus.ns),
            json.dumps(body).encode(),
            headers={INTEGRATION_KEY: lost_key, MSG_ID: "producer-1"},
        )

        async def letters() -> list:
            return [d async for d in dead_letters(bus, "fingerprinter")]

        [letter] = await eventually(letters)
        assert letter.original_id == "producer-1"
        assert "no service has key" in letter.reason
        assert letter.subject == ALERT_RECEIVED.subject("generic", ns=bus.ns)

        # The fix: the service comes back with the key the producer still uses.
        service = await mesh.create_service()
        async with mesh.ctx.sessions.begin() as session:
            await session.execute(
                update(Service).where(Service.id == service["id"]).values(integration_key=lost_key)
            )
        assert await replay(bus, "fingerprinter") == 1

        [incident] = await eventually(lambda: mesh.incidents(service["id"]))
        assert incident["title"] == "Queue depth high"
        assert await letters() == []
