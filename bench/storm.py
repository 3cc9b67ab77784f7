"""Alert storms straight to NATS: is the rate flat from the first alert to the last?

N alerts (PagerDuty v2 trigger bodies) over K dedup keys are published as fast as JetStream
takes them to `alert.received.v1.pagerduty`, the subject the HTTP edge publishes to. An alert
counts as committed when the lifecycle's incident event for it arrives (events are published
after the transaction commits): committed alerts = the sum over incidents of the highest
`alert_count` seen in their events, so the count is right whether the timeline records one
fact per alert or one per batch. Reported: alerts/s overall (first publish → last alert
committed) and for each tenth of the alerts; flat = last tenth ≥ 80 % of the first.

Modes:
  services  PostgreSQL + Redis + the wheel's nats-server; the fingerprinter, the correlator and
            the lifecycle each in its own process (`oncallnova worker NAME`), as bench/ingest.py.
  embedded  `oncallnova up` on a fresh data directory (SQLite, its own nats-server), the
            producer publishing as the platform's user.

`--repos A,B` runs the platform from each checkout in turn (each with the Python of its own
`.venv`, else this one), alternating, so code before and after a change is measured side by side:

    .venv/bin/python bench/storm.py --mode services --alerts 100000 --keys 1
    .venv/bin/python bench/storm.py --mode embedded --alerts 20000 --keys 1000
    .venv/bin/python bench/storm.py --repos /path/to/before,. --runs 2 --alerts 20000
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import nats

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from schemas.subjects import ALERT_RECEIVED, INCIDENT_EVENT  # noqa: E402

PG = os.environ.get("BENCH_DATABASE_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test")
REDIS = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
HERE = Path(__file__).resolve().parents[1]
WORKERS = ("fingerprinter", "correlator", "lifecycle")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def event_body(routing_key: str, dedup_key: str) -> bytes:
    return json.dumps(
        {
            "routing_key": routing_key,
            "event_action": "trigger",
            "dedup_key": dedup_key,
            "payload": {
                "summary": f"disk full on {dedup_key}",
                "source": "bench",
                "severity": "error",
            },
        }
    ).encode()


@dataclass
class Committed:
    """Committed alerts as incident events report them, with when each total was reached."""

    counts: dict[str, int] = field(default_factory=dict)
    total: int = 0
    marks: list[tuple[float, int]] = field(default_factory=list)  # (time, total) on change

    async def on_event(self, msg) -> None:  # type: ignore[no-untyped-def]
        incident = json.loads(msg.data)["incident"]
        seen = self.counts.get(incident["id"], 0)
        if incident["alert_count"] > seen:
            self.counts[incident["id"]] = incident["alert_count"]
            self.total += incident["alert_count"] - seen
            self.marks.append((time.perf_counter(), self.total))

    def reached(self, total: int) -> float | None:
        """When the committed total first reached `total`."""
        for at, count in self.marks:
            if count >= total:
                return at
        return None


TICK = os.sysconf("SC_CLK_TCK")
PG_PORT = 5432


def cpu_s(pid: int) -> float:
    """User + system CPU seconds a process has used (0 once it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICK


def children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(c) for c in text.split()]


def pg_client_ports(pids: list[int]) -> list[int]:
    """Local ports of the processes' TCP connections to PostgreSQL (loopback)."""
    inodes = set()
    for pid in pids:
        try:
            for fd in os.listdir(f"/proc/{pid}/fd"):
                link = os.readlink(f"/proc/{pid}/fd/{fd}")
                if link.startswith("socket:["):
                    inodes.add(link[8:-1])
        except OSError:
            continue
    ports = []
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        cols = line.split()
        if cols[9] in inodes and int(cols[2].split(":")[1], 16) == PG_PORT:
            ports.append(int(cols[1].split(":")[1], 16))
    return ports


