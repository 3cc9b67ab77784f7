"""Versioned fingerprints and dedup keys (oncallnova.alerts.fingerprint)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone

from hypothesis import given
from hypothesis import strategies as st

from oncallnova.alerts.fingerprint import (
    alert_fingerprint,
    alertmanager_dedup_key,
    auto_dedup_key,
    canonical_json,
    prometheus_labels_fingerprint,
)

FINGERPRINT_SHAPE = re.compile(r"^fp:1:[0-9a-f]{64}$")  # CanonicalAlertV1.fingerprint's pattern

keys = st.text(min_size=0, max_size=255)
label_sets = st.dictionaries(st.text(max_size=20), st.text(max_size=40), max_size=8)


def test_fingerprint_algorithm_version_1_is_pinned() -> None:
    # sha256 of '{"dedup_key":"db-01/disk/var","service_id":"svc_checkout"}' (checked with
    # sha256sum). If this changes, stored fingerprints stop matching: bump the version.
    assert alert_fingerprint("svc_checkout", "db-01/disk/var") == (
        "fp:1:3964c3f530d20cd1bf08025271e1ffb2e0020881d7a4017c80838ddcbb9adb39"
    )


def test_canonical_json_does_not_depend_on_key_order() -> None:
    assert canonical_json({"b": 1, "a": [1, {"d": 2, "c": "é"}]}) == (
        '{"a":[1,{"c":"é","d":2}],"b":1}'.encode()
    )
    assert canonical_json({"a": 1, "b": 2}) == canonical_json({"b": 2, "a": 1})


@given(service=keys, dedup_key=keys)
def test_fingerprint_is_deterministic_and_well_formed(service: str, dedup_key: str) -> None:
    first = alert_fingerprint(service, dedup_key)
    assert first == alert_fingerprint(service, dedup_key)
    assert FINGERPRINT_SHAPE.match(first)


@given(service=keys, key_a=keys, key_b=keys)
def test_fingerprint_differs_when_the_dedup_key_differs(
    service: str, key_a: str, key_b: str
) -> None:
    if key_a != key_b:
        assert alert_fingerprint(service, key_a) != alert_fingerprint(service, key_b)


@given(service_a=keys, service_b=keys, dedup_key=keys)
def test_fingerprint_differs_when_the_service_differs(
    service_a: str, service_b: str, dedup_key: str
) -> None:
    if service_a != service_b:
        assert alert_fingerprint(service_a, dedup_key) != alert_fingerprint(service_b, dedup_key)


def test_service_and_key_cannot_be_confused_by_concatenation() -> None:
    assert alert_fingerprint("a:b", "c") != alert_fingerprint("a", "b:c")


def test_auto_dedup_key_is_versioned_and_field_separated() -> None:
    key = auto_dedup_key("cron@ops-01", "backup failed")
    assert re.fullmatch(r"auto:1:[0-9a-f]{64}", key)
    assert key == auto_dedup_key("cron@ops-01", "backup failed")
    assert key != auto_dedup_key("cron@ops-02", "backup failed")
    assert auto_dedup_key(None, "x") != auto_dedup_key("", "x")
    assert auto_dedup_key("a b", "c") != auto_dedup_key("a", "b c")


def test_prometheus_label_fingerprint_matches_prometheus_common() -> None:
    # Test vectors from prometheus/common model (TestMetricToFingerprint).
    assert prometheus_labels_fingerprint({}) == f"{14695981039346656037:016x}"
    labels = {"name": "garland, briggs", "fear": "love is not enough"}
    assert prometheus_labels_fingerprint(labels) == f"{5799056148416392346:016x}"


@given(labels=label_sets)
def test_prometheus_label_fingerprint_ignores_label_order(labels: dict[str, str]) -> None:
    reversed_order = dict(reversed(list(labels.items())))
    assert prometheus_labels_fingerprint(labels) == prometheus_labels_fingerprint(reversed_order)
    assert re.fullmatch(r"[0-9a-f]{16}", prometheus_labels_fingerprint(labels))


def test_alertmanager_dedup_key_names_one_instant_however_it_is_written() -> None:
    utc = datetime(2024, 5, 14, 9, 51, 3, 157076, tzinfo=UTC)
    paris = utc.astimezone(timezone(timedelta(hours=2)))
    naive = utc.replace(tzinfo=None)
    expected = "c6eadffa33fcdf37:2024-05-14T09:51:03.157076Z"
    assert alertmanager_dedup_key("c6eadffa33fcdf37", utc) == expected
    assert alertmanager_dedup_key("c6eadffa33fcdf37", paris) == expected
    assert alertmanager_dedup_key("c6eadffa33fcdf37", naive) == expected
    later = utc + timedelta(microseconds=1)
    assert alertmanager_dedup_key("c6eadffa33fcdf37", later) != expected
