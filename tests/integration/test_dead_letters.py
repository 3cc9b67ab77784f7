"""Messages NATS producers send that can never be handled go to the DLQ stream, with the
reason, and never hold back the valid alerts behind them."""

from __future__ import annotations

import secrets
from typing import Any

import pytest

from schemas.envelope import (
    DLQ_CONSUMER,
    DLQ_DELIVERIES,
    DLQ_ORIGINAL_ID,
    DLQ_REASON,
    DLQ_SUBJECT,
)
from schemas.subjects import ALERT_RECEIVED
from tests.helpers import Mesh, dumps, eventually, pd_event

REASON = DLQ_REASON


def valid_alertmanager_body() -> dict:
    return {
        "version": "4",
        "status": "firing",
        "alerts": [
            {
                "status": "firing",
                "labels": {"alertname": "QueueStuck", "instance": "mq-1:9419"},
                "annotations": {"summary": "Queue stuck on mq-1"},
                "startsAt": "2024-05-14T08:58:43.613Z",
                "endsAt": "0001-01-01T00:00:00Z",
            }
        ],
    }


# (case, format, body, headers) -> the start of the reason the DLQ copy must carry.
CASES = [
    pytest.param(
        "pagerduty", b"this is not json {", {}, "invalid: body: not valid JSON", id="not-json"
    ),
    pytest.param(
        "pagerduty",
        dumps({"routing_key": "x" * 32, "event_action": "trigger"}),
        {},
        "invalid: payload: required for trigger",
        id="missing-payload",
    ),
    pytest.param(
        "pagerduty",
        dumps(pd_event("0123456789abcdef" * 2, dedup_key="orphan")),
        {},
        "InvalidMessage: integration key: no service has key",
        id="unknown-routing-key",
    ),
    pytest.param(
        "alertmanager",
        dumps(valid_alertmanager_body()),
        {"Integration-Key": "fedcba9876543210" * 2},
        "InvalidMessage: integration key: no service has key",
        id="unknown-integration-key-header",
    ),
    pytest.param(
        "alertmanager",
        dumps(valid_alertmanager_body()),
        {},
        "invalid: integration key: missing",
        id="no-integration-key",
    ),
]


@pytest.mark.parametrize(("fmt", "body", "headers", "reason"), CASES)
async def test_invalid_producer_message_is_dead_lettered_and_does_not_block(
    mesh: Mesh,
    service: dict,
    dead_letters: Any,
    fmt: str,
    body: bytes,
    headers: dict[str, str],
    reason: str,
) -> None:
    js = mesh.ctx.bus.js
    mark = await dead_letters.mark()
    bad_id = f"bad-{secrets.token_hex(8)}"
    bad_subject = ALERT_RECEIVED.subject(fmt, ns=mesh.ctx.bus.ns)
    await js.publish(bad_subject, body, headers={"Nats-Msg-Id": bad_id, **headers})
    # Published at once behind it, so both can land in the same fetched batch.
    good = pd_event(service["key"], dedup_key="after-poison", summary="Valid after poison")
    await js.publish(ALERT_RECEIVED.subject("pagerduty", ns=mesh.ctx.bus.ns), dumps(good))

    [incident] = await eventually(lambda: mesh.incidents(service["id"]))
    assert incident["title"] == "Valid after poison"

    async def ours() -> list | None:
        return await letters_for(dead_letters, mark, bad_id)

    [letter] = await eventually(ours)
    assert letter.headers[REASON].startswith(reason), letter.headers[REASON]
    assert letter.headers[DLQ_SUBJECT] == bad_subject
    assert letter.headers[DLQ_CONSUMER] == "fingerprinter"
    assert letter.data == body  # kept byte for byte, so it can be fixed and replayed
    # Only the bad message was dead-lettered: the valid one is not in the DLQ.
    assert all(b"after-poison" not in other.data for other in await dead_letters.since(mark))


async def test_dead_letter_is_not_redelivered(
    mesh: Mesh,
    service: dict,
    dead_letters: Any,
) -> None:
    """A dead-lettered message is terminated: it appears in the DLQ once, not once a retry."""
    js = mesh.ctx.bus.js
    mark = await dead_letters.mark()
    bad_id = f"once-{secrets.token_hex(8)}"
    ack = await js.publish(
        ALERT_RECEIVED.subject("pagerduty", ns=mesh.ctx.bus.ns),
        b"\xff\xfe not utf-8",
        headers={"Nats-Msg-Id": bad_id},
    )

    async def ours() -> list | None:
        return await letters_for(dead_letters, mark, bad_id)

    async def settled() -> bool:
        # The consumer's ack floor passes a message only once it is done with it: a term does
        # that at once; a nak would first redeliver it (and dead-letter it a second time).
        info = await js.consumer_info(mesh.ctx.bus.stream("ALERTS"), "fingerprinter")
        return info.ack_floor is not None and (info.ack_floor.stream_seq or 0) >= ack.seq

    await eventually(ours)
    await eventually(settled)
    letters = await ours()
    assert letters is not None and len(letters) == 1
    assert letters[0].headers[DLQ_DELIVERIES] == "1"
    # And the stream moves on.
    good = pd_event(service["key"], dedup_key="after-undecodable")
    await js.publish(ALERT_RECEIVED.subject("pagerduty", ns=mesh.ctx.bus.ns), dumps(good))
    [incident] = await eventually(lambda: mesh.incidents(service["id"]))
    assert incident["dedup_key"] == "after-undecodable"


async def letters_for(dead_letters: Any, mark: Any, original_id: str) -> list | None:
    """Dead letters since `mark` copied from the message with `original_id`, or None."""
    found = [
        letter
        for letter in await dead_letters.since(mark)
        if letter.headers.get(DLQ_ORIGINAL_ID) == original_id
    ]
    return found or None
