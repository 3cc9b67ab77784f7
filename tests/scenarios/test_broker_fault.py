"""The embedded broker killed under load: every 202 becomes an incident, every other answer
leaves no trace, and the nats-server child comes back by itself. If it cannot come back,
`oncallnova up` exits non-zero so a process supervisor notices."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path

import httpx
import pytest

from tests.helpers import free_port
from tests.scenarios.test_embedded_default import (
    admin_password,
    read_banner,
    start,
    stop,
    wait_healthy,
)

pytestmark = pytest.mark.embedded

# The broker is killed once this many alerts were accepted (under load however slow the
# machine, where a fixed delay could kill it before any load on a busy one), and the senders
# go on for LOAD_AFTER_KILL_S after it.
KILL_AFTER_ACCEPTED = 50
LOAD_AFTER_KILL_S = 3.0
CONCURRENCY = 8


def nats_child(parent: int) -> int:
    """The pid of the nats-server child of `parent`."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # pid (comm) state ppid ...
        comm = stat[stat.index("(") + 1 : stat.rindex(")")]
        ppid = int(stat[stat.rindex(")") + 2 :].split()[1])
        if ppid == parent and comm.startswith("nats-server"):
            return int(entry.name)
    raise AssertionError(f"no nats-server child of {parent}")


async def _load(base: str, key: str, kill: int) -> tuple[set[str], set[str]]:
    """PagerDuty triggers with unique dedup keys; SIGKILL `kill` once KILL_AFTER_ACCEPTED are
    accepted, and keep sending for LOAD_AFTER_KILL_S after it."""
    accepted: set[str] = set()
    refused: set[str] = set()
    counter = iter(range(1_000_000))
    enough = asyncio.Event()
    stop_at: list[float] = []  # set once the broker is killed (or the load never got going)

    async def sender(client: httpx.AsyncClient) -> None:
        while not stop_at or time.monotonic() < stop_at[0]:
            dedup_key = f"load-{next(counter)}"
            body = {
                "routing_key": key,
                "event_action": "trigger",
                "dedup_key": dedup_key,
                "payload": {"summary": dedup_key, "source": "fault", "severity": "critical"},
            }
            try:
                response = await client.post("/v2/enqueue", json=body)
                status = response.status_code
            except httpx.HTTPError:
                status = 0
            (accepted if status == 202 else refused).add(dedup_key)
            if len(accepted) >= KILL_AFTER_ACCEPTED:
                enough.set()
            if status not in (202, 503):
                stop_at[:] = [0.0]
                raise AssertionError(f"{dedup_key}: unexpected {status}")

    async def killer() -> None:
        try:
            await asyncio.wait_for(enough.wait(), timeout=120)
        except TimeoutError:
            stop_at[:] = [0.0]
            raise AssertionError(f"only {len(accepted)} alerts accepted in 120 s") from None
        os.kill(kill, signal.SIGKILL)
        stop_at[:] = [time.monotonic() + LOAD_AFTER_KILL_S]

    async with httpx.AsyncClient(base_url=base, timeout=30, trust_env=False) as client:
        await asyncio.gather(killer(), *(sender(client) for _ in range(CONCURRENCY)))
    return accepted, refused


async def _dedup_keys(client: httpx.AsyncClient, service_id: str) -> set[str]:
    keys: set[str] = set()
    offset = 0
    while True:
        page = (
            await client.get(
                "/api/v1/incidents",
                params={"service_id": service_id, "limit": 500, "offset": offset},
            )
        ).json()
        keys |= {incident["dedup_key"] for incident in page["incidents"]}
        offset += 500
        if offset >= page["total"]:
            return keys


async def test_broker_killed_under_load_loses_nothing_accepted_and_stores_nothing_refused(
    tmp_path: Path,
) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    process = start(tmp_path / "data", port)
    try:
        password = admin_password(read_banner(process))
        wait_healthy(base, process)
        async with httpx.AsyncClient(base_url=base, timeout=30, trust_env=False) as client:
            login = await client.post(
                "/api/v1/auth/login", json={"username": "admin", "password": password}
            )
            auth = {"Authorization": f"Bearer {login.json()['access_token']}"}
            service = (
                await client.post("/api/v1/services", json={"name": "fault"}, headers=auth)
            ).json()
        child = nats_child(process.pid)

        accepted, refused = await _load(base, service["integration_key"], child)
        print(f"broker killed under load: {len(accepted)} accepted, {len(refused)} refused")

        wait_healthy(base, process, timeout=120)  # back by itself, the platform never exited
        assert nats_child(process.pid) != child
        async with httpx.AsyncClient(
            base_url=base, timeout=30, trust_env=False, headers=auth
        ) as client:
            deadline = time.monotonic() + 60
            found = await _dedup_keys(client, service["id"])
            while not accepted <= found and time.monotonic() < deadline:
                await asyncio.sleep(0.5)
                found = await _dedup_keys(client, service["id"])
            assert accepted <= found, f"{len(accepted - found)} accepted alerts lost"
            await asyncio.sleep(1.0)  # anything refused that was going to leak has leaked now
            found = await _dedup_keys(client, service["id"])
            assert not (found & refused), f"refused yet stored: {sorted(found & refused)[:5]}"
            assert found == accepted
    finally:
        if process.poll() is None:
            stop(process)


def test_up_exits_non_zero_when_the_broker_cannot_come_back(tmp_path: Path) -> None:
    """A broker that dies again each time it is restarted (a crash loop) uses up the backoff."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    process = start(tmp_path / "data", port)
    try:
        wait_healthy(base, process)
        killed: set[int] = set()
        deadline = time.monotonic() + 60
        while process.poll() is None and time.monotonic() < deadline:
            try:
                child = nats_child(process.pid)
            except AssertionError:
                time.sleep(0.01)
                continue
            if child not in killed:
                os.kill(child, signal.SIGKILL)
                killed.add(child)
            time.sleep(0.01)
        output, _ = process.communicate(timeout=120)
        assert process.returncode not in (0, None), output
        assert "could not be restarted" in output, output
        assert len(killed) > 1  # it was restarted, more than once, before giving up
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
