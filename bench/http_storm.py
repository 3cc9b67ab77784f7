"""The embedded default under HTTP load: `oncallnova up` (SQLite + the bundled nats-server), wrk on
`POST /v2/enqueue` (PagerDuty Events v2), and how much of what was accepted is committed while
the load runs. Compares WORKER_PROCESSES settings side by side, alternated, and measures
Prometheus Alertmanager's single-alert intake in the same sitting for the ratio.

    .venv/bin/python bench/http_storm.py --processes 1 2 --rounds 3

Per run, a fresh data directory and a fresh platform:
- accepted/s: wrk's 202 answers per second (64 connections, 10 s by default);
- committed/s during the load: alert rows committed in SQLite between wrk's start and its end
  (read from the database file itself, a read-only connection, every 0.1 s), per second;
- drain: seconds from the end of the load until every accepted alert is committed;
- CPU seconds of the parent and of the worker children during the load (from /proc).
Every event has its own dedup key unless `--keys N` (then N keys, so N incidents).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parent.parent
CLI = [sys.executable, "-m", "app.cli"]
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def embedded_env(processes: int) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DATABASE_URL", "NATS_URL", "REDIS_URL", "METRICS_PORT")
    }
    env.update(LOG_FORMAT="text", LOG_LEVEL="WARNING", WORKER_PROCESSES=str(processes))
    return env


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process so far."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def children(pid: int) -> list[int]:
    """Python children of `pid` (the worker processes; not the nats-server)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        comm = stat[stat.index("(") + 1 : stat.rindex(")")]
        if ppid == pid and not comm.startswith("nats-server"):
            found.append(int(entry.name))
    return found


def nats_server_of(pid: int) -> list[int]:
    return [
        int(e.name)
        for e in Path("/proc").iterdir()
        if e.name.isdigit() and (e / "comm").exists() and _is_nats_child(e, pid)
    ]


def _is_nats_child(entry: Path, pid: int) -> bool:
    try:
        stat = (entry / "stat").read_text()
    except OSError:
        return False
    comm = stat[stat.index("(") + 1 : stat.rindex(")")]
    return comm.startswith("nats-server") and int(stat.rsplit(")", 1)[1].split()[1]) == pid


def pagerduty_script(directory: Path, key: str, keys: int) -> Path:
    """wrk Lua: one trigger per request; each wrk thread numbers its own dedup keys."""
    body = json.dumps(
        {
            "routing_key": key,
            "event_action": "trigger",
            "dedup_key": "storm-%d-%d",
            "payload": {"summary": "storm %d-%d", "source": "bench", "severity": "error"},
        }
    )
    modulo = f"counter % {keys}" if keys else "counter"
    script = directory / "enqueue.lua"
    script.write_text(
        "local threads = 0\n"
        "function setup(thread) thread:set('tid', threads); threads = threads + 1 end\n"
        "function init(args) counter = 0 end\n"
        "function request()\n"
        "  counter = counter + 1\n"
        f"  local n = {modulo}\n"
        f"  local tag = {'0' if keys else 'tid'}\n"
        f"  local body = string.format({json.dumps(body)}, tag, n, tag, n)\n"
        '  return wrk.format("POST", "/v2/enqueue", {["Content-Type"]="application/json"}, body)\n'
        "end\n"
    )
    return script


def alertmanager_script(directory: Path) -> Path:
    """wrk Lua: one alert per POST /api/v2/alerts, each with its own labels."""
    script = directory / "alertmanager.lua"
    script.write_text(
        "local threads = 0\n"
        "function setup(thread) thread:set('tid', threads); threads = threads + 1 end\n"
        "function init(args) counter = 0 end\n"
        "function request()\n"
        "  counter = counter + 1\n"
        '  local body = string.format(\'[{"labels":{"alertname":"Storm","instance":'
        '"host-%d-%d","severity":"error"},"annotations":{"summary":"storm"}}]\', '
        "tid, counter)\n"
        '  return wrk.format("POST", "/api/v2/alerts", {["Content-Type"]="application/json"}, '
        "body)\n"
        "end\n"
    )
    return script


