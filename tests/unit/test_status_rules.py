"""What `oncallnova status` flags: table-tested on the pure rules."""

from __future__ import annotations

import pytest

from oncallnova.bus.status import (
    ConsumerStatus,
    StreamStatus,
    consumer_problems,
    dead_letter_problems,
    stream_problems,
)
from oncallnova.settings import Settings


def stream(**changes: object) -> StreamStatus:
    values: dict = dict(
        name="ALERTS", subjects=[], messages=10, bytes=100, max_bytes=1000, max_msgs=None,
        max_age_s=604800, replicas=3, fill=0.1, leader="nats-1",
    )  # fmt: skip
    values.update(changes)
    return StreamStatus(**values)


def consumer(**changes: object) -> ConsumerStatus:
    values: dict = dict(
        stream="ALERTS", name="fingerprinter", filter="alert.received.v1.*", pending=0,
        ack_pending=0, redeliveries=0, waiting=1, oldest_unacked_age_s=None,
        oldest_pending_age_s=None,
    )  # fmt: skip
    values.update(changes)
    return ConsumerStatus(**values)


@pytest.mark.parametrize(
    ("status", "flagged"),
    [
        (stream(), []),
        (stream(fill=0.85), ["85% full"]),
        (stream(leader=None), ["no leader"]),
        (stream(behind={"nats-2": 17}), ["replica nats-2 is not current (lag 17)"]),
        (stream(replicas=1, leader=None), []),
    ],
)
def test_streams(status: StreamStatus, flagged: list[str]) -> None:
    found = stream_problems(status)
    assert len(found) == len(flagged) and all(f in p for f, p in zip(flagged, found, strict=True))


@pytest.mark.parametrize(
    ("status", "flagged"),
    [
        (consumer(), []),
        (consumer(pending=5, oldest_pending_age_s=1.0), []),  # being worked on
        (consumer(pending=5, waiting=0), ["5 message(s) waiting and no worker pulling"]),
        (consumer(ack_pending=2, oldest_unacked_age_s=61), ["oldest unacked message is 61s"]),
        (consumer(pending=9, oldest_pending_age_s=300), ["oldest undelivered message is 300s"]),
    ],
)
def test_consumers(status: ConsumerStatus, flagged: list[str]) -> None:
    found = consumer_problems(status)
    assert len(found) == len(flagged) and all(f in p for f, p in zip(flagged, found, strict=True))


def test_dead_letters_are_flagged_per_worker() -> None:
    assert dead_letter_problems({"correlator": 0}) == []
    [problem] = dead_letter_problems({"correlator": 2})
    assert "2 dead letter(s) of correlator" in problem


def test_alert_retention_is_a_duration_of_seven_days_by_default() -> None:
    assert Settings().alert_retention == 7 * 86400
    assert Settings(alert_retention="72h").alert_retention == 3 * 86400
    with pytest.raises(ValueError, match="ALERT_RETENTION"):
        Settings(alert_retention="10s")
