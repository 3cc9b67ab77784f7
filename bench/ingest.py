"""End-to-end ingest benchmark on the services mode (PostgreSQL + Redis + NATS on this machine).

Measures, for producers publishing straight to NATS and for HTTP `POST /v2/enqueue`:
  - sustained alerts/s from first publish to the last alert's committed incident row
    (observed as the lifecycle worker's incident event, which is published after the commit);
  - p50/p99 latency from publish to committed row at a fixed offered rate.

Each worker and the ingestion edge run as their own processes (`oncallnova worker NAME`,
`oncallnova edge ingestion`), as an operator would scale them. Run:

    .venv/bin/python bench/ingest.py                # both paths, default sizes
    .venv/bin/python bench/ingest.py --alerts 20000 --rate 1000 --seconds 10
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

import nats

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.cli import calm_garbage_collector  # noqa: E402
from oncallnova.bus.connection import connect  # noqa: E402
from oncallnova.bus.provision import provision  # noqa: E402
from oncallnova.db import migrate  # noqa: E402
from oncallnova.db.engine import create_engine, create_sessions  # noqa: E402
from oncallnova.db.repositories import incidents as repo  # noqa: E402
from oncallnova.settings import Settings  # noqa: E402
from schemas.subjects import (  # noqa: E402
    ALERT_FINGERPRINTED,
    ALERT_RECEIVED,
    INCIDENT_COMMAND,
    INCIDENT_EVENT,
)
from tests.broker import nats_url  # noqa: E402
from tests.helpers import drop_namespace  # noqa: E402

PG = os.environ.get("BENCH_DATABASE_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test")
REDIS = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
# The bundled nats-server (>= 2.11), started for the run on a free port, unless given.
NATS = os.environ.get("BENCH_NATS_URL") or nats_url()
WORKERS = ("fingerprinter", "correlator", "lifecycle")


def partition_share(index: int, copies: int, partitions: int = 8) -> str:
    """Copy `index` of `copies`: its contiguous share of the partitions, as `--partitions`."""
    first = index * partitions // copies
    last = (index + 1) * partitions // copies - 1
    return f"{first}-{last}"


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def event_body(key: str, dedup_key: str) -> bytes:
    return json.dumps(
        {
            "routing_key": key,
            "event_action": "trigger",
            "dedup_key": dedup_key,
            "payload": {
                "summary": f"latency high on {dedup_key}",
                "source": "bench",
                "severity": "error",
            },
        }
    ).encode()


@dataclass
class Observer:
    """Counts committed alerts by watching incident events; records when each dedup key lands."""

    seen: int = 0
    landed: dict[str, float] = field(default_factory=dict)
    target: int = 0
    done: asyncio.Event = field(default_factory=asyncio.Event)

    async def on_event(self, msg) -> None:  # type: ignore[no-untyped-def]
        self.seen += 1
        data = json.loads(msg.data)
        self.landed.setdefault(data["incident"]["dedup_key"], time.perf_counter())
        if self.target and self.seen >= self.target:
            self.done.set()

    # When each dedup key passed the fingerprinter and the correlator (their outputs).
    fingerprinted: dict[str, float] = field(default_factory=dict)
    commanded: dict[str, float] = field(default_factory=dict)

    async def on_fingerprinted(self, msg) -> None:  # type: ignore[no-untyped-def]
        self.fingerprinted.setdefault(json.loads(msg.data)["dedup_key"], time.perf_counter())

    async def on_command(self, msg) -> None:  # type: ignore[no-untyped-def]
        self.commanded.setdefault(json.loads(msg.data)["dedup_key"], time.perf_counter())

    def reset(self, target: int) -> None:
        self.seen = 0
        self.landed = {}
        self.fingerprinted = {}
        self.commanded = {}
        self.target = target
        self.done = asyncio.Event()


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


class RawHttp:
    """Keep-alive HTTP/1.1 POSTs over plain asyncio streams: httpx spends 1–3 ms of CPU per
    request, which on two shared cores would make the load generator the bottleneck."""

    def __init__(self, host: str, port: int, path: str, connections: int) -> None:
        self.host, self.port, self.path = host, port, path
        self.size = connections
        self.idle: asyncio.Queue[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = (
            asyncio.Queue()
        )

    async def open(self) -> None:
        for _ in range(self.size):
            self.idle.put_nowait(await asyncio.open_connection(self.host, self.port))

    async def close(self) -> None:
        while not self.idle.empty():
            _, writer = self.idle.get_nowait()
            writer.close()

    async def post(self, body: bytes) -> int:
        reader, writer = await self.idle.get()
        try:
            writer.write(
                f"POST {self.path} HTTP/1.1\r\nHost: {self.host}\r\n"
                f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n".encode()
                + body
            )
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head.split(b" ", 2)[1])
            length = next(
                int(line.split(b":", 1)[1])
                for line in head.split(b"\r\n")
                if line.lower().startswith(b"content-length:")
            )
            await reader.readexactly(length)
            return status
        finally:
            self.idle.put_nowait((reader, writer))


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.ns = "bench" + secrets.token_hex(3)
        self.env = {
            **os.environ,
            "DATABASE_URL": PG,
            "DATABASE_SCHEMA": self.ns,
            "REDIS_URL": REDIS,
            "NATS_URL": NATS,
            "NATS_NAMESPACE": self.ns,
            "LOG_LEVEL": "WARNING",
            "FETCH_BATCH": str(args.batch),
            # Edges refuse to start in services mode without a signing secret.
            "JWT_SECRET": secrets.token_hex(32),
        }
        self.settings = Settings(
            database_url=PG,
            database_schema=self.ns,
            redis_url=REDIS,
            nats_url=NATS,
            nats_namespace=self.ns,
        )
        self.procs: list[subprocess.Popen[bytes]] = []
        self.http_port = free_port()

    async def setup(self) -> str:
        engine = create_engine(self.settings)
        await migrate.upgrade(engine, self.ns)
        async with create_sessions(engine).begin() as session:
            service = await repo.create_service(session, "bench")
            key = service.integration_key
        await engine.dispose()
        bus = await connect(self.settings)
        await provision(bus, with_kv=False)
        await bus.close()
        cli = [sys.executable, "-m", "app.cli"]
        for name in WORKERS:
            copies = self.args.lifecycle_copies if name == "lifecycle" else self.args.copies
            for index in range(copies):
                # Partitioned workers: the copies share the partitions through their roster,
                # or (--shares manual) each is given its share with --partitions.
                share = []
                if copies > 1 and self.args.shares == "manual" and name != "fingerprinter":
                    share = ["--partitions", partition_share(index, copies)]
                self.procs.append(subprocess.Popen([*cli, "worker", name, *share], env=self.env))
        self.procs.append(
            subprocess.Popen(
                [
                    *cli,
                    "edge",
                    "ingestion",
                    "--port",
                    str(self.http_port),
                    "--grpc-port",
                    str(free_port()),
                ],
                env=self.env,
            )
        )
        async with httpx.AsyncClient() as client:
            for _ in range(200):
                try:
                    if (
                        await client.get(f"http://127.0.0.1:{self.http_port}/healthz")
                    ).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(0.1)
        await asyncio.sleep(1.5)  # workers connect and start fetching
        return key

    async def teardown(self) -> None:
        for proc in self.procs:
            proc.terminate()
        for proc in self.procs:
            proc.wait(timeout=30)
        await drop_namespace(self.ns)

    async def run(self) -> dict[str, dict[str, float]]:
        key = await self.setup()
        results: dict[str, dict[str, float]] = {}
        nc = await nats.connect(NATS)
        js = nc.jetstream(publish_async_max_pending=8000)
        observer = Observer()
        # One subscription per event type: `incident.*.v1.*` would also match commands.
        for events_subject in INCIDENT_EVENT.stream_subjects(self.ns):
            await nc.subscribe(events_subject, cb=observer.on_event)
        await nc.subscribe(ALERT_FINGERPRINTED.wildcard(self.ns), cb=observer.on_fingerprinted)
        await nc.subscribe(INCIDENT_COMMAND.wildcard(self.ns), cb=observer.on_command)
        subject = ALERT_RECEIVED.subject("pagerduty", ns=self.ns)
        try:
            if "nats" in self.args.paths:
                results["nats"] = await self.nats_path(js, observer, subject, key)
            if "http" in self.args.paths:
                results["http"] = await self.http_path(observer, key)
        finally:
            await nc.close()
            await self.teardown()
        return results

    async def nats_path(self, js, observer: Observer, subject: str, key: str) -> dict[str, float]:  # type: ignore[no-untyped-def]
        n, keys = self.args.alerts, self.args.keys
        bodies = [event_body(key, f"tp-{i % keys}") for i in range(n)]
        observer.reset(n)
        start = time.perf_counter()
        futures = []
        for i, body in enumerate(bodies):
            futures.append(
                await js.publish_async(subject, body, headers={"Nats-Msg-Id": f"tp-{i}"})
            )
        await asyncio.gather(*futures)
        published = time.perf_counter()
        await asyncio.wait_for(observer.done.wait(), timeout=600)
        elapsed = time.perf_counter() - start
        result = {
            "alerts": n,
            "incidents": keys,
            "publish_s": published - start,
            "end_to_end_s": elapsed,
            "alerts_per_s": n / elapsed,
        }
        latencies = await self.fixed_rate(
            observer, "nats", lambda d: self._publish_one(js, subject, key, d)
        )
        result.update(latencies)
        return result

    async def _publish_one(self, js, subject: str, key: str, dedup: str) -> None:  # type: ignore[no-untyped-def]
        await js.publish_async(subject, event_body(key, dedup), headers={"Nats-Msg-Id": dedup})

    async def http_path(self, observer: Observer, key: str) -> dict[str, float]:
        base = f"http://127.0.0.1:{self.http_port}/v2/enqueue"
        n, keys = self.args.http_alerts, self.args.keys
        client = RawHttp("127.0.0.1", self.http_port, "/v2/enqueue", self.args.connections)
        await client.open()
        result: dict[str, float] = {}
        try:
            if shutil.which("wrk") and not self.args.no_wrk:
                result.update(await self.wrk(base, key, observer))
            else:
                observer.reset(n)
                queue: asyncio.Queue[int] = asyncio.Queue()
                for i in range(n):
                    queue.put_nowait(i)
                start = time.perf_counter()

                async def sender() -> None:
                    while not queue.empty():
                        i = queue.get_nowait()
                        assert await client.post(event_body(key, f"http-{i % keys}")) == 202

                await asyncio.gather(*(sender() for _ in range(self.args.connections)))
                await asyncio.wait_for(observer.done.wait(), timeout=600)
                elapsed = time.perf_counter() - start
                result.update({"alerts": n, "end_to_end_s": elapsed, "alerts_per_s": n / elapsed})

            async def post(dedup: str) -> None:
                assert await client.post(event_body(key, dedup)) == 202

            result.update(await self.fixed_rate(observer, "http", post, concurrent=True))
        finally:
            await client.close()
        return result

    async def wrk(self, url: str, key: str, observer: Observer) -> dict[str, float]:
        """Saturate the HTTP edge with wrk; count what reached committed rows."""
        script = Path(tempfile.mkdtemp()) / "post.lua"
        body = event_body(key, "wrk-%d").decode()
        script.write_text(
            "counter = 0\n"
            "request = function()\n"
            "  counter = counter + 1\n"
            f"  local n = counter % {self.args.keys}\n"
            f"  local body = string.format({json.dumps(body)}{', n' * body.count('%d')})\n"
            '  return wrk.format("POST", nil, {["Content-Type"]="application/json"}, body)\n'
            "end\n"
        )
        observer.reset(0)
        start = time.perf_counter()
        proc = await asyncio.create_subprocess_exec(
            "wrk", "-t2", f"-c{self.args.connections}", f"-d{int(self.args.seconds)}s", "--latency",
            "-s", str(script), url, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        out, err = await proc.communicate()
        report = out.decode()
        if "requests in" not in report:
            raise RuntimeError(f"wrk failed:\n{report}\n{err.decode() if err else ''}")
        requests = int(
            next(line.split()[0] for line in report.splitlines() if "requests in" in line)
        )
        non2xx = sum(int(line.split()[-1]) for line in report.splitlines() if "Non-2xx" in line)
        accepted = requests - non2xx
        # Wait for every accepted event to commit, then rate = committed / time to commit all.
        deadline = time.perf_counter() + 300
        while observer.seen < accepted and time.perf_counter() < deadline:
            await asyncio.sleep(0.05)
        elapsed = time.perf_counter() - start
        rps = float(
            next(line.split()[1] for line in report.splitlines() if line.startswith("Requests/sec"))
        )
        http_p99 = next(
            (line.split()[1] for line in report.splitlines() if line.strip().startswith("99%")), "?"
        )
        http_p50 = next(
            (line.split()[1] for line in report.splitlines() if line.strip().startswith("50%")), "?"
        )
        print(report, file=sys.stderr)
        return {
            "wrk_requests": requests,
            "wrk_non_2xx": non2xx,
            "http_accept_per_s": rps,
            "http_202_p50": http_p50,  # type: ignore[dict-item]
            "http_202_p99": http_p99,  # type: ignore[dict-item]
            "committed": observer.seen,
            "alerts_per_s": observer.seen / elapsed,
        }

    async def fixed_rate(
        self, observer: Observer, tag: str, send, concurrent: bool = False
    ) -> dict[str, float]:  # type: ignore[no-untyped-def]
        """Offer `--rate` alerts/s for `--seconds`, each a new incident; latency to committed row."""
        rate, seconds = self.args.rate, self.args.seconds
        total = int(rate * seconds)
        observer.reset(total)
        sent: dict[str, float] = {}
        tasks = []
        start = time.perf_counter()
        tick = 0.005
        i = 0
        while i < total:
            due = int((time.perf_counter() - start) * rate) + 1
            while i < min(due, total):
                dedup = f"{tag}-lat-{self.ns}-{i}"
                sent[dedup] = time.perf_counter()
                if concurrent:
                    tasks.append(asyncio.create_task(send(dedup)))
                else:
                    await send(dedup)
                i += 1
            await asyncio.sleep(tick)
        offered_s = time.perf_counter() - start
        if tasks:
            await asyncio.gather(*tasks)
        await asyncio.wait_for(observer.done.wait(), timeout=300)
        latencies = [
            (observer.landed[k] - t) * 1000 for k, t in sent.items() if k in observer.landed
        ]
        if self.args.dump:
            # One line per alert: seconds since the run started, latency in ms.
            with open(f"{self.args.dump}-{tag}.tsv", "w") as out:
                for k, t in sent.items():
                    if k in observer.landed:
                        out.write(f"{t - start:.4f}\t{(observer.landed[k] - t) * 1000:.2f}\n")
        # Where the time goes: publish → fingerprinted → command → committed event.
        hops: dict[str, list[float]] = {"fingerprinter": [], "correlator": [], "lifecycle": []}
        for k, t in sent.items():
            f, c, e = (
                observer.fingerprinted.get(k),
                observer.commanded.get(k),
                observer.landed.get(k),
            )
            if f is not None and c is not None and e is not None:
                hops["fingerprinter"].append((f - t) * 1000)
                hops["correlator"].append((c - f) * 1000)
                hops["lifecycle"].append((e - c) * 1000)
        stages = {
            f"{hop}_p50_ms/p99_ms": f"{statistics.median(v):.1f}/{percentile(v, 99):.1f}"
            for hop, v in hops.items()
            if v
        }
        return {
            **stages,
            "offered_per_s": total / offered_s,
            "latency_samples": len(latencies),
            "p50_ms": statistics.median(latencies),
            "p99_ms": percentile(latencies, 99),
            "max_ms": max(latencies),
        }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--alerts", type=int, default=20000, help="alerts for the NATS throughput run"
    )
    parser.add_argument(
        "--http-alerts", type=int, default=10000, help="alerts for the HTTP run (no wrk)"
    )
    parser.add_argument("--keys", type=int, default=1000, help="distinct dedup keys (incidents)")
    parser.add_argument(
        "--rate", type=float, default=500, help="offered alerts/s for the latency runs"
    )
    parser.add_argument(
        "--seconds", type=float, default=10, help="length of the latency and wrk runs"
    )
    parser.add_argument("--copies", type=int, default=1, help="processes per worker")
    parser.add_argument("--lifecycle-copies", type=int, default=1, help="lifecycle processes")
    parser.add_argument(
        "--shares",
        choices=["roster", "manual"],
        default="roster",
        help="how copies of partitioned workers split the partitions",
    )
    parser.add_argument("--batch", type=int, default=256, help="FETCH_BATCH for the workers")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--paths", default="nats,http")
    parser.add_argument("--no-wrk", action="store_true")
    parser.add_argument("--dump", help="write per-alert latencies to <DUMP>-<path>.tsv")
    args = parser.parse_args()
    # The load generator timestamps arrivals in callbacks: keep its own GC pauses out of the
    # latencies, as the platform's processes do (app.cli.calm_garbage_collector).
    calm_garbage_collector()
    results = asyncio.run(Bench(args).run())
    print(json.dumps({"args": vars(args), "results": results}, indent=2, default=str))


if __name__ == "__main__":
    main()
