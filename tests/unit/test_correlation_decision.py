"""The correlator's window decision, shared with a dry-run replay: table-tested."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from oncallnova.alerts.fingerprint import alert_fingerprint
from oncallnova.incidents.correlation import (
    ScratchWindows,
    command_incident_id,
    window_claims,
    window_key,
    window_peeks,
)
from oncallnova.incidents.rules import candidate_incident_id, unmatched_incident_id
from schemas.alert_v1 import CanonicalAlertV1

T0 = datetime(2026, 11, 29, 10, 0, tzinfo=UTC)


def alert(alert_id: str, action: str = "trigger", key: str = "db1") -> CanonicalAlertV1:
    return CanonicalAlertV1(
        alert_id=alert_id,
        service_id="svc",
        action=action,  # type: ignore[arg-type]
        fingerprint=alert_fingerprint("svc", key),
        dedup_key=key,
        summary="s",
        occurred_at=T0,
        source_format="pagerduty",
    )


def test_the_first_trigger_of_a_batch_claims_the_window() -> None:
    batch = [alert("a1"), alert("a2"), alert("b1", key="db2"), alert("r1", "resolve")]
    claims = window_claims(batch)
    assert claims == {
        window_key("svc", batch[0].fingerprint): candidate_incident_id("a1"),
        window_key("svc", batch[2].fingerprint): candidate_incident_id("b1"),
    }
    # The resolve's window is answered by the claim: nothing left to look up.
    assert window_peeks(batch, claims) == []
    assert window_peeks([alert("r2", "resolve", key="db3")], claims) == [
        window_key("svc", alert("x", key="db3").fingerprint)
    ]


def test_an_alert_without_an_open_window_names_its_dedup_key() -> None:
    resolve = alert("r1", "resolve")
    assert command_incident_id(resolve, {}) == unmatched_incident_id("svc", "db1")
    held = {window_key("svc", resolve.fingerprint): "incident-1"}
    assert command_incident_id(resolve, held) == "incident-1"


def test_scratch_windows_expire_like_the_live_stores_and_are_never_extended() -> None:
    windows = ScratchWindows()
    key = window_key("svc", alert("a").fingerprint)
    assert windows.claim({key: "first"}, T0, 60) == {key: "first"}
    assert windows.claim({key: "second"}, T0 + timedelta(seconds=59), 60) == {key: "first"}
    assert windows.peek([key], T0 + timedelta(seconds=59.9)) == {key: "first"}
    assert windows.peek([key], T0 + timedelta(seconds=60)) == {}
    assert windows.claim({key: "third"}, T0 + timedelta(seconds=60), 60) == {key: "third"}
