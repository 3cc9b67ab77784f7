"""Overload: a producer publishing straight to NATS faster than the workers handle alerts, for
long enough to fill small backlog limits. Counts what JetStream accepted (PubAck), what it
refused (backlog full: a failed PubAck, nothing stored) and, at the end, the incidents
committed in the database: every accepted alert has its own dedup key, so each must become
one incident (lost = accepted - committed, which must be 0).

Services mode on this machine (PostgreSQL, Redis, the bundled nats-server), the fingerprinter,
correlator and lifecycle in this process, in a namespace of their own. Run:

    .venv/bin/python bench/overload.py                       # 20 s at full speed, limit 2000
    .venv/bin/python bench/overload.py --seconds 30 --limit 5000
    .venv/bin/python bench/overload.py --limit 1000000       # the same load, limits never hit

Exit status 0 only when something was refused and nothing accepted was lost.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path

import nats

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from oncallnova.bus import declarations  # noqa: E402
from oncallnova.bus.backlog import stream_fills  # noqa: E402
from oncallnova.bus.connection import is_backlog_full  # noqa: E402
from schemas.subjects import ALERT_RECEIVED  # noqa: E402
from tests.helpers import (  # noqa: E402
    Mesh,
    drop_namespace,
    new_namespace,
    services_settings,
    start_mesh,
    stop_mesh,
)

# Every consumer of the work streams must run: ALERTS keeps a message until all have it.
WORKERS = ["fingerprinter", "correlator", "lifecycle", "metrics_alerts"]
WORK_STREAMS = ("ALERTS", "ALERTS_FINGERPRINTED", "INCIDENT_COMMANDS")


def body(key: str, n: int) -> bytes:
    return json.dumps(
        {
            "routing_key": key,
            "event_action": "trigger",
            "dedup_key": f"overload-{n}",
            "payload": {"summary": f"overload {n}", "source": "bench", "severity": "error"},
        }
    ).encode()


async def produce(url: str, subject: str, key: str, seconds: float, in_flight: int) -> dict:
    """Publish as fast as PubAcks come back (`in_flight` at a time) for `seconds`."""
    nc = await nats.connect(url)
    js = nc.jetstream()
    counts = {"sent": 0, "accepted": 0, "refused": 0, "other_errors": 0}
    deadline = time.monotonic() + seconds
    n = 0

    async def one(i: int) -> None:
        try:
            await js.publish(subject, body(key, i), headers={"Nats-Msg-Id": f"overload-{i}"})
        except Exception as error:  # noqa: BLE001 - counted by kind
            counts["refused" if is_backlog_full(error) else "other_errors"] += 1
        else:
            counts["accepted"] += 1

    started = time.monotonic()
    try:
        while time.monotonic() < deadline:
            batch = [one(n + i) for i in range(in_flight)]
            n += in_flight
            counts["sent"] += len(batch)
            await asyncio.gather(*batch)
    finally:
        await nc.close()
    return {**counts, "producing_ms": round((time.monotonic() - started) * 1000)}


async def produce_elsewhere(mesh: Mesh, key: str, seconds: float, in_flight: int) -> dict[str, int]:
    """The producer in a process of its own (as a real sender is), so it is not slowed by the
    workers sharing this one's event loop."""
    subject = mesh.ctx.bus.full(ALERT_RECEIVED.subject("pagerduty"))
    url = mesh.ctx.settings.nats_url or ""
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        __file__,
        "--produce",
        json.dumps([url, subject, key, seconds, in_flight]),
        stdout=asyncio.subprocess.PIPE,
    )
    out, _ = await child.communicate()
    return dict(json.loads(out))


async def committed(mesh: Mesh, service_id: str) -> int:
    from sqlalchemy import func, select

    from oncallnova.db.models.incidents import Incident

    async with mesh.ctx.sessions() as session:
        count = await session.scalar(
            select(func.count()).select_from(Incident).where(Incident.service_id == service_id)
        )
    return int(count or 0)


async def drained(mesh: Mesh) -> bool:
    fills = {f.stream: f.messages for f in await stream_fills(mesh.ctx.bus)}
    return all(fills.get(s, 1) == 0 for s in WORK_STREAMS)


async def run(
    seconds: float, limit: int, in_flight: int, wait_s: float = 300.0
) -> dict[str, object]:
    ns = new_namespace()
    settings = services_settings(
        ns,
        alert_backlog_max_msgs=limit,
        command_backlog_max_msgs=limit,
        events_rate_limit=0,
    )
    mesh = await start_mesh(settings, WORKERS, [])
    try:
        service = await mesh.create_service()
        peak: dict[str, float] = {}

        async def watch() -> None:
            while True:
                for f in await stream_fills(mesh.ctx.bus):
                    peak[f.stream] = max(peak.get(f.stream, 0.0), f.fill)
                await asyncio.sleep(0.2)

        watcher = asyncio.create_task(watch())
        started = time.monotonic()
        counts = await produce_elsewhere(mesh, service["key"], seconds, in_flight)
        produced_s = counts.pop("producing_ms") / 1000  # the producer's own clock
        while not await drained(mesh) or await committed(mesh, service["id"]) < counts["accepted"]:
            if time.monotonic() - started > seconds + wait_s:
                break
            await asyncio.sleep(0.5)
        await asyncio.sleep(2)  # anything late would show up now
        total_s = time.monotonic() - started
        watcher.cancel()
        incidents = await committed(mesh, service["id"])
        finished = await drained(mesh)
        backlog = {}
        for decl in (d for d in declarations.consumers() if d.stream in WORK_STREAMS):
            for durable in decl.durables():
                try:
                    info = await mesh.ctx.bus.js.consumer_info(
                        mesh.ctx.bus.stream(decl.stream), durable
                    )
                except Exception:  # noqa: BLE001 - a report, not a check
                    continue
                waiting = (info.num_pending or 0) + (info.num_ack_pending or 0)
                if waiting:
                    backlog[durable] = waiting
        return {
            **counts,
            "committed_incidents": incidents,
            # Lost: accepted, gone from every stream, and not in the database. While the
            # workers are still at it (the wait timed out) nothing can be called lost.
            "lost": counts["accepted"] - incidents if finished else None,
            "still_in_streams": 0 if finished else counts["accepted"] - incidents,
            "extra": max(incidents - counts["accepted"], 0),
            "producing_s": round(produced_s, 1),
            "until_all_committed_s": round(total_s, 1),
            "accepted_per_s": round(counts["accepted"] / produced_s),
            "committed_per_s": round(incidents / total_s),
            "left_in_consumers": backlog,
            "peak_fill": {k: round(v, 3) for k, v in sorted(peak.items()) if v},
        }
    finally:
        await stop_mesh(mesh)
        await drop_namespace(ns)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--limit", type=int, default=2000, help="backlog max_msgs per stream")
    parser.add_argument("--in-flight", type=int, default=200, help="publishes awaiting a PubAck")
    parser.add_argument("--wait", type=float, default=900.0, help="seconds to wait for the end")
    parser.add_argument("--produce", help=argparse.SUPPRESS)  # the producer process
    args = parser.parse_args()
    if args.produce:
        url, subject, key, seconds, in_flight = json.loads(args.produce)
        print(json.dumps(asyncio.run(produce(url, subject, key, seconds, in_flight))))
        return
    result = asyncio.run(run(args.seconds, args.limit, args.in_flight, args.wait))
    print(json.dumps(result, indent=2))
    sys.exit(0 if result["lost"] == 0 and result["refused"] else 1)


if __name__ == "__main__":
    main()
