"""The floor under every worker: one pass-through stage (pull, republish with a PubAck, ack) on
the same runtime pieces as the real workers, with no decoding, no database, no logic.

It bounds what any 3-hop pipeline can reach on this machine: alerts/s end to end can be no
higher than this figure divided by the hops, before any work is done. Run:

    .venv/bin/python bench/floor.py [--messages 20000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import sys
import time
from pathlib import Path

from nats.js.api import AckPolicy, ConsumerConfig, StreamConfig

import nats

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from oncallnova.bus.pull import Puller  # noqa: E402
from schemas.envelope import Envelope  # noqa: E402
from tests.broker import nats_url  # noqa: E402

# The bundled nats-server (>= 2.11), started for the run on a free port, unless given.
NATS = os.environ.get("BENCH_NATS_URL") or nats_url()


async def main(messages: int, batch: int) -> None:
    nc = await nats.connect(NATS)
    js = nc.jetstream(publish_async_max_pending=8000)
    tag = "FLOOR" + secrets.token_hex(3).upper()
    source, sink = f"{tag}_IN", f"{tag}_OUT"
    await js.add_stream(StreamConfig(name=source, subjects=[f"{tag.lower()}.in.>"]))
    await js.add_stream(StreamConfig(name=sink, subjects=[f"{tag.lower()}.out.>"]))
    await js.add_consumer(
        source,
        ConsumerConfig(durable_name="stage", ack_policy=AckPolicy.EXPLICIT, max_ack_pending=8192),
    )
    body = json.dumps({"summary": "x" * 200, "severity": "error"}).encode()
    envelope = Envelope(
        type="bench", producer="bench", correlation_id="c" * 32, causation_id="d" * 32
    )
    try:
        futures = []
        for i in range(messages):
            headers = envelope.model_copy(update={"id": f"in-{i}"}).to_headers()
            futures.append(await js.publish_async(f"{tag.lower()}.in.x", body, headers=headers))
        await asyncio.gather(*futures)
        puller = Puller(nc, source, "stage", batch)
        await puller.start()
        done = 0
        start = time.perf_counter()
        while done < messages:
            msgs = await puller.next_batch(1.0)
            out = [
                await js.publish_async(
                    f"{tag.lower()}.out.x",
                    m.data,
                    headers=envelope.caused(
                        "bench", "floor", id="out-" + m.headers["Nats-Msg-Id"]
                    ).to_headers(),
                )
                for m in msgs
            ]
            await asyncio.gather(*out)
            for m in msgs:
                await m.ack()
            done += len(msgs)
        elapsed = time.perf_counter() - start
        await puller.stop()
        print(
            json.dumps(
                {
                    "messages": messages,
                    "batch": batch,
                    "stage_msgs_per_s": round(messages / elapsed),
                }
            )
        )
    finally:
        await js.delete_stream(source)
        await js.delete_stream(sink)
        await nc.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--messages", type=int, default=20000)
    parser.add_argument("--batch", type=int, default=256)
    args = parser.parse_args()
    asyncio.run(main(args.messages, args.batch))
