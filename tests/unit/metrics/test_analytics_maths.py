"""Percentiles, windows, out-of-hours and hours on call, by hand."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from oncallnova.metrics.analytics import (
    distribution,
    hours_within,
    is_out_of_hours,
    percentile,
    window_start,
)


@pytest.mark.parametrize(
    ("values", "q", "expected"),
    [([5], 0.99, 5), ([1, 2], 0.5, 1.5), ([10, 20, 30, 40], 0.9, 37), ([1, 2, 3, 4, 5], 0.5, 3),
     ([0, 100], 0.99, 99)],
)  # fmt: skip
def test_percentile_interpolates_like_percentile_cont(values, q, expected) -> None:
    assert percentile(values, q) == pytest.approx(expected)


def test_distribution_of_nothing_has_a_count_and_no_percentiles() -> None:
    assert distribution([]) == {"count": 0, "p50": None, "p90": None, "p99": None}


def test_window_starts_at_midnight_utc() -> None:
    now = datetime(2026, 11, 20, 12, tzinfo=UTC)
    assert window_start(now, 1) == datetime(2026, 11, 20, tzinfo=UTC)
    assert window_start(now, 30) == datetime(2026, 10, 22, tzinfo=UTC)


@pytest.mark.parametrize(
    ("instant", "zone", "out"),
    [(datetime(2026, 11, 19, 2, tzinfo=UTC), "Asia/Tokyo", False),   # Thu 11:00 Tokyo
     (datetime(2026, 11, 19, 12, tzinfo=UTC), "Asia/Tokyo", True),   # Thu 21:00 Tokyo
     (datetime(2026, 11, 19, 12, tzinfo=UTC), "Europe/Paris", False),  # Thu 13:00 Paris
     (datetime(2026, 11, 21, 12, tzinfo=UTC), "Europe/Paris", True),   # Saturday
     (datetime(2026, 11, 19, 17, tzinfo=UTC), "Europe/Paris", True)],  # Thu 18:00 Paris
)  # fmt: skip
def test_out_of_hours_on_their_own_clock(instant, zone, out) -> None:
    assert is_out_of_hours(instant, zone) is out


def test_hours_within_clips_and_merges_overlaps() -> None:
    start = datetime(2026, 11, 1, tzinfo=UTC)
    end = start + timedelta(days=1)
    spans = [
        (start - timedelta(hours=2), start + timedelta(hours=3)),  # 3 h inside
        (start + timedelta(hours=2), start + timedelta(hours=5)),  # overlaps: +2 h
        (start + timedelta(hours=20), end + timedelta(hours=4)),  # 4 h inside
        (end + timedelta(hours=5), end + timedelta(hours=6)),  # outside
    ]
    assert hours_within(spans, start, end) == 9.0