class CpuMeter:
    """CPU seconds used by the platform: its processes, their children (the embedded
    nats-server), the bench's nats-server, and the PostgreSQL backends serving them. Wall-clock
    rates on a shared machine swing with everyone else's load; CPU per alert does much less."""

    def __init__(self, pids: list[int]) -> None:
        self.pids = pids
        self.backends: set[int] = set()

    def by_process(self) -> dict[str, float]:
        """CPU seconds so far per kind of process (worker name, nats-server, postgres)."""
        pids = [*self.pids, *(c for p in self.pids for c in children(p))]
        totals: dict[str, float] = {}
        for pid in {*pids, *self.backends}:
            try:
                cmd = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if pid in self.backends:
                name = "postgres"
            elif b"worker" in cmd:
                name = cmd[cmd.index(b"worker") + 1].decode()
            else:
                name = Path(cmd[0].decode()).name if b"app.cli" not in cmd else "up"
            totals[name] = totals.get(name, 0.0) + cpu_s(pid)
        return totals

    async def sample(self) -> float:
        pids = [*self.pids, *(c for p in self.pids for c in children(p))]
        ports = pg_client_ports(pids)
        if ports and PG.startswith("postgresql"):
            import asyncpg

            conn = await asyncpg.connect("postgresql://postgres@127.0.0.1:5432/test")
            try:
                rows = await conn.fetch(
                    "SELECT pid FROM pg_stat_activity WHERE client_port = ANY($1)", ports
                )
            finally:
                await conn.close()
            self.backends.update(r["pid"] for r in rows)
        return sum(cpu_s(p) for p in {*pids, *self.backends})


