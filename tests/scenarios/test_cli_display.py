"""The CLI shows names as sent, but a terminal never obeys escapes hidden in them."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.scenarios.test_embedded_default import CLI, embedded_env

pytestmark = pytest.mark.embedded

EVIL = "billing \x1b[2J\x1b]0;pwned\x07 \u202etxt.exe"


def test_service_list_escapes_terminal_controls(tmp_path: Path) -> None:
    data = ["--data-dir", str(tmp_path / "data")]

    def run(*args: str) -> str:
        done = subprocess.run(
            [*CLI, "service", *args, *data],
            env=embedded_env(),
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    run("create", EVIL)
    listed = run("list")
    assert "\x1b" not in listed and "\u202e" not in listed and "\x07" not in listed
    assert "billing \\x1b[2J\\x1b]0;pwned\\x07 \\u202etxt.exe" in listed
    # Stored as sent: the JSON listing carries the exact name.
    [service] = json.loads(run("list", "--json"))
    assert service["name"] == EVIL
