"""`/metrics` scrape time with many incidents in the database (services mode, PostgreSQL).

Seeds N incidents (default 100,000) over 30 days, with the metrics worker's per-incident facts
and series derived from them exactly as the worker would, plus a few on-call schedules; then
starts `oncallnova edge exporter` as its own process and times GET /metrics over HTTP.

    .venv/bin/python bench/scrape.py                     # 100,000 incidents, 200 scrapes
    .venv/bin/python bench/scrape.py --incidents 10000 --scrapes 50
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import secrets
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from oncallnova.db import migrate  # noqa: E402
from oncallnova.db.engine import create_engine, create_sessions  # noqa: E402
from oncallnova.db.models.incidents import Incident  # noqa: E402
from oncallnova.db.models.metrics import MetricIncident, MetricSeries  # noqa: E402
from oncallnova.db.repositories import incidents as repo  # noqa: E402
from oncallnova.db.repositories import oncall as oncall_repo  # noqa: E402
from oncallnova.metrics.facts import SEVERITIES, Facts, combine, deltas, merge  # noqa: E402
from oncallnova.oncall import model as domain  # noqa: E402
from oncallnova.settings import Settings  # noqa: E402
from tests.helpers import drop_namespace, free_port  # noqa: E402

PG = os.environ.get("BENCH_DATABASE_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test")
NATS = os.environ.get("BENCH_NATS_URL", "nats://127.0.0.1:4222")


async def seed(settings: Settings, count: int) -> None:
    engine = create_engine(settings)
    await migrate.upgrade(engine, settings.database_schema)
    sessions = create_sessions(engine)
    now = datetime.now(UTC)
    rng = random.Random(7)
    async with sessions.begin() as session:
        services = [(await repo.create_service(session, f"svc-{i}")).id for i in range(20)]
        users = []
        for i in range(6):
            user = await oncall_repo.create_user(
                session, name=f"u{i}", email=f"u{i}@example.com", time_zone="Europe/Paris",
                contact_methods=[],
            )  # fmt: skip
            users.append(user.id)
        for s in range(3):
            layer = domain.Layer(
                id="", user_ids=tuple(users[s * 2 : s * 2 + 2]),
                rotation_start=datetime(2024, 1, 1, 9), turn_unit="weeks",
            )  # fmt: skip
            await oncall_repo.create_schedule(
                session, name=f"rota-{s}", time_zone="Europe/Paris", description=None,
                team_id=None, layers=[layer],
            )  # fmt: skip
    moved = []
    rows, facts_rows = [], []
    for number in range(1, count + 1):
        created = now - timedelta(seconds=rng.uniform(0, 30 * 86400))
        acked = (
            created + timedelta(seconds=rng.expovariate(1 / 600)) if rng.random() < 0.9 else None
        )
        resolved = (
            created + timedelta(seconds=rng.expovariate(1 / 7200)) if rng.random() < 0.97 else None
        )
        if resolved and acked and acked > resolved:
            acked = resolved
        status = "resolved" if resolved else "acknowledged" if acked else "triggered"
        severity = rng.choice(SEVERITIES)
        incident_id = secrets.token_hex(16)
        service = rng.choice(services)
        rows.append({
            "id": incident_id, "number": number, "title": f"bench {number}", "status": status,
            "severity": severity, "urgency": "high", "service_id": service,
            "dedup_key": f"k{number}", "fingerprint": f"fp:1:{number}", "alert_count": 1,
            "created_at": created, "updated_at": created, "acknowledged_at": acked,
            "resolved_at": resolved,
        })  # fmt: skip
        old = Facts(incident_id, severity, service)
        new = merge(old, status, created, acked, resolved)
        moved.append(deltas(old, new))
        facts_rows.append({
            "incident_id": incident_id, "severity": severity, "service_id": service,
            "status": status, "created_at": created, "acknowledged_at": acked,
            "resolved_at": resolved,
        })  # fmt: skip
    series = combine(moved)
    async with sessions.begin() as session:
        for start in range(0, count, 5000):
            await session.execute(Incident.__table__.insert(), rows[start : start + 5000])
            await session.execute(
                MetricIncident.__table__.insert(), facts_rows[start : start + 5000]
            )
        await session.execute(
            MetricSeries.__table__.insert(),
            [{"name": n, "labels": lbl, "value": v} for (n, lbl), v in series.items()],
        )
    async with engine.begin() as connection:
        await connection.exec_driver_sql("ANALYZE")
    await engine.dispose()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--incidents", type=int, default=100_000)
    parser.add_argument("--scrapes", type=int, default=200)
    args = parser.parse_args()
    ns = "bench" + secrets.token_hex(3)
    settings = Settings(database_url=PG, database_schema=ns, nats_url=NATS, nats_namespace=ns)
    started = time.perf_counter()
    await seed(settings, args.incidents)
    print(f"seeded {args.incidents:,} incidents in {time.perf_counter() - started:.1f}s")
    port = free_port()
    env = {**os.environ, "DATABASE_URL": PG, "DATABASE_SCHEMA": ns, "NATS_URL": NATS,
           "NATS_NAMESPACE": ns, "LOG_LEVEL": "WARNING"}  # fmt: skip
    # Provisioning (streams, consumers) happens at start: the exporter reads their backlog.
    proc = subprocess.Popen(
        [sys.executable, "-m", "app.cli", "edge", "exporter", "--port", str(port),
         "--grpc-port", str(free_port())],
        env=env,
    )  # fmt: skip
    try:
        async with httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{port}", trust_env=False
        ) as client:
            for _ in range(300):
                try:
                    if (await client.get("/healthz")).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(0.1)
            for _ in range(10):  # warm-up: connections, prepared statements
                await client.get("/metrics")
            times = []
            for _ in range(args.scrapes):
                t = time.perf_counter()
                response = await client.get("/metrics")
                times.append((time.perf_counter() - t) * 1000)
                assert response.status_code == 200
            total = next(
                line for line in response.text.splitlines()
                if line.startswith('oncall_incidents_total{severity="critical"}')
            )  # fmt: skip
        times.sort()
        print(f"{total}  ({len(response.content):,} bytes per scrape)")
        print(
            f"/metrics with {args.incidents:,} incidents, {args.scrapes} scrapes: "
            f"p50 {statistics.median(times):.1f} ms, p90 {times[int(0.9 * len(times))]:.1f} ms, "
            f"p99 {times[int(0.99 * len(times)) - 1]:.1f} ms, max {times[-1]:.1f} ms"
        )
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        await drop_namespace(ns)


if __name__ == "__main__":
    asyncio.run(main())
