"""Operators scale an edge by starting more processes of it on the same port; `oncallnova up`
keeps its port to itself."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.broker import nats_url
from tests.helpers import (
    PG_URL,
    REDIS_URL,
    TEST_JWT_SECRET,
    drop_namespace,
    free_port,
    new_namespace,
)

CLI = [sys.executable, "-m", "app.cli"]


def services_env(ns: str) -> dict[str, str]:
    return {
        **os.environ,
        "DATABASE_URL": PG_URL,
        "DATABASE_SCHEMA": ns,
        "REDIS_URL": REDIS_URL,
        "NATS_URL": nats_url(),
        "NATS_NAMESPACE": ns,
        "LOG_FORMAT": "text",
        "JWT_SECRET": TEST_JWT_SECRET,
    }


def healthy(base: str) -> bool:
    try:
        return httpx.get(f"{base}/healthz", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def listens(pid: int, port: int) -> bool:
    """Whether process `pid` holds a listening TCP socket on `port` (read from /proc)."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[len("socket:[") : -1])
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            local, state, inode = fields[1], fields[3], fields[9]
            if state == "0A" and int(local.rsplit(":", 1)[1], 16) == port and inode in inodes:
                return True
    return False


async def test_two_ingestion_processes_share_one_port() -> None:
    ns = new_namespace()
    env = services_env(ns)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    subprocess.run([*CLI, "migrate"], env=env, check=True, capture_output=True)
    edges = [
        subprocess.Popen(
            [*CLI, "edge", "ingestion", "--port", str(port), "--grpc-port", str(free_port())],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
        )  # fmt: skip
        for _ in range(2)
    ]
    try:
        # Both bound the port: seen in /proc, not assumed after a pause a slow start outlasts.
        deadline = time.monotonic() + 120
        while not all(listens(p.pid, port) for p in edges) and time.monotonic() < deadline:
            assert [p.poll() for p in edges] == [None, None], "an edge process exited"
            time.sleep(0.2)
        assert [p.poll() for p in edges] == [None, None], "an edge process exited"
        assert all(listens(p.pid, port) for p in edges), "an edge process never took the port"
        assert healthy(base)
        # Connections are spread by the kernel; every one of them is served.
        for _ in range(20):
            with httpx.Client() as client:  # a new connection each time
                response = client.post(f"{base}/v2/enqueue", json={"event_action": "trigger"})
            assert response.status_code == 400
            assert response.json()["status"] == "invalid event"
    finally:
        for process in edges:
            process.terminate()
        for process in edges:
            process.wait(timeout=30)
        await drop_namespace(ns)


def test_second_up_on_a_taken_port_fails(tmp_path: Path) -> None:
    port = free_port()
    env = {
        k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "NATS_URL", "REDIS_URL")
    }
    first = subprocess.Popen(
        [*CLI, "up", "--port", str(port), "--grpc-port", str(free_port()), "--data-dir", str(tmp_path / "a")],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while not healthy(f"http://127.0.0.1:{port}") and time.monotonic() < deadline:
            time.sleep(0.2)
        assert healthy(f"http://127.0.0.1:{port}"), "the first `up` never became healthy"
        second = subprocess.run(
            [*CLI, "up", "--port", str(port), "--grpc-port", str(free_port()), "--data-dir", str(tmp_path / "b")],
            env=env, capture_output=True, text=True, timeout=240,
        )  # fmt: skip
        assert second.returncode != 0
        assert "address already in use" in (second.stdout + second.stderr).lower()
        assert first.poll() is None
        # The failed one stopped the nats-server child it had started.
        leftovers = subprocess.run(
            ["pgrep", "-f", f"nats-server.*{tmp_path / 'b'}"], capture_output=True, text=True
        )
        assert leftovers.stdout.strip() == "", leftovers.stdout
    finally:
        first.terminate()
        first.wait(timeout=60)
