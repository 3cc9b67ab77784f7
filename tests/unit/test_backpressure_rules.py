"""The pure parts of backpressure: which broker answers mean "backlog full", what counts as
overloaded, which stream changes provisioning makes, and how replay names archived copies."""

from __future__ import annotations

from nats.js.api import DiscardPolicy, RetentionPolicy, StreamConfig
from nats.js.errors import APIError, ServiceUnavailableError

from app.replay import origin_of
from oncallnova.bus import declarations
from oncallnova.bus.backlog import StreamFill, overloaded, refusing_streams
from oncallnova.bus.connection import is_backlog_full
from oncallnova.bus.provision import differences, is_source_consumer
from oncallnova.errors import BacklogFull


def _refusal(description: str, err_code: int = 10077) -> APIError:
    """What nats-py raises for a JetStream error answer with code 503."""
    return ServiceUnavailableError(code=503, err_code=err_code, description=description)


def test_a_full_stream_is_told_apart_from_an_outage() -> None:
    assert is_backlog_full(_refusal("maximum messages exceeded"))
    assert is_backlog_full(_refusal("maximum bytes exceeded"))
    assert is_backlog_full(_refusal("maximum messages per subject exceeded"))
    # Same 503 class, other causes: an outage (no leader, no responders) is not "full".
    assert isinstance(_refusal("maximum bytes exceeded"), ServiceUnavailableError)
    assert not is_backlog_full(_refusal("JetStream system temporarily unavailable", 10008))
    assert not is_backlog_full(_refusal("stream store failed: disk I/O error"))
    assert not is_backlog_full(TimeoutError())


def test_backlog_full_is_a_429_with_retry_after_and_its_own_code() -> None:
    error = BacklogFull("full")
    assert error.status_code == 429 and error.headers == {"Retry-After": "2"}
    assert error.to_dict() == {"error": {"code": "backlog_full", "message": "full"}}


def test_overloaded_at_ninety_percent_of_either_limit() -> None:
    fills = [
        StreamFill("ALERTS", messages=90, bytes=10, max_msgs=100, max_bytes=1000),
        StreamFill("INCIDENT_COMMANDS", messages=89, bytes=10, max_msgs=100, max_bytes=1000),
        StreamFill("INCIDENT_EVENTS", messages=5, bytes=950, max_msgs=None, max_bytes=1000),
        StreamFill("DLQ", messages=5, bytes=950, max_msgs=None, max_bytes=None),
    ]
    assert overloaded(fills) == ["ALERTS", "INCIDENT_EVENTS"]
    assert fills[3].fill == 0.0


def test_work_streams_keep_work_and_refuse_when_full_history_streams_age_out() -> None:
    streams = {d.name: d for d in declarations.streams()}
    for name in ("ALERTS", "ALERTS_FINGERPRINTED", "INCIDENT_COMMANDS"):
        decl = streams[name]
        assert decl.is_backlog and decl.discard == "new" and decl.max_age_s == 0, name
        assert decl.max_msgs_setting and decl.max_bytes_setting, name
    archive = streams["ALERTS_ARCHIVE"]
    assert archive.retention == "limits" and archive.discard == "old"
    assert archive.max_age_setting == "alert_retention" and not archive.topics
    assert [s.stream for s in archive.sources] == ["ALERTS"]
    # Nothing a consumer reads may be discarded: every stream with a consumer refuses instead.
    read = {c.stream for c in declarations.consumers()}
    assert read <= {d.name for d in refusing_streams()}
    # No stage publishes into the stream it reads (a full one would never drain).
    assert streams["ALERTS"].topics != streams["ALERTS_FINGERPRINTED"].topics


def test_provisioning_sees_a_retention_change_and_ignores_unset_limits() -> None:
    old = StreamConfig(name="A", subjects=["a.>"], max_age=604800, max_bytes=1 << 32, max_msgs=-1)
    new = StreamConfig(
        name="A",
        subjects=["a.>"],
        retention=RetentionPolicy.INTEREST,
        discard=DiscardPolicy.NEW,
        max_age=0,
        max_bytes=1 << 30,
        max_msgs=1000,
    )
    old.retention, old.discard = RetentionPolicy.LIMITS, DiscardPolicy.OLD
    assert differences(old, new) == ["retention", "discard", "max_age", "max_msgs", "max_bytes"]
    assert differences(new, new) == []


def test_an_archived_copy_names_its_origin() -> None:
    headers = {"Nats-Stream-Source": "T1_ALERTS 42 t1.alert.received.v1.> > t1.alert.x abc"}
    assert origin_of(headers) == "T1_ALERTS:42"
    assert origin_of({}) is None
    assert origin_of({"Nats-Stream-Source": "garbled"}) is None
    assert is_source_consumer({"_nats.src.stream": "T1_ALERTS_ARCHIVE"}, "T1_ALERTS_ARCHIVE")
    assert not is_source_consumer({"_nats.src.stream": "OTHER"}, "T1_ALERTS_ARCHIVE")
    assert not is_source_consumer(None)
