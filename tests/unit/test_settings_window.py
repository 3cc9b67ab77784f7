"""CORRELATION_WINDOW is honoured exactly or refused at start, never silently rounded."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from oncallnova.settings import Settings


@pytest.mark.parametrize("window", ["500ms", "0.5", "1.5s", "90500ms"])
def test_a_window_nats_kv_cannot_keep_is_refused_without_redis(window: str) -> None:
    with pytest.raises(ValidationError) as refused:
        Settings(correlation_window=window, redis_url=None)
    assert "CORRELATION_WINDOW" in str(refused.value)
    assert "REDIS_URL" in str(refused.value)


@pytest.mark.parametrize(("window", "seconds"), [("500ms", 0.5), ("1.5s", 1.5), ("5m", 300.0)])
def test_redis_keeps_any_window(window: str, seconds: float) -> None:
    settings = Settings(correlation_window=window, redis_url="redis://127.0.0.1:6379/0")
    assert settings.correlation_window == seconds


@pytest.mark.parametrize(("window", "seconds"), [("1s", 1.0), ("90", 90.0), ("5m", 300.0)])
def test_whole_seconds_work_everywhere(window: str, seconds: float) -> None:
    assert Settings(correlation_window=window, redis_url=None).correlation_window == seconds


def test_zero_is_refused() -> None:
    with pytest.raises(ValidationError):
        Settings(correlation_window="0s", redis_url="redis://127.0.0.1:6379/0")
