"""Tracing overhead: `bench/ingest.py`'s sustained throughput with every span sampled and sent
over OTLP/HTTP to a receiver on loopback, against the same run with tracing off, alternated in
one sitting (off, on, on, off, …) so the machine's drift falls on both sides.

    .venv/bin/python bench/tracing.py                          # 3 pairs, NATS and HTTP paths
    .venv/bin/python bench/tracing.py --pairs 2 --paths nats --alerts 10000
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.ingest import Bench  # noqa: E402
from tests.helpers import free_port  # noqa: E402


def cpu_seconds(pid: int) -> float:
    """User + system CPU a process has used so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class MeasuredBench(Bench):
    """`Bench`, also counting the CPU its platform processes spend on each path: on a shared,
    noisy machine CPU per alert moves far less than alerts/s, and on a CPU-bound deployment
    throughput scales with its inverse."""

    def platform_cpu(self) -> float:
        return sum(cpu_seconds(p.pid) for p in self.procs if p.poll() is None)

    async def nats_path(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        before = self.platform_cpu()
        result = await super().nats_path(*args, **kwargs)
        alerts = self.args.alerts + int(self.args.rate * self.args.seconds)
        result["cpu_ms_per_alert"] = (self.platform_cpu() - before) * 1000 / alerts
        return result

    async def http_path(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        before = self.platform_cpu()
        result = await super().http_path(*args, **kwargs)
        alerts = self.args.http_alerts + int(self.args.rate * self.args.seconds)
        result["cpu_ms_per_alert"] = (self.platform_cpu() - before) * 1000 / alerts
        return result


def bench_args(args: argparse.Namespace) -> argparse.Namespace:
    return argparse.Namespace(
        alerts=args.alerts, http_alerts=args.http_alerts, keys=1000, rate=args.rate,
        seconds=args.seconds, copies=1, lifecycle_copies=1, batch=256, connections=64,
        paths=args.paths, no_wrk=True, dump=None,
    )  # fmt: skip


async def spans_received(port: int) -> tuple[int, int]:
    async with httpx.AsyncClient(trust_env=False) as client:
        requests, spans = (await client.get(f"http://127.0.0.1:{port}/count")).text.split()
    return int(requests), int(spans)


async def one_run(args: argparse.Namespace, traced: bool, sink_port: int) -> dict[str, float]:
    bench = MeasuredBench(bench_args(args))
    if traced:
        bench.env.update(
            {
                "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{sink_port}",
                "OTEL_TRACES_SAMPLER": "always_on",
                # Room for bursts: with the default 2,048 the SDK drops spans under load.
                "OTEL_BSP_MAX_QUEUE_SIZE": "65536",
                "OTEL_BSP_MAX_EXPORT_BATCH_SIZE": "2048",
            }
        )
    else:
        for name in list(bench.env):
            if name.startswith("OTEL_"):
                bench.env.pop(name)
    results = await bench.run()
    out = {path: r["alerts_per_s"] for path, r in results.items()}
    out |= {f"{path}_cpu_ms": r["cpu_ms_per_alert"] for path, r in results.items()}
    return out | {f"{path}_p99_ms": r["p99_ms"] for path, r in results.items()}


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pairs", type=int, default=3)
    parser.add_argument("--paths", default="nats,http")
    parser.add_argument("--alerts", type=int, default=10000)
    parser.add_argument("--http-alerts", type=int, default=5000)
    parser.add_argument("--rate", type=float, default=200)
    parser.add_argument("--seconds", type=float, default=5)
    args = parser.parse_args()
    sink_port = free_port()
    sink = subprocess.Popen(
        [sys.executable, str(Path(__file__).with_name("otlp_sink.py")), "--port", str(sink_port)]
    )
    for _ in range(300):  # until the receiver answers
        try:
            await spans_received(sink_port)
            break
        except httpx.HTTPError:
            await asyncio.sleep(0.1)
    runs: dict[bool, list[dict[str, float]]] = {False: [], True: []}
    try:
        for pair in range(args.pairs):
            # off, on, then on, off: neither side always runs first.
            for traced in (False, True) if pair % 2 == 0 else (True, False):
                before = await spans_received(sink_port)
                result = await one_run(args, traced, sink_port)
                await asyncio.sleep(6)  # the last batch of spans (5 s schedule delay)
                after = await spans_received(sink_port)
                result["spans"] = after[1] - before[1]
                runs[traced].append(result)
                print(f"pair {pair + 1} tracing {'on ' if traced else 'off'}: {json.dumps(result)}",
                      flush=True)  # fmt: skip
    finally:
        sink.terminate()
        sink.wait(timeout=10)
    for path in args.paths.split(","):
        off = [r[path] for r in runs[False]]
        on = [r[path] for r in runs[True]]
        ratio = statistics.median(on) / statistics.median(off)
        print(
            f"{path}: off {', '.join(f'{v:,.0f}' for v in off)} alerts/s; "
            f"on {', '.join(f'{v:,.0f}' for v in on)} alerts/s; "
            f"median on/off = {ratio:.3f} ({(1 - ratio) * 100:+.1f} % lost)"
        )
        pairs = [a[path] / b[path] for a, b in zip(runs[True], runs[False], strict=True)]
        print(f"{path}: per-pair on/off ratios {', '.join(f'{p:.3f}' for p in pairs)}")
        cpu_off = statistics.median(r[f"{path}_cpu_ms"] for r in runs[False])
        cpu_on = statistics.median(r[f"{path}_cpu_ms"] for r in runs[True])
        print(
            f"{path}: platform CPU per alert off {cpu_off:.2f} ms, on {cpu_on:.2f} ms; "
            f"CPU-bound throughput ratio off/on = {cpu_off / cpu_on:.3f} "
            f"({(1 - cpu_off / cpu_on) * 100:.1f} % lost)"
        )


if __name__ == "__main__":
    asyncio.run(main())
