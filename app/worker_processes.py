"""`WORKER_PROCESSES`: `oncallnova up` runs its workers in child processes, so the HTTP edge and
the workers do not share one interpreter (and one core) under load.

The parent keeps the edges (one port), the embedded nats-server and the database migrations;
each child is `oncallnova worker A,B,…` on the same data directory, which finds the embedded
broker there (`nats/nats.url`, `nats/credentials.json`). Every worker runs as exactly one copy,
in one child, so the orders and single-writer assumptions of one process still hold (one
fingerprinter keeps a dedup key's order; one lifecycle numbers incidents on SQLite).

A child writes its workers' counters to `<data dir>/workers/<n>.json` twice a second; the
parent's `/metrics`, `/healthz` and `/api/v1/status` read them (`RemoteRunner`). A child that
dies is started again with backoff, as `EmbeddedNats.supervise` restarts the broker; one that
keeps dying makes `oncallnova up` exit non-zero. A child whose parent disappears stops itself.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import sys
import time
from collections.abc import Iterable, Mapping
from dataclasses import asdict
from pathlib import Path
from typing import Any

from oncallnova.bus.runtime import LatencyHistogram, WorkerStats
from oncallnova.restarts import RESTART_BACKOFF_S, STABLE_AFTER_S, RestartBudget
from oncallnova.settings import Settings

log = logging.getLogger(__name__)

# Default: one child per core, at most this many (the pipeline has four busy stages, and more
# processes than cores only adds context switches and SQLite lock waits).
MAX_DEFAULT_PROCESSES = 4

# Relative CPU per alert of each worker in a storm of new incidents (estimates from the
# storms' profiles: the lifecycle's transaction dominates; fingerprinting and correlation are
# about half of it each; metrics, the escalator and the webhook fan-out handle every incident
# event, the notifier and webhooker only what is paged). Used to spread workers over children.
WEIGHTS: dict[str, float] = {
    "lifecycle": 4.0,
    "fingerprinter": 2.0,
    "correlator": 2.0,
    "metrics_alerts": 1.0,
    "metrics": 1.0,
    "escalator": 1.0,
    "webhook_fanout": 0.5,
}
LIGHT_WEIGHT = 0.25

# Seconds between a child's stats reports, and how old the last may be for "running".
REPORT_EVERY_S = 0.5
REPORT_STALE_S = 5.0


def default_worker_processes(cpus: int | None) -> int:
    """One child per core, capped; a single core keeps today's single process."""
    cpus = cpus or 1
    return 1 if cpus < 2 else min(cpus, MAX_DEFAULT_PROCESSES)


def worker_process_count(settings: Settings, cpus: int | None) -> int:
    """WORKER_PROCESSES if set, else the default; 0 and 1 both mean "in this process"."""
    if settings.worker_processes is None:
        return default_worker_processes(cpus)
    return max(1, settings.worker_processes)


def assign_workers(names: Iterable[str], processes: int) -> list[list[str]]:
    """Workers spread over `processes` groups, heaviest first onto the lightest group (the
    longest-processing-time rule); each worker in exactly one group, no group empty."""
    ordered = sorted(names, key=lambda n: -WEIGHTS.get(n, LIGHT_WEIGHT))
    count = max(1, min(processes, len(ordered)))
    groups: list[list[str]] = [[] for _ in range(count)]
    load = [0.0] * count
    for name in ordered:
        lightest = min(range(count), key=lambda i: (load[i], i))
        groups[lightest].append(name)
        load[lightest] += WEIGHTS.get(name, LIGHT_WEIGHT)
    return groups


# --- the child's side: report counters, follow the parent --------------------------------


def stats_document(runners: Mapping[str, Any]) -> dict[str, Any]:
    """This process's workers' counters as JSON, with its pid and the time."""
    return {
        "pid": os.getpid(),
        "written_at": time.time(),
        "workers": {name: asdict(runner.stats) for name, runner in runners.items()},
    }


def write_atomically(path: Path, text: str) -> None:
    """Readers see the previous file or this one, never half of it."""
    partial = path.with_name(path.name + ".tmp")
    partial.write_text(text)
    os.replace(partial, path)


async def report_stats(path: Path, runners: Mapping[str, Any]) -> None:
    """Write the counters every REPORT_EVERY_S until cancelled."""
    path.parent.mkdir(parents=True, exist_ok=True)
    while True:
        write_atomically(path, json.dumps(stats_document(runners)))
        await asyncio.sleep(REPORT_EVERY_S)


async def follow_parent(parent_pid: int) -> None:
    """Stop this process cleanly (as SIGTERM would) once its supervisor is gone: a killed
    `oncallnova up` must not leave workers pulling behind it."""
    while os.getppid() == parent_pid:  # noqa: ASYNC110 - no event tells of a parent's death
        await asyncio.sleep(1.0)
    log.warning("supervisor %s is gone; stopping", parent_pid)
    os.kill(os.getpid(), signal.SIGTERM)


