"""Time to page with one process per worker and edge, as an operator runs them (services mode):
alert accepted (202 from `/v2/enqueue`) → email accepted by the SMTP server (aiosmtpd, in this
process). Load from keep-alive raw HTTP (bench/ingest.py's RawHttp), one new incident per alert.

    .venv/bin/python bench/paging_processes.py [--rate 100 --seconds 10]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.ingest import NATS, PG, REDIS, RawHttp, free_port  # noqa: E402
from bench.paging import offer, quantiles, until  # noqa: E402
from oncallnova.db import migrate  # noqa: E402
from oncallnova.db.engine import create_engine  # noqa: E402
from oncallnova.settings import Settings  # noqa: E402
from tests.helpers import drop_namespace  # noqa: E402
from tests.paging_helpers import SmtpServer  # noqa: E402

WORKERS = ("fingerprinter", "correlator", "lifecycle", "escalator", "notifier")


async def wait_healthy(port: int) -> None:
    async with httpx.AsyncClient() as client:
        for _ in range(300):
            try:
                if (await client.get(f"http://127.0.0.1:{port}/healthz")).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.1)
    raise RuntimeError(f"edge on {port} never became healthy")


async def main(rate: float, seconds: float) -> None:
    ns = "bench" + secrets.token_hex(3)
    smtp = SmtpServer()
    await smtp.start()
    received: dict[str, float] = {}
    original = smtp.handle_DATA

    async def stamp(server: Any, session: Any, envelope: Any) -> str:
        answer = await original(server, session, envelope)
        subject = smtp.received[-1].message["Subject"]
        received[subject.split("bench-")[1].split(" ")[0]] = time.perf_counter()
        return answer

    smtp.handle_DATA = stamp  # type: ignore[method-assign]
    env = {
        **os.environ,
        "DATABASE_URL": PG, "DATABASE_SCHEMA": ns, "REDIS_URL": REDIS, "NATS_URL": NATS,
        "NATS_NAMESPACE": ns, "LOG_LEVEL": "WARNING", "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": str(smtp.port), "ESCALATOR_TICK": "0.2",
    }  # fmt: skip
    cli = [sys.executable, "-m", "app.cli"]
    procs: list[subprocess.Popen[bytes]] = []
    ports = {name: free_port() for name in ("ingestion", "incidents", "oncall")}
    try:
        engine = create_engine(Settings(database_url=PG, database_schema=ns))
        await migrate.upgrade(engine, ns)
        await engine.dispose()
        # The first edge provisions the streams; the rest start once it is healthy.
        for index, (name, port) in enumerate(ports.items()):
            procs.append(
                subprocess.Popen(
                    [*cli, "edge", name, "--port", str(port), "--grpc-port", str(free_port())],
                    env=env,
                )
            )
            if index == 0:
                await wait_healthy(port)
        for port in ports.values():
            await wait_healthy(port)
        for name in WORKERS:
            procs.append(subprocess.Popen([*cli, "worker", name], env=env))
        async with httpx.AsyncClient(timeout=60) as client:
            oncall = f"http://127.0.0.1:{ports['oncall']}/api/v1"
            incidents = f"http://127.0.0.1:{ports['incidents']}/api/v1"
            user = (
                await client.post(f"{oncall}/users", json={"name": "b", "email": "b@x.io"})
            ).json()
            policy = (
                await client.post(
                    f"{oncall}/escalation_policies",
                    json={
                        "name": "p",
                        "levels": [{"targets": [{"type": "user", "id": user["id"]}]}],
                    },
                )
            ).json()
            service = (
                await client.post(
                    f"{incidents}/services",
                    json={"name": "bench", "escalation_policy_id": policy["id"]},
                )
            ).json()
        await asyncio.sleep(3)  # workers connect and start fetching
        http = RawHttp("127.0.0.1", ports["ingestion"], "/v2/enqueue", 32)
        accepted: dict[str, float] = {}

        async def one(i: int) -> None:
            body = {
                "routing_key": service["integration_key"],
                "event_action": "trigger",
                "dedup_key": f"bench-{i}",
                "payload": {"summary": f"bench-{i} down", "source": "b", "severity": "critical"},
            }
            status = await http.post(json.dumps(body).encode())
            assert status == 202, status
            accepted[str(i)] = time.perf_counter()

        total = int(rate * seconds)
        # Warm up: one page end to end first (workers started, caches and rules written);
        # the keep-alive connections open after it, before the server's idle timeout.
        await http.open()
        await one(-1)
        await until(lambda: "-1" in received, 120)
        await http.close()
        await http.open()
        await offer(one, rate, total)
        await until(lambda: len(received) >= total + 1, 60)
        await http.close()
        accepted.pop("-1", None)
        latencies = [received[k] - accepted[k] for k in accepted if k in received]
        print(f"{total} alerts at {rate:.0f}/s; {len(received) - 1} pages received")
        print("time to page:", quantiles(latencies))
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(timeout=30)
        await smtp.stop()
        await drop_namespace(ns)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rate", type=float, default=100.0)
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()
    asyncio.run(main(args.rate, args.seconds))
