"""`--partitions` / WORKER_PARTITIONS: which partitions a copy asks for first."""

from __future__ import annotations

import pytest

from oncallnova.bus.pull import parse_partitions


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", set(range(8))),
        ("  ", set(range(8))),
        ("3", {3}),
        ("0-2", {0, 1, 2}),
        ("0-2,5", {0, 1, 2, 5}),
        (" 6 , 7 ", {6, 7}),
        ("7-7", {7}),
    ],
)
def test_partitions_named(text: str, expected: set[int]) -> None:
    assert parse_partitions(text, 8) == expected


@pytest.mark.parametrize("text", ["8", "0-8", "3-1", "a", "1,,2", "-1"])
def test_partitions_refused(text: str) -> None:
    with pytest.raises(ValueError, match="partitions"):
        parse_partitions(text, 8)
