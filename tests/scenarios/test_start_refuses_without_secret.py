"""Services mode will not start an edge without a signing secret of at least 32 bytes."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.helpers import NATS_URL, PG_URL, REDIS_URL, free_port


def test_up_refuses_to_start_without_a_jwt_secret() -> None:
    """(A secret under 32 bytes is refused the same way: tests/unit/security.)"""
    env = {k: v for k, v in os.environ.items() if k != "JWT_SECRET"}
    env.update(DATABASE_URL=PG_URL, NATS_URL=NATS_URL, REDIS_URL=REDIS_URL, LOG_FORMAT="text")
    result = subprocess.run(
        [sys.executable, "-m", "app.cli", "up", "--port", str(free_port()),
         "--grpc-port", str(free_port())],
        env=env, capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    assert result.returncode == 2, result.stdout + result.stderr
    assert "JWT_SECRET" in result.stderr and "32 bytes" in result.stderr
    assert "OnCallNova is running" not in result.stdout
