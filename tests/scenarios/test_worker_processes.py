"""`oncallnova up` with its workers in child processes (WORKER_PROCESSES): a child killed under
load is started again by the supervisor, every accepted alert is committed, and the parent's
/healthz and /metrics report the workers of every child."""

from __future__ import annotations

import asyncio
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
from tests.scenarios.test_broker_fault import _dedup_keys
from tests.scenarios.test_embedded_default import (
    admin_password,
    embedded_env,
    read_banner,
    stop,
    wait_healthy,
)

pytestmark = pytest.mark.embedded

LOAD_SECONDS = 4.0
KILL_AFTER_S = 1.0
CONCURRENCY = 8


def start_with_children(data_dir: Path, port: int, processes: int) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            sys.executable, "-m", "app.cli", "up",
            "--port", str(port), "--grpc-port", str(free_port()), "--data-dir", str(data_dir),
        ],
        env={**embedded_env(), "WORKER_PROCESSES": str(processes)},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )  # fmt: skip


def child_of(data_dir: Path, worker: str) -> int:
    """The pid of the child process running `worker`, from its stats report."""
    for report in (data_dir / "workers").glob("*.json"):
        try:
            document = json.loads(report.read_text())
        except (OSError, ValueError):
            continue
        if worker in document["workers"]:
            return int(document["pid"])
    raise AssertionError(f"no child reports {worker}")


async def _load(base: str, key: str, kill: int) -> set[str]:
    """Triggers (unique dedup keys, and a hot key) for LOAD_SECONDS; SIGKILL `kill` meanwhile."""
    accepted: set[str] = set()
    counter = iter(range(1_000_000))
    deadline = time.monotonic() + LOAD_SECONDS

    async def sender(client: httpx.AsyncClient) -> None:
        while time.monotonic() < deadline:
            dedup_key = f"load-{next(counter)}"
            body = {
                "routing_key": key,
                "event_action": "trigger",
                "dedup_key": dedup_key,
                "payload": {"summary": dedup_key, "source": "kill", "severity": "critical"},
            }
            response = await client.post("/v2/enqueue", json=body)
            assert response.status_code == 202, response.text
            accepted.add(dedup_key)

    async def killer() -> None:
        await asyncio.sleep(KILL_AFTER_S)
        os.kill(kill, signal.SIGKILL)

    async with httpx.AsyncClient(base_url=base, timeout=30, trust_env=False) as client:
        await asyncio.gather(killer(), *(sender(client) for _ in range(CONCURRENCY)))
    return accepted


async def test_a_killed_worker_process_is_restarted_and_nothing_accepted_is_lost(
    tmp_path: Path,
) -> None:
    data_dir = tmp_path / "data"
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    process = start_with_children(data_dir, port, processes=2)
    try:
        banner = read_banner(process)
        assert "(2 processes)" in banner[-1], banner[-1]
        password = admin_password(banner)
        wait_healthy(base, process)
        async with httpx.AsyncClient(base_url=base, timeout=30, trust_env=False) as client:
            login = await client.post(
                "/api/v1/auth/login", json={"username": "admin", "password": password}
            )
            auth = {"Authorization": f"Bearer {login.json()['access_token']}"}
            service = (
                await client.post("/api/v1/services", json={"name": "kill"}, headers=auth)
            ).json()
        lifecycle = child_of(data_dir, "lifecycle")
        fingerprinter = child_of(data_dir, "fingerprinter")
        assert lifecycle != fingerprinter != process.pid

        accepted = await _load(base, service["integration_key"], lifecycle)
        assert len(accepted) > 50, len(accepted)

        wait_healthy(base, process, timeout=60)  # restarted; the platform never exited
        assert process.poll() is None
        assert child_of(data_dir, "lifecycle") != lifecycle
        assert child_of(data_dir, "fingerprinter") == fingerprinter  # the other one untouched
        async with httpx.AsyncClient(
            base_url=base, timeout=30, trust_env=False, headers=auth
        ) as client:
            deadline = time.monotonic() + 60
            found = await _dedup_keys(client, service["id"])
            while not accepted <= found and time.monotonic() < deadline:
                await asyncio.sleep(0.5)
                found = await _dedup_keys(client, service["id"])
            assert found == accepted, f"{len(accepted - found)} accepted alerts lost"
            # The parent's /metrics shows every child's workers (the fingerprinter's counter
            # lives in the child that was not killed: it saw every alert).
            samples = {
                (s.name, s.labels.get("worker")): s.value
                for family in text_string_to_metric_families((await client.get("/metrics")).text)
                for s in family.samples
            }
            assert samples[("oncallnova_worker_messages_handled_total", "fingerprinter")] >= len(
                accepted
            )
            assert samples[("oncallnova_worker_up", "lifecycle")] == 1.0
            assert samples[("oncallnova_worker_up", "webhooker")] == 1.0
    finally:
        output = stop(process) if process.poll() is None else ""
    assert "restarting it" in output
    assert not (data_dir / "workers" / "0.json").exists()  # the children stopped and tidied
