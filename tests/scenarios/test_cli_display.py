"""The CLI shows names as sent, but a terminal never obeys escapes hidden in them."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import httpx
import pytest

from tests.helpers import free_port
from tests.scenarios.test_embedded_default import (
    AUTH,
    CLI,
    admin_password,
    embedded_env,
    read_banner,
    start,
    stop,
    wait_for_incident,
    wait_healthy,
)

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
            timeout=180,
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


def test_incident_list_shows_titles_harmlessly(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    process = start(data_dir, port)
    try:
        password = admin_password(read_banner(process))
        wait_healthy(base, process)
        login = httpx.post(
            f"{base}/api/v1/auth/login", json={"username": "admin", "password": password}
        )
        AUTH["Authorization"] = f"Bearer {login.json()['access_token']}"
        key = httpx.post(f"{base}/api/v1/services", json={"name": "cli"}, headers=AUTH).json()[
            "integration_key"
        ]
        event = {
            "routing_key": key,
            "event_action": "trigger",
            "payload": {"summary": EVIL, "source": "cli", "severity": "critical"},
        }
        assert httpx.post(f"{base}/v2/enqueue", json=event).status_code == 202
        wait_for_incident(base, lambda incident: incident["title"] == EVIL)

        def run(*args: str) -> str:
            done = subprocess.run(
                [*CLI, "incident", "list", *args, "--data-dir", str(data_dir)],
                env=embedded_env(),
                capture_output=True,
                text=True,
                timeout=180,
            )
            assert done.returncode == 0, done.stderr
            return done.stdout

        listed = run()
        assert "\x1b" not in listed and "\u202e" not in listed
        assert "billing \\x1b[2J\\x1b]0;pwned\\x07 \\u202etxt.exe" in listed
        assert [i["title"] for i in json.loads(run("--json"))] == [EVIL]
    finally:
        stop(process)