# --- the parent's side ---------------------------------------------------------------------


def stats_from_json(data: Mapping[str, Any]) -> WorkerStats:
    latency = data.get("latency") or {}
    stats = WorkerStats(**{k: v for k, v in data.items() if k != "latency"})
    stats.latency = LatencyHistogram(
        bounds=tuple(latency.get("bounds", LatencyHistogram().bounds)),
        counts=list(latency.get("counts", LatencyHistogram().counts)),
        total=float(latency.get("total", 0.0)),
    )
    return stats


class WorkerProcess:
    """One child `oncallnova worker A,B` under the parent: started, restarted, stopped."""

    def __init__(
        self,
        index: int,
        names: list[str],
        data_dir: Path,
        backoff: tuple[float, ...] = RESTART_BACKOFF_S,
        stable_after_s: float = STABLE_AFTER_S,
    ) -> None:
        self.index = index
        self.names = names
        self.data_dir = data_dir.resolve()
        self.stats_file = self.data_dir / "workers" / f"{index}.json"
        self.backoff = backoff
        self.stable_after_s = stable_after_s
        self.process: asyncio.subprocess.Process | None = None
        self.restarts = 0
        self.stopping = False

    def command(self) -> list[str]:
        return [
            sys.executable, "-m", "app.cli", "worker", ",".join(self.names),
            "--data-dir", str(self.data_dir),
            "--stats-file", str(self.stats_file),
            "--parent-pid", str(os.getpid()),
        ]  # fmt: skip

    async def start(self) -> None:
        self.stats_file.unlink(missing_ok=True)  # "running" only once this child says so
        env = {k: v for k, v in os.environ.items() if k != "METRICS_PORT"}  # the parent's port
        self.process = await asyncio.create_subprocess_exec(
            *self.command(),
            env=env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,  # its banner; logs go to stderr, shared
            # Its own session: Ctrl-C reaches the parent only, which stops the children in
            # order (after HTTP, before the broker).
            start_new_session=True,
        )

    @property
    def pid(self) -> int | None:
        return None if self.process is None else self.process.pid

    def alive(self) -> bool:
        return self.process is not None and self.process.returncode is None

    def report(self) -> dict[str, Any] | None:
        """The child's last stats report, if it is this child's and recent."""
        try:
            document = json.loads(self.stats_file.read_text())
        except (OSError, ValueError):
            return None
        if document.get("pid") != self.pid:
            return None
        if time.time() - float(document.get("written_at", 0)) > REPORT_STALE_S:
            return None
        return dict(document)

    async def supervise(self) -> None:
        """Restart the child each time it dies, with backoff; raise if it cannot stay up."""
        loop = asyncio.get_running_loop()
        budget = RestartBudget(self.backoff, self.stable_after_s)
        while True:
            assert self.process is not None
            started_at = loop.time()
            code = await self.process.wait()
            if self.stopping:
                return
            budget.exited(loop.time() - started_at)
            wait = budget.next_wait()
            if wait is None:
                raise RuntimeError(
                    f"worker process {self.index} ({', '.join(self.names)}) kept exiting "
                    f"(last code {code}); gave up after {budget.failures} restarts"
                )
            log.error(
                "worker process %s (%s) exited with %s; restarting it",
                self.index, ", ".join(self.names), code,
            )  # fmt: skip
            await asyncio.sleep(wait)
            if self.stopping:
                return
            await self.start()
            self.restarts += 1

    async def stop(self, timeout_s: float = 30.0) -> None:
        """SIGTERM: the child finishes its batches, gives back the rest and exits."""
        self.stopping = True
        if not self.alive():
            return
        assert self.process is not None
        self.process.terminate()
        try:
            await asyncio.wait_for(self.process.wait(), timeout=timeout_s)
        except TimeoutError:
            log.error("worker process %s did not stop within %ss; killed", self.index, timeout_s)
            self.process.kill()
            await self.process.wait()
        self.stats_file.unlink(missing_ok=True)


class RemoteRunner:
    """A worker in a child process, as /metrics and /healthz see a runner: `stats` and
    `is_running()` from the child's last report."""

    def __init__(self, name: str, child: WorkerProcess) -> None:
        self.name = name
        self.child = child

    @property
    def stats(self) -> WorkerStats:
        report = self.child.report() if self.child.alive() else None
        data = (report or {}).get("workers", {}).get(self.name)
        return stats_from_json(data) if data else WorkerStats()

    def is_running(self) -> bool:
        return self.child.alive() and self.stats.running
