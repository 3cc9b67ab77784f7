"""The README's first command: `oncallnova up` on the embedded default (SQLite + the bundled
nats-server), driven as a user would, from a fresh data directory."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.helpers import free_port

pytestmark = pytest.mark.embedded

CLI = [sys.executable, "-m", "app.cli"]
# The bootstrap admin's token, once the test has logged in.
AUTH: dict[str, str] = {}


def embedded_env() -> dict[str, str]:
    env = {
        k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "NATS_URL", "REDIS_URL")
    }
    env["LOG_FORMAT"] = "text"
    return env


def start(data_dir: Path, port: int) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            *CLI,
            "up",
            "--port",
            str(port),
            "--grpc-port",
            str(free_port()),
            "--data-dir",
            str(data_dir),
        ],
        env=embedded_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def wait_healthy(base: str, process: subprocess.Popen[str], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"oncallnova up exited early:\n{process.stdout.read()}")  # type: ignore[union-attr]
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError("platform did not become healthy")


def stop(process: subprocess.Popen[str]) -> str:
    process.send_signal(signal.SIGTERM)
    output, _ = process.communicate(timeout=120)
    assert process.returncode == 0, output
    return output


def read_banner(process: subprocess.Popen[str]) -> list[str]:
    """The lines `oncallnova up` prints up to the end of its start-up banner (`workers …`)."""
    lines: list[str] = []
    assert process.stdout is not None
    while not lines or not lines[-1].strip().startswith("workers"):
        line = process.stdout.readline()
        if not line:
            raise AssertionError("exited before its banner:\n" + "".join(lines))
        lines.append(line)
    return lines


def admin_password(banner: list[str]) -> str | None:
    for line in banner:
        if line.strip().startswith("password"):
            return line.split()[-1]
    return None


def wait_for_incident(base: str, predicate, timeout: float = 60) -> dict:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        incidents = httpx.get(f"{base}/api/v1/incidents", headers=AUTH).json()["incidents"]
        matching = [i for i in incidents if predicate(i)]
        if matching:
            return matching[0]
        time.sleep(0.2)
    raise AssertionError("no matching incident")


def test_up_serves_everything_and_stops_cleanly_losing_nothing(tmp_path: Path) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    process = start(tmp_path, port)
    try:
        banner = read_banner(process)
        password = admin_password(banner)
        assert password, "".join(banner)
        wait_healthy(base, process)
        # The admin logs in with the password printed once; without a token nothing is read.
        assert httpx.get(f"{base}/api/v1/incidents").status_code == 401
        login = httpx.post(
            f"{base}/api/v1/auth/login", json={"username": "admin", "password": password}
        )
        assert login.status_code == 200, login.text
        AUTH["Authorization"] = f"Bearer {login.json()['access_token']}"
        secret_file = tmp_path / "jwt_secret"
        assert secret_file.stat().st_mode & 0o077 == 0
        created = subprocess.run(
            [*CLI, "service", "create", "checkout", "--json", "--data-dir", str(tmp_path)],
            env=embedded_env(), capture_output=True, text=True, check=True,
        )  # fmt: skip
        key = json.loads(created.stdout)["integration_key"]
        assert len(key) == 32
        event = {
            "routing_key": key,
            "event_action": "trigger",
            "dedup_key": "embedded-1",
            "payload": {"summary": "checkout 500s", "source": "web", "severity": "error"},
        }
        for _ in range(3):
            response = httpx.post(f"{base}/v2/enqueue", json=event)
            assert response.status_code == 202, response.text
        incident = wait_for_incident(base, lambda i: i["alert_count"] == 3)
        assert incident["status"] == "triggered"
        # The console sends a browser without a session to its login form.
        console = httpx.get(f"{base}/")
        assert console.status_code == 303 and console.headers["location"] == "/login?next=%2F"
        assert "Log in to OnCallNova" in httpx.get(f"{base}/login").text
        assert "oncallnova_worker_messages_handled" in httpx.get(f"{base}/metrics").text
        assert httpx.get(f"{base}/docs").status_code == 200
        # Accepted just before shutdown: must survive the restart.
        event["event_action"] = "acknowledge"
        assert httpx.post(f"{base}/v2/enqueue", json=event).status_code == 202
    finally:
        output = stop(process)
    assert "stopped" in output
    # Printed once in the banner, never logged.
    assert password not in output
    assert password not in (tmp_path / "nats" / "nats-server.log").read_text()
    assert (tmp_path / "oncallnova.db").exists()
    assert (tmp_path / "nats" / "jetstream").is_dir()

    secret = secret_file.read_text()
    process = start(tmp_path, port)
    try:
        # The admin exists: no new password; the signing secret is the same, so the token
        # from before the restart still works.
        assert admin_password(read_banner(process)) is None
        assert secret_file.read_text() == secret
        wait_healthy(base, process)
        incident = wait_for_incident(base, lambda i: i["dedup_key"] == "embedded-1")
        deadline = time.monotonic() + 60
        while incident["status"] != "acknowledged" and time.monotonic() < deadline:
            time.sleep(0.2)
            incident = wait_for_incident(base, lambda i: i["dedup_key"] == "embedded-1")
        assert incident["status"] == "acknowledged"
        assert incident["alert_count"] == 3
        # The metrics worker on SQLite: one incident, now acknowledged, from four events.
        wanted = {
            ("oncall_incidents_total", (("severity", "error"),)): 1.0,
            ("oncall_incidents_active", (("severity", "error"), ("status", "acknowledged"))): 1.0,
            ("oncall_incidents_active", (("severity", "error"), ("status", "triggered"))): 0.0,
            ("oncall_alerts_ingested_total", (("format", "pagerduty"),)): 4.0,
            ("oncall_mtta_seconds_count", (("severity", "error"),)): 1.0,
        }
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            found = {
                (s.name, tuple(sorted(s.labels.items()))): s.value
                for family in text_string_to_metric_families(httpx.get(f"{base}/metrics").text)
                for s in family.samples
            }
            if all(found.get(k) == v for k, v in wanted.items()):
                break
            time.sleep(0.2)
        assert {k: found.get(k) for k in wanted} == wanted
        trends = httpx.get(
            f"{base}/api/v1/analytics/trends", params={"days": 1}, headers=AUTH
        ).json()
        assert trends["totals"]["by_severity"]["error"] == 1
    finally:
        stop(process)


def test_a_window_the_embedded_store_cannot_keep_stops_the_start(tmp_path: Path) -> None:
    env = {**embedded_env(), "CORRELATION_WINDOW": "500ms"}
    done = subprocess.run(
        [*CLI, "up", "--data-dir", str(tmp_path), "--port", str(free_port())],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 2
    assert "CORRELATION_WINDOW=0.5s" in done.stderr and "REDIS_URL" in done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "nats").exists()  # refused before anything started
