"""Text from outside shown harmlessly: escapes, bidi overrides and surrogates made visible."""

from __future__ import annotations

import pytest

from oncallnova.display import echo, safe_text


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("disk full", "disk full"),
        ("\x1b[2J\x1b]0;pwned\x07", "\\x1b[2J\\x1b]0;pwned\\x07"),
        ("invoice \u202etxt.exe", "invoice \\u202etxt.exe"),
        ("isolate \u2066x\u2069", "isolate \\u2066x\\u2069"),
        ("line\nbreak\r", "line\\x0abreak\\x0d"),
        ("c1 \x9b31m", "c1 \\x9b31m"),
        ("lone \ud800", "lone \\ud800"),
        ("émoji 🔥 日本", "émoji 🔥 日本"),
    ],
)
def test_safe_text_shows_controls_as_escapes(raw: str, shown: str) -> None:
    assert safe_text(raw) == shown
    shown.encode("utf-8")  # always encodable


def test_safe_text_keeps_newlines_when_asked_and_bounds_length() -> None:
    assert safe_text("a\n\x1bb", keep_newlines=True) == "a\n\\x1bb"
    assert safe_text("x" * 500, 10) == "x" * 9 + "…"


def test_echo_quotes_and_caps() -> None:
    assert echo("abc") == "'abc'"
    assert len(echo("y" * 100_000)) <= 122
