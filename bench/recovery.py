"""How long a backlog waits when a worker copy is stopped (SIGTERM) or killed (SIGKILL).

Two lifecycle processes (`oncallnova worker lifecycle`) on services mode; a backlog of trigger
commands for distinct incidents is published; once a third of it is done, copy A gets the
signal and copy B has to carry on. Completion is observed as the lifecycle's
`incident.triggered` events (published after each commit). Reported per signal:

  - kill → last done: when the whole backlog is done, counted from the signal;
  - longest pause: the longest time after the signal with the backlog unfinished and nothing
    completing — the time the backlog waited for the stopped copy's share.

`--repo DIR` runs the worker processes from another checkout (its own `.venv`), so the code
before a change can be measured side by side with the code after it:

    .venv/bin/python bench/recovery.py
    .venv/bin/python bench/recovery.py --repo /path/to/older/checkout
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import signal
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import nats

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from schemas.alert_v1 import CanonicalAlertV1  # noqa: E402
from schemas.envelope import Envelope  # noqa: E402
from schemas.incident_v1 import IncidentCommandV1  # noqa: E402
from schemas.subjects import INCIDENT_COMMAND, INCIDENT_EVENT  # noqa: E402
from tests.broker import nats_url  # noqa: E402
from tests.helpers import drop_namespace  # noqa: E402

PG = os.environ.get("BENCH_DATABASE_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test")
REDIS = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
HERE = Path(__file__).resolve().parents[1]


class Run:
    def __init__(self, args: argparse.Namespace, sig: signal.Signals, nats: str) -> None:
        self.args = args
        self.sig = sig
        self.nats = nats
        self.ns = "rec" + secrets.token_hex(3)
        self.repo = Path(args.repo).resolve()
        self.python = str(self.repo / ".venv" / "bin" / "python")
        self.env = {
            **os.environ,
            "DATABASE_URL": PG,
            "DATABASE_SCHEMA": self.ns,
            "REDIS_URL": REDIS,
            "NATS_URL": nats,
            "NATS_NAMESPACE": self.ns,
            "LOG_LEVEL": "WARNING",
            "PYTHONDONTWRITEBYTECODE": "1",  # another checkout is only read
        }
        self.done_at: list[float] = []

    def cli(self, *args: str, **kwargs) -> subprocess.Popen[bytes]:  # type: ignore[no-untyped-def]
        return subprocess.Popen(
            [self.python, "-m", "app.cli", *args], cwd=self.repo, env=self.env, **kwargs
        )

    async def measure(self) -> dict[str, float]:
        assert self.cli("migrate", stdout=subprocess.DEVNULL).wait(timeout=120) == 0
        created = self.cli("service", "create", "bench", "--json", stdout=subprocess.PIPE)
        out, _ = created.communicate(timeout=60)
        service_id = json.loads(out)["id"]

        nc = await nats.connect(self.nats)
        js = nc.jetstream(publish_async_max_pending=8000)
        triggered = [s for s in INCIDENT_EVENT.stream_subjects(self.ns) if ".triggered." in s]

        async def on_event(msg) -> None:  # type: ignore[no-untyped-def]
            self.done_at.append(time.monotonic())

        for subject in triggered:
            await nc.subscribe(subject, cb=on_event)
        copy_a = self.cli("worker", "lifecycle")
        await self._wait_pulling(js)
        copy_b = self.cli("worker", "lifecycle")
        await asyncio.sleep(3)  # B connects and waits as a standby / second puller
        try:
            n = self.args.backlog
            futures = [
                await js.publish_async(
                    INCIDENT_COMMAND.subject(incident_id, ns=self.ns),
                    command(service_id, incident_id, i).model_dump_json(by_alias=True).encode(),
                    headers=Envelope(
                        id=f"rec-{i}", type=INCIDENT_COMMAND.type(), producer="bench"
                    ).to_headers(),
                )
                for i, incident_id in enumerate(str(uuid.uuid4()) for _ in range(n))
            ]
            await asyncio.gather(*futures)
            while len(self.done_at) < n // 3:
                await asyncio.sleep(0.005)
            killed = time.monotonic()
            copy_a.send_signal(self.sig)
            deadline = killed + 120
            while len(self.done_at) < n and time.monotonic() < deadline:
                await asyncio.sleep(0.01)
            after = sorted(t for t in self.done_at if t >= killed)
            marks = [killed, *after]
            pause = max(b - a for a, b in zip(marks, marks[1:], strict=False)) if after else 0
            return {
                "done": len(self.done_at),
                "backlog": n,
                "kill_to_last_done_s": (after[-1] - killed) if after else float("nan"),
                "longest_pause_s": pause,
            }
        finally:
            for proc in (copy_a, copy_b):
                if proc.poll() is None:
                    proc.terminate()
            for proc in (copy_a, copy_b):
                proc.wait(timeout=30)
            await nc.close()
            await drop_namespace(self.ns)

    async def _wait_pulling(self, js) -> None:  # type: ignore[no-untyped-def]
        stream = f"{self.ns.upper()}_INCIDENT_COMMANDS"
        for _ in range(600):
            try:
                infos = await js.consumers_info(stream)
                if infos and all((i.num_waiting or 0) > 0 for i in infos):
                    return
            except Exception:
                pass
            await asyncio.sleep(0.1)
        raise RuntimeError("the first lifecycle copy never started pulling")


def command(service_id: str, incident_id: str, i: int) -> IncidentCommandV1:
    alert = CanonicalAlertV1.model_validate(
        {
            "alert_id": f"rec-alert-{i}",
            "service_id": service_id,
            "action": "trigger",
            "fingerprint": "fp:1:" + f"{i:064x}",
            "dedup_key": f"rec-{i}",
            "summary": "backlog",
            "severity": "warning",
            "occurred_at": datetime.now(UTC),
            "source_format": "pagerduty",
        }
    )
    return IncidentCommandV1(
        action="trigger",
        incident_id=incident_id,
        service_id=service_id,
        dedup_key=alert.dedup_key,
        alert=alert,
        actor=f"integration:{service_id}",
    )


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repo", default=str(HERE), help="checkout whose workers are measured")
    parser.add_argument("--backlog", type=int, default=3000)
    parser.add_argument("--runs", type=int, default=1, help="runs per signal")
    args = parser.parse_args()
    url = os.environ.get("BENCH_NATS_URL") or nats_url()
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for _ in range(args.runs):
            result = await Run(args, sig, url).measure()
            print(json.dumps({"repo": args.repo, "signal": sig.name, **result}), flush=True)


if __name__ == "__main__":
    asyncio.run(main())
