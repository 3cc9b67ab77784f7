"""Paging benchmarks, on the services mode (the machine's PostgreSQL, Redis, NATS):

- timers: 10,000 pending escalation steps due over the next `--spread` seconds; lateness of
  each (fired − due, wall clock), p50/p99.
- page: alerts posted to /v2/enqueue at `--rate` per second for `--seconds`, each opening an
  incident whose level-1 user is emailed; time from the 202 to the SMTP server accepting the
  message (aiosmtpd on loopback), p50/p99.

    .venv/bin/python bench/paging.py timers [--count 10000 --spread 20]
    .venv/bin/python bench/paging.py page [--rate 100 --seconds 10]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from oncallnova.db.repositories import paging as repo  # noqa: E402
from schemas.subjects import INCIDENT_EVENT  # noqa: E402
from tests.paging_helpers import paging_mesh  # noqa: E402


def quantiles(values: list[float]) -> str:
    ordered = sorted(values)
    p50 = ordered[len(ordered) // 2]
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return (
        f"n={len(ordered)} p50={p50 * 1000:.0f} ms p99={p99 * 1000:.0f} ms "
        f"max={ordered[-1] * 1000:.0f} ms mean={statistics.mean(ordered) * 1000:.0f} ms"
    )


async def until(done: Callable[[], bool], seconds: float) -> None:
    """Poll `done` every 0.2 s for at most `seconds`."""
    deadline = time.perf_counter() + seconds
    while not done() and time.perf_counter() < deadline:
        await asyncio.sleep(0.2)


async def offer(one: Callable[[int], Awaitable[None]], rate: float, total: int) -> None:
    """Start `one(0)` … `one(total - 1)` at `rate` per second, then wait for them all."""
    began = time.perf_counter()
    tasks = []
    for i in range(total):
        delay = began + i / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(i)))
    await asyncio.gather(*tasks)


async def timers(count: int, spread: float) -> None:
    async with paging_mesh(escalator_tick=0.2) as p:
        p.mesh.ctx.clock = lambda: datetime.now(UTC)  # real time: lateness is wall-clock
        escalator: Any = p.mesh.platform.runners["escalator"].worker
        start = datetime.now(UTC) + timedelta(seconds=3)
        rows = [
            {
                "id": f"bench:{i}",
                "incident_id": secrets.token_hex(8),
                "kind": "escalate",
                "epoch": 0,
                "due_at": start + timedelta(seconds=spread * i / count),
                "data": {"step": 1},
                "created_at": start,
            }
            for i in range(count)
        ]
        async with p.mesh.ctx.sessions.begin() as session:
            for chunk in range(0, count, 1000):
                await repo.add_timers(session, rows[chunk : chunk + 1000])
        print(f"{count} timers pending, due over {spread:.0f} s")
        while escalator.fired < count:
            await asyncio.sleep(0.5)
        print("timer lateness:", quantiles(list(escalator.lateness)[-count:]))


async def page(rate: float, seconds: float) -> None:
    async with paging_mesh(escalator_tick=0.2) as p:
        p.mesh.ctx.clock = lambda: datetime.now(UTC)
        user = await p.user("bench")
        policy = await p.policy([[{"type": "user", "id": user["id"]}]])
        service = await p.service(policy["id"])
        key = service["integration_key"]
        accepted: dict[str, float] = {}
        received: dict[str, float] = {}
        original = p.smtp.handle_DATA

        async def stamp(server: Any, session: Any, envelope: Any) -> str:
            answer = await original(server, session, envelope)
            subject = p.smtp.received[-1].message["Subject"]
            received[subject.split("bench-")[1].split(" ")[0]] = time.perf_counter()
            return answer

        p.smtp.handle_DATA = stamp  # type: ignore[method-assign]
        total = int(rate * seconds)
        # The hop before paging: the incident's triggered event (after the lifecycle's commit).
        opened: dict[str, float] = {}

        async def on_triggered(msg: Any) -> None:
            title = json.loads(msg.data)["incident"]["title"]
            opened[title.split("bench-")[1].split(" ")[0]] = time.perf_counter()

        bus = p.mesh.ctx.bus
        subject = bus.full(INCIDENT_EVENT.template.format(event="triggered", key="*"))
        sub = await bus.nc.subscribe(subject, cb=on_triggered)

        async def one(i: int) -> None:
            body = {
                "routing_key": key,
                "event_action": "trigger",
                "dedup_key": f"bench-{i}",
                "payload": {"summary": f"bench-{i} down", "source": "b", "severity": "critical"},
            }
            response = await p.api.post("/v2/enqueue", json=body)
            assert response.status_code == 202, response.text
            accepted[str(i)] = time.perf_counter()

        # Warm up: one page end to end first (workers started, caches and rules written).
        await one(-1)
        await until(lambda: "-1" in received, 120)
        await offer(one, rate, total)
        await until(lambda: len(received) >= total + 1, 60)
        await sub.unsubscribe()
        accepted.pop("-1", None)
        latencies = [received[k] - accepted[k] for k in accepted if k in received]
        print(f"{total} alerts at {rate:.0f}/s; {len(received) - 1} pages received")
        print("time to page:", quantiles(latencies))
        print(
            "  accepted -> incident:",
            quantiles([opened[k] - accepted[k] for k in accepted if k in opened]),
        )
        print(
            "  incident -> page:    ",
            quantiles([received[k] - opened[k] for k in opened if k in received]),
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    sub = parser.add_subparsers(dest="what", required=True)
    t = sub.add_parser("timers")
    t.add_argument("--count", type=int, default=10_000)
    t.add_argument("--spread", type=float, default=20.0)
    pg = sub.add_parser("page")
    pg.add_argument("--rate", type=float, default=100.0)
    pg.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()
    if args.what == "timers":
        asyncio.run(timers(args.count, args.spread))
    else:
        asyncio.run(page(args.rate, args.seconds))


if __name__ == "__main__":
    main()
