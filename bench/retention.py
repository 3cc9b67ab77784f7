"""Disk cost of alerts: bytes per alert kept for replay (ALERTS_ARCHIVE, raw bodies) and, while
they wait for the workers, in the backlogs (ALERTS raw, ALERTS_FINGERPRINTED).

Starts the bundled nats-server on a store of its own, provisions the real streams, publishes N
PagerDuty triggers exactly as the ingestion edge does (body unchanged, envelope headers) and the
canonical alert the fingerprinter makes of each (same headers, same subjects), with no worker
running (so the backlogs hold everything), then reads each stream's byte count and the store's
size on disk. Run:

    .venv/bin/python bench/retention.py [--alerts 20000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from oncallnova.alerts.normalise import normalise  # noqa: E402
from oncallnova.alerts.validation import parse_alert_body  # noqa: E402
from oncallnova.bus.connection import Outgoing, connect  # noqa: E402
from oncallnova.bus.provision import provision  # noqa: E402
from oncallnova.embedded_nats import EmbeddedNats  # noqa: E402
from oncallnova.settings import Settings  # noqa: E402
from schemas.envelope import Envelope  # noqa: E402
from schemas.subjects import ALERT_FINGERPRINTED, ALERT_RECEIVED  # noqa: E402

SERVICE = "5b0c7d3e-2a41-4c1f-9b3a-6d2f8e9a1c07"


def body(i: int) -> bytes:
    """A typical Alertmanager-via-PagerDuty trigger: a summary, a source, a few details."""
    return json.dumps(
        {
            "routing_key": "R0UT1NGKEY0123456789ABCDEFGHIJKL",
            "event_action": "trigger",
            "dedup_key": f"{i % 500:03d}-disk-usage-db{i % 7}",
            "payload": {
                "summary": f"Disk usage above 90% on db{i % 7}.prod ({90 + i % 10}%)",
                "source": f"db{i % 7}.prod.example.net",
                "severity": "critical",
                "component": "postgres",
                "group": "storage",
                "custom_details": {"mountpoint": "/var/lib/postgresql", "free_gb": i % 40},
            },
            "client": "Alertmanager",
            "client_url": "http://alertmanager.example.net:9093",
        }
    ).encode()


async def main(alerts: int) -> None:
    store = Path(tempfile.mkdtemp(prefix="oncallnova-retention-"))
    server = EmbeddedNats(store)
    url = await server.start()
    settings = Settings(nats_url=url)
    bus = await connect(settings, url)
    try:
        await provision(bus, with_kv=False)
        for start in range(0, alerts, 500):
            batch: list[Outgoing] = []
            for i in range(start, min(start + 500, alerts)):
                raw = body(i)
                received = Envelope(type=ALERT_RECEIVED.type(), producer="ingestion")
                batch.append(Outgoing.of(ALERT_RECEIVED, "pagerduty", raw, received))
                [alert] = normalise(
                    "pagerduty",
                    parse_alert_body("pagerduty", raw),
                    service_id=SERVICE,
                    received_id=received.id,
                    received_at=datetime.now(UTC),
                )
                caused = received.caused(
                    ALERT_FINGERPRINTED.type(), "fingerprinter", id=f"fp:{alert.alert_id}"
                )
                batch.append(Outgoing.of(ALERT_FINGERPRINTED, SERVICE, alert, caused))
            await bus.publish_all(batch, timeout_s=30)
        archive = bus.stream("ALERTS_ARCHIVE")
        for _ in range(300):  # the archive copies within moments
            if (await bus.js.stream_info(archive)).state.messages >= alerts:
                break
            await asyncio.sleep(0.1)
        sizes = {
            name: (await bus.js.stream_info(bus.stream(name))).state
            for name in ("ALERTS", "ALERTS_FINGERPRINTED", "ALERTS_ARCHIVE")
        }
    finally:
        await bus.close()
        await server.stop()
    on_disk = int(subprocess.check_output(["du", "-sb", str(store / "jetstream")]).split()[0])
    print(f"alerts: {alerts}")
    for name, state in sizes.items():
        per_alert = state.bytes / alerts
        print(
            f"{name}: {state.messages} messages, {state.bytes} B ({per_alert:.0f} B per alert, "
            f"{per_alert * 1e6 / 2**30:.2f} GiB per million)"
        )
    print(
        f"store on disk, all three: {on_disk} B ({on_disk / alerts:.0f} B per alert); "
        "x3 with NATS_REPLICAS=3"
    )
    subprocess.run(["rm", "-rf", str(store)], check=False)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--alerts", type=int, default=20000)
    asyncio.run(main(parser.parse_args().alerts))
