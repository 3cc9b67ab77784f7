"""The embedded default pages into its own capture inbox (SQLite, bundled nats-server, no SMTP
server anywhere), and the email's one-click link acknowledges the incident without a login."""

from __future__ import annotations

import re
import subprocess
import time
from pathlib import Path

import httpx

from tests.helpers import free_port
from tests.scenarios.test_embedded_default import (
    AUTH,
    CLI,
    embedded_env,
    stop,
    wait_for_incident,
    wait_healthy,
)


def test_a_page_arrives_in_the_capture_inbox_and_its_link_acknowledges(tmp_path: Path) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {**embedded_env(), "PUBLIC_URL": base, "ONCALLNOVA_ADMIN_PASSWORD": "inbox-admin-pw"}
    process = subprocess.Popen(
        [*CLI, "up", "--port", str(port), "--grpc-port", str(free_port()),
         "--data-dir", str(tmp_path)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        wait_healthy(base, process)
        api = f"{base}/api/v1"
        login = httpx.post(
            f"{api}/auth/login", json={"username": "admin", "password": "inbox-admin-pw"}
        )
        assert login.status_code == 200, login.text
        AUTH["Authorization"] = f"Bearer {login.json()['access_token']}"
        http = httpx.Client(headers=AUTH, timeout=30)
        user = http.post(f"{api}/users", json={"name": "Ada", "email": "ada@example.com"})
        assert user.status_code == 201, user.text
        policy = http.post(
            f"{api}/escalation_policies",
            json={
                "name": "p",
                "levels": [{"targets": [{"type": "user", "id": user.json()["id"]}]}],
            },
        )
        assert policy.status_code == 201, policy.text
        service = http.post(
            f"{api}/services", json={"name": "web", "escalation_policy_id": policy.json()["id"]}
        ).json()
        event = {
            "routing_key": service["integration_key"],
            "event_action": "trigger",
            "dedup_key": "inbox-1",
            "payload": {"summary": "web is down", "source": "lb", "severity": "critical"},
        }
        assert httpx.post(f"{base}/v2/enqueue", json=event).status_code == 202

        deadline = time.monotonic() + 60
        messages: list[dict] = []
        while not messages and time.monotonic() < deadline:
            messages = http.get(f"{api}/mail", params={"to": "ada@example.com"}).json()["messages"]
            time.sleep(0.2)
        assert messages, "no page in the capture inbox"
        mail = http.get(f"{api}/mail/{messages[0]['id']}").json()
        assert "web is down" in mail["subject"] and mail["to"] == ["ada@example.com"]
        link = re.search(r"(http://\S+/acknowledge\?token=\S+)", mail["text"])
        assert link, mail["text"]
        assert httpx.get(link.group(1)).status_code == 202
        incident = wait_for_incident(base, lambda i: i["status"] == "acknowledged")
        assert incident["dedup_key"] == "inbox-1"
    finally:
        stop(process)
