"""The producer's trace continues across every hop: the incident event carries its trace id."""

from __future__ import annotations

import json
import secrets

from schemas.subjects import ALERT_RECEIVED, INCIDENT_EVENT
from tests.helpers import Mesh, eventually, pd_event


async def test_traceparent_travels_from_producer_to_incident_event(
    mesh: Mesh, service: dict
) -> None:
    bus = mesh.ctx.bus
    trace_id = secrets.token_hex(16)
    traceparent = f"00-{trace_id}-{secrets.token_hex(8)}-01"
    await bus.js.publish(
        ALERT_RECEIVED.subject("pagerduty", ns=bus.ns),
        json.dumps(pd_event(service["key"], dedup_key="traced")).encode(),
        headers={"traceparent": traceparent, "Nats-Msg-Id": secrets.token_hex(8)},
    )
    [incident] = await eventually(lambda: mesh.incidents(service["id"]))
    event = await bus.js.get_last_msg(
        bus.stream("INCIDENT_EVENTS"),
        INCIDENT_EVENT.subject(incident["id"], ns=bus.ns, event="triggered"),
    )
    assert event.headers is not None
    assert event.headers["traceparent"].split("-")[1] == trace_id
    assert event.headers["Onc-Producer"] == "lifecycle"