def tenths(start: float, committed: Committed, n: int) -> list[float]:
    """alerts/s over each tenth of the alerts (the first from the first publish)."""
    rates, previous = [], start
    for k in range(1, 11):
        at = committed.reached(k * n // 10)
        if at is None:
            break
        rates.append((n // 10) / max(at - previous, 1e-9))
        previous = at
    return rates


class Platform:
    """The platform under test, started from `repo` with that checkout's Python."""

    def __init__(self, args: argparse.Namespace, repo: Path, nats_url: str | None) -> None:
        self.args = args
        self.repo = repo
        venv = repo / ".venv" / "bin" / "python"
        self.python = str(venv if venv.exists() else Path(sys.executable))
        self.procs: list[subprocess.Popen[bytes]] = []
        self.ns = "storm" + secrets.token_hex(3) if args.mode == "services" else ""
        self.data_dir = Path(tempfile.mkdtemp(prefix="oncallnova-storm-"))
        self.nats_url = nats_url or ""
        self.env = {
            k: v
            for k, v in os.environ.items()
            if k not in ("DATABASE_URL", "NATS_URL", "REDIS_URL", "NATS_NAMESPACE")
        }
        self.env.update(
            {
                "LOG_LEVEL": "WARNING",
                "FETCH_BATCH": str(args.batch),
                "PYTHONDONTWRITEBYTECODE": "1",  # another checkout is only read
                # `python -m app.cli` from `repo` imports that checkout's packages first.
                "PYTHONPATH": str(repo),
            }
        )
        if args.mode == "services":
            self.env.update(
                {
                    "DATABASE_URL": PG,
                    "DATABASE_SCHEMA": self.ns,
                    "REDIS_URL": REDIS,
                    "NATS_URL": self.nats_url,
                    "NATS_NAMESPACE": self.ns,
                    "JWT_SECRET": secrets.token_hex(32),
                }
            )

    def cli(self, *args: str, **kwargs) -> subprocess.Popen[bytes]:  # type: ignore[no-untyped-def]
        return subprocess.Popen(
            [self.python, "-m", "app.cli", *args, "--data-dir", str(self.data_dir)],
            cwd=self.repo,
            env=self.env,
            **kwargs,
        )

    async def start(self) -> str:
        """Start everything; returns the service's integration key."""
        if self.args.mode == "services":
            assert self.cli("migrate", stdout=subprocess.DEVNULL).wait(timeout=120) == 0
            for name in WORKERS:
                self.procs.append(self.cli("worker", name))
        else:
            up = self.cli(
                "up", "--port", str(free_port()), "--grpc-port", str(free_port()),
                stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            )  # fmt: skip
            self.procs.append(up)
            await asyncio.to_thread(self._read_banner, up)
            from oncallnova.embedded_nats import broker_url

            self.nats_url = broker_url(None, self.data_dir)
        created = self.cli("service", "create", "storm", "--json", stdout=subprocess.PIPE)
        out, _ = created.communicate(timeout=120)
        return str(json.loads(out)["integration_key"])

    @staticmethod
    def _read_banner(process: subprocess.Popen[bytes]) -> None:
        assert process.stdout is not None
        lines: list[bytes] = []
        while not lines or not lines[-1].strip().startswith(b"workers"):
            line = process.stdout.readline()
            if not line:
                raise RuntimeError("oncallnova up exited:\n" + b"".join(lines).decode())
            lines.append(line)
        # Keep draining its output so the pipe never fills.
        threading_drain(process)

    async def wait_pulling(self, js) -> None:  # type: ignore[no-untyped-def]
        """Until the three workers' consumers exist and wait for messages."""
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            waiting: set[str] = set()
            try:
                for stream in await js.streams_info():
                    if not stream.config.name.startswith(self.ns.upper()):
                        continue
                    for info in await js.consumers_info(stream.config.name):
                        if (info.num_waiting or 0) > 0:
                            # Partitioned workers have one durable per partition: `name-3`.
                            waiting.add(info.name.rsplit("-", 1)[0])
            except Exception:
                pass
            if all(name in waiting for name in WORKERS):
                return
            await asyncio.sleep(0.2)
        raise RuntimeError(f"workers never pulled: {self.procs}")

    def pids(self) -> list[int]:
        """The platform's processes, with the bench's own nats-server in services mode."""
        pids = [p.pid for p in self.procs]
        if self.args.mode == "services":
            from tests import broker

            if broker._process is not None:
                pids.append(broker._process.pid)
        return pids

    def profile(self, directory: str) -> list[subprocess.Popen[bytes]]:
        """py-spy on every platform process until the storm ends (collapsed stacks)."""
        Path(directory).mkdir(parents=True, exist_ok=True)
        names = WORKERS if self.args.mode == "services" else ("up",)
        return [
            subprocess.Popen(
                [
                    "py-spy",
                    "record",
                    "--nonblocking",
                    "-r",
                    "50",
                    "-f",
                    "raw",
                    "-o",
                    f"{directory}/{name}.txt",
                    "-p",
                    str(proc.pid),
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )  # fmt: skip
            for name, proc in zip(names, self.procs, strict=True)
        ]

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
        shutil.rmtree(self.data_dir, ignore_errors=True)


def threading_drain(process: subprocess.Popen[bytes]) -> None:
    import threading

    def drain() -> None:
        assert process.stdout is not None
        for _ in process.stdout:
            pass

    threading.Thread(target=drain, daemon=True).start()


async def seq_scans(schema: str) -> dict[str, list[int]]:
    """table -> [sequential scans, rows they read, rows inserted] in the run's schema."""
    import asyncpg

    await asyncio.sleep(1)  # backends report their counters within a second
    conn = await asyncpg.connect("postgresql://postgres@127.0.0.1:5432/test")
    try:
        rows = await conn.fetch(
            "SELECT relname, seq_scan, seq_tup_read, n_tup_ins FROM pg_stat_user_tables"
            " WHERE schemaname = $1 AND relname = ANY($2)",
            schema,
            ["incidents", "alerts", "incident_timeline"],
        )
    finally:
        await conn.close()
    return {r["relname"]: [r["seq_scan"], r["seq_tup_read"], r["n_tup_ins"]] for r in rows}


async def sample_tenths(meter: CpuMeter, committed: Committed, n: int, cpu: list[float]) -> None:
    """CPU used so far each time another tenth of the alerts has committed."""
    for k in range(1, 11):
        while committed.total < k * n // 10:
            await asyncio.sleep(0.02)
        cpu.append(await meter.sample())


async def storm(args: argparse.Namespace, repo: Path, nats_url: str | None) -> dict[str, object]:
    platform = Platform(args, repo, nats_url)
    try:
        key = await platform.start()
        nc = await nats.connect(platform.nats_url)
        js = nc.jetstream(publish_async_max_pending=8000)
        await platform.wait_pulling(js)
        profilers = platform.profile(args.profile) if args.profile else []
        committed = Committed()
        for subject in INCIDENT_EVENT.stream_subjects(platform.ns):
            if ".triggered." in subject or ".alert_attached." in subject:
                await nc.subscribe(subject, cb=committed.on_event, pending_msgs_limit=-1)
        subject = ALERT_RECEIVED.subject("pagerduty", ns=platform.ns)
        n, keys = args.alerts, args.keys
        tag = secrets.token_hex(3)
        bodies = [event_body(key, f"storm-{i % keys}") for i in range(n)]
        meter = CpuMeter(platform.pids())
        cpu = [await meter.sample()]
        split = meter.by_process()
        sampler = asyncio.create_task(sample_tenths(meter, committed, n, cpu))
        start = time.perf_counter()
        futures = [
            await js.publish_async(subject, body, headers={"Nats-Msg-Id": f"{tag}-{i}"})
            for i, body in enumerate(bodies)
        ]
        await asyncio.gather(*futures)
        published = time.perf_counter()
        deadline = published + args.timeout
        while committed.total < n and time.perf_counter() < deadline:
            await asyncio.sleep(0.05)
        end = committed.reached(n) or time.perf_counter()
        await asyncio.wait_for(sampler, timeout=10) if committed.total >= n else sampler.cancel()
        for profiler in profilers:
            profiler.send_signal(signal.SIGINT)  # py-spy writes its file on SIGINT
            profiler.wait(timeout=60)
        await nc.close()
        rates = tenths(start, committed, n)
        scans = await seq_scans(platform.ns) if args.mode == "services" else {}
        return {
            "mode": args.mode,
            "repo": str(repo),
            "alerts": n,
            "keys": keys,
            "committed": committed.total,
            "incidents": len(committed.counts),
            "publish_s": round(published - start, 2),
            "elapsed_s": round(end - start, 2),
            "alerts_per_s": round(committed.total / (end - start)),
            "tenths_per_s": [round(r) for r in rates],
            "last_over_first": round(rates[-1] / rates[0], 2) if len(rates) == 10 else None,
            "pg_backends": len(meter.backends),
            # Full scans of the hot tables, the rows they read, rows inserted.
            "seq_scans": scans,
            # Platform CPU ms per 1,000 alerts, overall and in each tenth.
            "cpu_ms_per_1000": round((cpu[-1] - cpu[0]) * 1e6 / n) if len(cpu) == 11 else None,
            "cpu_ms_per_1000_by_process": {
                name: round((used - split.get(name, 0.0)) * 1e6 / n)
                for name, used in meter.by_process().items()
            },
            "cpu_tenths": [
                round((b - a) * 1e6 / (n // 10)) for a, b in zip(cpu, cpu[1:], strict=False)
            ],
        }
    finally:
        platform.stop()
        if args.mode == "services":
            from tests.helpers import drop_namespace

            await drop_namespace(platform.ns)


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--mode", choices=("services", "embedded"), default="services")
    parser.add_argument("--alerts", type=int, default=100_000)
    parser.add_argument("--keys", type=int, default=1, help="distinct dedup keys")
    parser.add_argument("--batch", type=int, default=256, help="FETCH_BATCH for the workers")
    parser.add_argument("--repos", default=str(HERE), help="checkouts to run, comma-separated")
    parser.add_argument("--runs", type=int, default=1, help="runs per checkout, alternating")
    parser.add_argument("--profile", help="directory for py-spy profiles of each process")
    parser.add_argument("--timeout", type=float, default=900, help="seconds after publishing")
    args = parser.parse_args()
    nats_url = None
    if args.mode == "services":
        from tests.broker import nats_url as bundled

        nats_url = os.environ.get("BENCH_NATS_URL") or bundled()
    for _ in range(args.runs):
        for repo in args.repos.split(","):
            result = await storm(args, Path(repo).resolve(), nats_url)
            print(json.dumps(result), flush=True)


if __name__ == "__main__":
    asyncio.run(main())
