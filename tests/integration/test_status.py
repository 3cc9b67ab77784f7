"""`oncallnova status` and `GET /api/v1/status` on a mesh with a backlog and a dead letter."""

from __future__ import annotations

import json
import os

from schemas.envelope import MSG_ID
from schemas.subjects import ALERT_FINGERPRINTED, ALERT_RECEIVED
from tests.helpers import eventually, namespaced_mesh, pd_event, run_cli


async def test_status_reports_a_backlog_and_a_dead_letter_and_exits_non_zero() -> None:
    # No fingerprinter runs: raw alerts pile up on its consumer.
    async with namespaced_mesh(workers=["correlator", "lifecycle"], edges=["incidents"]) as mesh:
        bus = mesh.ctx.bus
        service = await mesh.create_service()
        for n in range(3):
            await bus.js.publish(
                bus.full(ALERT_RECEIVED.subject("pagerduty")),
                json.dumps(pd_event(service["key"], dedup_key=f"k{n}")).encode(),
                headers={MSG_ID: f"backlog-{n}"},
            )
        # A canonical alert the correlator can never read: dead-lettered.
        await bus.js.publish(
            bus.full(ALERT_FINGERPRINTED.subject(service["id"])),
            b'{"not": "an alert"}',
            headers={MSG_ID: "broken-1"},
        )

        async def reported() -> dict | None:
            response = await mesh.api.get("/api/v1/status")
            assert response.status_code == 200, response.text
            body = response.json()
            return body if body["dead_letters"].get("correlator") else None

        body = await eventually(reported)
        assert body["status"] == "attention"
        [fingerprinter] = [c for c in body["consumers"] if c["name"] == "fingerprinter"]
        assert fingerprinter["pending"] == 3 and fingerprinter["waiting"] == 0
        assert fingerprinter["oldest_pending_age_s"] is not None
        assert any("fingerprinter" in p and "3 message(s) waiting" in p for p in body["attention"])
        assert any("dead letter(s) of correlator" in p for p in body["attention"])
        assert body["components"]["database"] and body["components"]["worker:correlator"]
        assert body["versions"]["broker"] and "PostgreSQL" in body["versions"]["database"]
        streams = {s["name"]: s for s in body["streams"]}
        alerts = streams[bus.stream("ALERTS")]  # the backlog: the 3 the fingerprinter awaits
        assert alerts["messages"] == 3 and alerts["max_bytes"] and alerts["max_msgs"]
        assert 0 < alerts["fill"] < 1
        assert alerts["max_age_s"] is None  # work never ages out
        archive = streams[bus.stream("ALERTS_ARCHIVE")]
        assert archive["max_age_s"] == 7 * 86400  # ALERT_RETENTION, kept for replay
        assert archive["messages"] >= 3

        s = mesh.ctx.settings
        env = {
            **os.environ,
            "DATABASE_URL": s.database_url or "",
            "DATABASE_SCHEMA": s.database_schema or "",
            "REDIS_URL": s.redis_url or "",
            "NATS_URL": s.nats_url or "",
            "NATS_NAMESPACE": s.nats_namespace,
            "LOG_LEVEL": "WARNING",
        }
        # Asynchronously: the workers of this process must keep pulling meanwhile.
        code, out, err = await run_cli(["status", "--json"], env)
        assert code == 1, err
        printed = json.loads(out)
        assert printed["dead_letters"] == {"correlator": 1}
        # From outside the process, workers are known by their open pull requests.
        assert printed["components"]["worker:fingerprinter"] is False
        assert printed["components"]["worker:correlator"] is True
        code, out, _ = await run_cli(["status"], env)
        assert code == 1
        assert "needs attention:" in out and "fingerprinter" in out