def parse_wrk(report: str) -> tuple[int, int, float]:
    """(requests, non-2xx, seconds) from wrk's summary."""
    found = re.search(r"(\d+) requests in ([\d.]+)(us|ms|s|m),", report)
    if found is None:
        raise RuntimeError(f"wrk failed:\n{report}")
    requests = int(found.group(1))
    seconds = float(found.group(2)) * {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0}[found.group(3)]
    non2xx = sum(int(x.split()[-1]) for x in report.splitlines() if "Non-2xx" in x)
    return requests, non2xx, seconds


def wrk(url: str, script: Path, connections: int, seconds: int) -> subprocess.Popen[str]:
    return subprocess.Popen(
        ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "-s", str(script), url],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def count_rows(db: Path) -> tuple[int, int]:
    """(alerts, incidents) committed, read from the database file."""
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as conn:
        alerts = conn.execute("SELECT count(*) FROM alerts").fetchone()[0]
        incidents = conn.execute("SELECT count(*) FROM incidents").fetchone()[0]
    return int(alerts), int(incidents)


def run_platform(processes: int, args: argparse.Namespace) -> dict[str, float]:
    data = Path(tempfile.mkdtemp(prefix="http-storm-"))
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = embedded_env(processes)
    platform = subprocess.Popen(
        [*CLI, "up", "--data-dir", str(data), "--port", str(port), "--grpc-port", str(free_port())],
        env=env, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while True:
            if platform.poll() is not None:
                raise RuntimeError("oncallnova up exited early")
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("platform did not become healthy")
            time.sleep(0.2)
        created = subprocess.run(
            [*CLI, "service", "create", "storm", "--json", "--data-dir", str(data)],
            env=env, cwd=REPO, capture_output=True, text=True, check=True,
        )  # fmt: skip
        key = json.loads(created.stdout)["integration_key"]
        db = data / "oncallnova.db"
        time.sleep(1.0)  # let start-up settle
        if args.edge_nice:
            # The main thread only (its tid is the pid): the HTTP edge's event loop.
            os.setpriority(os.PRIO_PROCESS, platform.pid, args.edge_nice)
        workers = children(platform.pid)
        pids = [platform.pid, *workers, *nats_server_of(platform.pid)]
        cpu_before = {pid: cpu_seconds(pid) for pid in pids}
        base_alerts, base_incidents = count_rows(db)
        load = wrk(base, pagerduty_script(data, key, args.keys), args.connections, args.seconds)
        started = time.monotonic()
        while load.poll() is None:
            time.sleep(0.1)
        ended = time.monotonic()
        alerts_at_end, incidents_at_end = count_rows(db)
        cpu = {pid: cpu_seconds(pid) - cpu_before[pid] for pid in pids}
        report = load.stdout.read() if load.stdout else ""
        requests, non2xx, wrk_seconds = parse_wrk(report)
        accepted = requests - non2xx
        drain_deadline = time.monotonic() + 300
        alerts = alerts_at_end
        while alerts - base_alerts < accepted and time.monotonic() < drain_deadline:
            time.sleep(0.1)
            alerts, _ = count_rows(db)
        drained = time.monotonic()
        load_s = ended - started
        committed = alerts_at_end - base_alerts
        return {
            "worker_processes": processes,
            "accepted": accepted,
            "refused": non2xx,
            "accepted_per_s": accepted / wrk_seconds,
            "committed_during_load": committed,
            "incidents_during_load": incidents_at_end - base_incidents,
            "committed_per_s": committed / load_s,
            "committed_over_accepted": committed / accepted if accepted else 0.0,
            "drain_s": drained - ended,
            "all_committed": alerts - base_alerts >= accepted,
            "cpu_parent_s": cpu[platform.pid],
            "cpu_workers_s": sum(cpu[p] for p in workers),
            "cpu_nats_s": sum(v for p, v in cpu.items() if p != platform.pid and p not in workers),
        }
    finally:
        platform.send_signal(signal.SIGTERM)
        try:
            platform.wait(timeout=60)
        except subprocess.TimeoutExpired:
            platform.kill()
        shutil.rmtree(data, ignore_errors=True)


def run_alertmanager(args: argparse.Namespace) -> dict[str, float]:
    """Alertmanager 0.25 in memory (a temp storage path), one alert per POST, same wrk load."""
    binary = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")
    if binary is None:
        raise RuntimeError("prometheus-alertmanager not installed")
    home = Path(tempfile.mkdtemp(prefix="alertmanager-"))
    config = home / "alertmanager.yml"
    config.write_text("route:\n  receiver: blackhole\nreceivers:\n  - name: blackhole\n")
    port = free_port()
    process = subprocess.Popen(
        [
            binary, f"--config.file={config}", f"--storage.path={home / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}", "--cluster.listen-address=",
        ],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{base}/-/ready", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("alertmanager did not become ready")
            time.sleep(0.1)
        load = wrk(base, alertmanager_script(home), args.connections, args.seconds)
        report, _ = load.communicate()
        requests, non2xx, seconds = parse_wrk(report)
        return {"accepted": requests - non2xx, "refused": non2xx,
                "accepted_per_s": (requests - non2xx) / seconds}  # fmt: skip
    finally:
        process.terminate()
        process.wait(timeout=30)
        shutil.rmtree(home, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--processes", type=int, nargs="+", default=[1, 2],
                        help="WORKER_PROCESSES values to compare, alternated")  # fmt: skip
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--keys", type=int, default=0, help="dedup keys (0: each event its own)")
    parser.add_argument("--no-alertmanager", action="store_true")
    parser.add_argument("--edge-nice", type=int, default=0, help="renice the edge's thread")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk not found (Debian: apt-get install wrk)")
    results: list[dict[str, object]] = []
    for round_no in range(args.rounds):
        order = args.processes if round_no % 2 == 0 else list(reversed(args.processes))
        for processes in order:
            row: dict[str, object] = {
                "round": round_no + 1,
                "system": "oncallnova",
                "load_average": round(os.getloadavg()[0], 1),
            }
            row.update(run_platform(processes, args))
            print(json.dumps(row), flush=True)
            results.append(row)
        if not args.no_alertmanager:
            row = {
                "round": round_no + 1,
                "system": "alertmanager",
                "load_average": round(os.getloadavg()[0], 1),
            }
            row.update(run_alertmanager(args))
            print(json.dumps(row), flush=True)
            results.append(row)
    print()
    print("| round | system | load avg | accepted/s | committed/s during load "
          "| committed ÷ accepted | drain s | CPU s parent / workers / nats |")  # fmt: skip
    print("|---|---|---:|---:|---:|---:|---:|---|")
    for r in results:
        if r["system"] == "alertmanager":
            print(
                f"| {r['round']} | Alertmanager 0.25 | {r['load_average']} "
                f"| {r['accepted_per_s']:,.0f} | – | – | – | – |"
            )
            continue
        print(
            f"| {r['round']} | WORKER_PROCESSES={r['worker_processes']} | {r['load_average']} "
            f"| {r['accepted_per_s']:,.0f} | {r['committed_per_s']:,.0f} "
            f"| {r['committed_over_accepted']:.2f} | {r['drain_s']:.1f} "
            f"| {r['cpu_parent_s']:.1f} / {r['cpu_workers_s']:.1f} / {r['cpu_nats_s']:.1f} |"
        )
    am = [float(r["accepted_per_s"]) for r in results if r["system"] == "alertmanager"]  # type: ignore[arg-type]
    if am:
        for processes in args.processes:
            ours = [
                float(r["accepted_per_s"])  # type: ignore[arg-type]
                for r in results
                if r["system"] == "oncallnova" and r["worker_processes"] == processes
            ]
            print(
                f"WORKER_PROCESSES={processes}: accepted/s ÷ Alertmanager's = "
                f"{sum(ours) / len(ours) / (sum(am) / len(am)):.2f}"
            )


if __name__ == "__main__":
    main()
