"""`POST /v2/enqueue` through the whole HTTP app in one process (ASGI, no sockets), to compare
the cost of the layers around a route (authorization, limits, audit) between two checkouts.

Services mode on the machine's PostgreSQL, Redis and NATS (TEST_* variables as the tests).
Run in each checkout, alternating, and compare the ratio:

    PYTHONPATH=. .venv/bin/python bench/inprocess_enqueue.py 2000 32
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time

import httpx

from app.http import create_app
from app.supervisor import Platform
from oncallnova.db.repositories import incidents as repo
from oncallnova.settings import Settings
from tests.helpers import NATS_URL, PG_URL, REDIS_URL, drop_namespace, free_port, new_namespace


async def main(n: int, concurrency: int) -> None:
    ns = new_namespace()
    settings = Settings(
        database_url=PG_URL,
        database_schema=ns,
        redis_url=REDIS_URL,
        nats_url=NATS_URL,
        nats_namespace=ns,
        grpc_port=free_port(),
        jwt_secret="b" * 32,  # ignored by checkouts without authentication
    )
    platform = Platform(settings, [], ["ingestion"], serve_http=False)
    ctx = await platform.start()
    try:
        async with ctx.sessions.begin() as session:
            key = (await repo.create_service(session, "bench")).integration_key
        app = create_app(ctx, ["ingestion"])
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
            body = json.dumps(
                {
                    "routing_key": key,
                    "event_action": "trigger",
                    "dedup_key": "bench",
                    "payload": {"summary": "s", "source": "x", "severity": "info"},
                }
            ).encode()
            headers = {"content-type": "application/json"}
            for _ in range(200):  # warm up
                await client.post("/v2/enqueue", content=body, headers=headers)
            gate = asyncio.Semaphore(concurrency)

            async def one() -> None:
                async with gate:
                    response = await client.post("/v2/enqueue", content=body, headers=headers)
                    assert response.status_code == 202, response.text

            started = time.perf_counter()
            await asyncio.gather(*(one() for _ in range(n)))
            elapsed = time.perf_counter() - started
        print(f"{os.getcwd()}: {n / elapsed:.0f} requests/s")
    finally:
        await platform.stop()
        await drop_namespace(ns)


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]), int(sys.argv[2])))
