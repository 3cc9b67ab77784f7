"""What the runtime does with a message whose handling failed."""

from __future__ import annotations

import pytest
import redis.exceptions
import sqlalchemy.exc

from oncallnova.bus.runtime import InvalidMessage, TransientError, backoff_delay, failure_action


@pytest.mark.parametrize(
    ("error", "delivered", "action"),
    [
        (InvalidMessage("not JSON"), 1, "dead_letter"),
        (ValueError("bug"), 1, "retry"),
        (ValueError("bug"), 4, "retry"),
        (ValueError("bug"), 5, "dead_letter"),
        # An outage never exhausts a message, however long it lasts.
        (TransientError("db down"), 500, "retry"),
        (ConnectionRefusedError(), 500, "retry"),
        (TimeoutError(), 500, "retry"),
        (sqlalchemy.exc.OperationalError("SELECT 1", {}, Exception("gone")), 500, "retry"),
        (sqlalchemy.exc.InterfaceError("SELECT 1", {}, Exception("closed")), 500, "retry"),
        (redis.exceptions.ConnectionError(), 500, "retry"),
        # A constraint race resolves on retry, but not forever.
        (sqlalchemy.exc.IntegrityError("INSERT", {}, Exception("dup")), 2, "retry"),
        (sqlalchemy.exc.IntegrityError("INSERT", {}, Exception("dup")), 5, "dead_letter"),
    ],
)
def test_failure_action(error: BaseException, delivered: int, action: str) -> None:
    assert failure_action(error, delivered, max_attempts=5) == action


def test_backoff_grows_and_is_capped() -> None:
    delays = [backoff_delay(n) for n in range(1, 12)]
    assert delays[:4] == [0.5, 1.0, 2.0, 4.0]
    assert max(delays) == 30.0
    assert delays == sorted(delays)
