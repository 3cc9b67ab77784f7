"""`provision` applies `nats/` to real servers, idempotently.

Two ways, because the deployment modes differ: services mode (Redis holds the correlation
windows) is provisioned without KV on the suite's server; the embedded default also gets the
correlation-window bucket, whose per-key TTL must work, on a server of its own.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from nats.js.api import (
    AckPolicy,
    ConsumerConfig,
    DiscardPolicy,
    RetentionPolicy,
    StreamConfig,
    SubjectTransform,
)
from nats.js.errors import KeyNotFoundError, KeyWrongLastSequenceError

from oncallnova.bus import declarations
from oncallnova.bus.connection import Bus, connect
from oncallnova.bus.provision import provision, stream_config
from oncallnova.embedded_nats import EmbeddedNats
from oncallnova.settings import Settings
from schemas.subjects import ALERT_FINGERPRINTED, ALERT_RECEIVED, INCIDENT_COMMAND
from tests.broker import nats_url
from tests.helpers import eventually

PROVISION_LOGGER = "oncallnova.bus.provision"


async def _connect(url: str) -> Bus:
    ns = "t" + secrets.token_hex(5)
    # nats_replicas pinned: a developer's NATS_REPLICAS=3 must not leak into a 1-node test.
    return await connect(Settings(nats_url=url, nats_namespace=ns, nats_replicas=1))


async def _delete_namespace(bus: Bus) -> None:
    for info in await bus.js.streams_info():
        name = info.config.name or ""
        if name.startswith(f"{bus.ns.upper()}_") or name.startswith(f"KV_{bus.ns}_"):
            await bus.js.delete_stream(name)


@pytest.fixture
async def suite_bus() -> AsyncIterator[Bus]:
    bus = await _connect(nats_url())
    try:
        yield bus
    finally:
        await _delete_namespace(bus)
        await bus.close()


@pytest.fixture
async def bundled_bus(tmp_path: Path) -> AsyncIterator[Bus]:
    server = EmbeddedNats(tmp_path / "nats")
    url = await server.start()  # with the platform's credentials: the server wants them
    try:
        bus = await _connect(url)
        try:
            yield bus
        finally:
            await _delete_namespace(bus)
            await bus.close()
    finally:
        await server.stop()


async def _provision_twice(bus: Bus, caplog: pytest.LogCaptureFixture, *, with_kv: bool) -> None:
    """Provision, then provision again and expect the second run to change nothing."""
    caplog.set_level(logging.INFO, logger=PROVISION_LOGGER)
    await provision(bus, with_kv=with_kv)
    first = [r.getMessage() for r in caplog.records if r.name == PROVISION_LOGGER]
    assert any(m.startswith("created stream") for m in first), first
    created = {
        decl.name: (await bus.js.stream_info(bus.stream(decl.name))).created
        for decl in declarations.streams()
    }
    caplog.clear()
    await provision(bus, with_kv=with_kv)
    second = [r.getMessage() for r in caplog.records if r.name == PROVISION_LOGGER]
    assert second == [], f"second provision changed things: {second}"
    for decl in declarations.streams():
        info = await bus.js.stream_info(bus.stream(decl.name))
        assert info.created == created[decl.name], f"{decl.name} was recreated"


async def _assert_declared_streams_and_consumers(bus: Bus) -> None:
    for decl in declarations.streams():
        info = await bus.js.stream_info(bus.stream(decl.name))
        expected = stream_config(bus, decl).subjects or []
        assert sorted(info.config.subjects or []) == sorted(expected), decl.name
        assert all(s.startswith(f"{bus.ns}.") for s in expected), "subjects not namespaced"
        assert info.config.duplicate_window == decl.duplicate_window_s
    for decl in declarations.consumers():
        for durable in decl.durables():
            info = await bus.js.consumer_info(bus.stream(decl.stream), durable)
            assert info.config.durable_name == durable
            assert info.config.filter_subject == decl.filter_subject(durable, bus.ns)
            assert info.config.ack_policy == AckPolicy.EXPLICIT
            assert info.config.max_deliver == -1  # the runtime counts attempts (decl.max_attempts)


async def test_provision_for_services_mode_is_idempotent(
    suite_bus: Bus, caplog: pytest.LogCaptureFixture
) -> None:
    await _provision_twice(suite_bus, caplog, with_kv=False)
    await _assert_declared_streams_and_consumers(suite_bus)
    streams = {i.config.name for i in await suite_bus.js.streams_info()}
    assert not any(n.startswith(f"KV_{suite_bus.ns}_") for n in streams if n)


async def test_provision_on_the_bundled_server_adds_a_kv_bucket_with_per_key_ttl(
    bundled_bus: Bus, caplog: pytest.LogCaptureFixture
) -> None:
    await _provision_twice(bundled_bus, caplog, with_kv=True)
    await _assert_declared_streams_and_consumers(bundled_bus)
    for decl in declarations.buckets():
        await bundled_bus.js.key_value(bundled_bus.bucket(decl.bucket))  # raises if missing
        info = await bundled_bus.js.stream_info(f"KV_{bundled_bus.bucket(decl.bucket)}")
        if decl.allow_msg_ttl:
            assert info.config.allow_msg_ttl, f"{decl.bucket}: per-key TTLs not enabled"

    # A correlation window: taken once, refused while open, gone after its TTL.
    kv = await bundled_bus.js.key_value(bundled_bus.bucket("correlation_windows"))
    await kv.create("svc1.fp1", b"incident-1", msg_ttl=1)
    assert (await kv.get("svc1.fp1")).value == b"incident-1"
    with pytest.raises(KeyWrongLastSequenceError):
        await kv.create("svc1.fp1", b"incident-2", msg_ttl=1)

    async def expired() -> bool:
        try:
            await kv.get("svc1.fp1")
        except KeyNotFoundError:
            return True
        return False

    await eventually(expired, timeout=20)
    await kv.create("svc1.fp1", b"incident-2", msg_ttl=1)  # the window can be taken again


async def _old_layout(bus: Bus) -> None:
    """Streams and consumers as provisioned before backlogs: ALERTS held raw and fingerprinted
    alerts with limits retention (history for replay), INCIDENT_COMMANDS too."""
    source, destination = ALERT_FINGERPRINTED.partition_transform(bus.ns)
    await bus.js.add_stream(
        StreamConfig(
            name=bus.stream("ALERTS"),
            subjects=[
                *ALERT_RECEIVED.stream_subjects(bus.ns),
                *ALERT_FINGERPRINTED.stream_subjects(bus.ns),
            ],
            max_age=604800,
            max_bytes=4294967296,
            duplicate_window=120,
            subject_transform=SubjectTransform(src=source, dest=destination),
        )
    )
    await bus.js.add_stream(
        StreamConfig(
            name=bus.stream("INCIDENT_COMMANDS"),
            subjects=INCIDENT_COMMAND.stream_subjects(bus.ns),
            max_age=604800,
            max_bytes=1073741824,
            duplicate_window=120,
        )
    )
    alerts = bus.stream("ALERTS")
    for durable, subject in [
        ("fingerprinter", ALERT_RECEIVED.wildcard(bus.ns)),
        ("metrics_alerts", ALERT_RECEIVED.wildcard(bus.ns)),
        *[
            (f"correlator-{p}", ALERT_FINGERPRINTED.partition_filter(p, bus.ns))
            for p in range(ALERT_FINGERPRINTED.partitions)
        ],
    ]:
        await bus.js.add_consumer(
            alerts,
            ConsumerConfig(
                durable_name=durable,
                ack_policy=AckPolicy.EXPLICIT,
                max_deliver=-1,
                filter_subject=subject,
            ),
        )


async def _handle(bus: Bus, durable: str, count: int) -> None:
    sub = await bus.js.pull_subscribe_bind(durable, bus.stream("ALERTS"))
    for msg in await sub.fetch(count, timeout=5):
        await msg.ack_sync()
    await sub.unsubscribe()


async def test_an_old_deployment_is_upgraded_without_losing_work_or_history(
    bundled_bus: Bus, caplog: pytest.LogCaptureFixture
) -> None:
    bus = bundled_bus
    await _old_layout(bus)
    subject = bus.full(ALERT_RECEIVED.subject("pagerduty"))
    for i in range(4):
        await bus.js.publish(subject, f'{{"n": {i}}}'.encode(), headers={"Nats-Msg-Id": f"m{i}"})
    await _handle(bus, "metrics_alerts", 4)
    await _handle(bus, "fingerprinter", 3)  # the fourth still waits for the fingerprinter

    caplog.set_level(logging.INFO, logger=PROVISION_LOGGER)
    await provision(bus, with_kv=False)
    messages = [r.getMessage() for r in caplog.records if r.name == PROVISION_LOGGER]
    assert any("removed consumer correlator-0" in m for m in messages), messages

    alerts = await bus.js.stream_info(bus.stream("ALERTS"))
    assert alerts.config.retention == RetentionPolicy.INTEREST
    assert alerts.config.discard == DiscardPolicy.NEW
    assert alerts.config.subjects == ALERT_RECEIVED.stream_subjects(bus.ns)
    assert alerts.state.messages == 1  # handled history went; the waiting alert stayed
    commands = await bus.js.stream_info(bus.stream("INCIDENT_COMMANDS"))
    assert commands.config.retention == RetentionPolicy.INTEREST
    names = {c.name for c in await bus.js.consumers_info(bus.stream("ALERTS"))}
    assert not any(n.startswith("correlator") for n in names), names
    await bus.js.consumer_info(bus.stream("ALERTS_FINGERPRINTED"), "correlator-0")

    async def archived() -> bool:
        info = await bus.js.stream_info(bus.stream("ALERTS_ARCHIVE"))
        return info.state.messages == 4

    await eventually(archived, timeout=10)
    bodies = [(await bus.js.get_msg(bus.stream("ALERTS_ARCHIVE"), s)).data for s in range(1, 5)]
    assert bodies == [f'{{"n": {i}}}'.encode() for i in range(4)]

    # The waiting alert is still there for the fingerprinter; after it, nothing is left.
    await _handle(bus, "fingerprinter", 1)
    await eventually(lambda: _messages(bus, "ALERTS", 0), timeout=10)
    await _provision_twice_after_first(bus, caplog)
    assert (await bus.js.stream_info(bus.stream("ALERTS_ARCHIVE"))).state.messages == 4


async def test_an_upgrade_refuses_to_strand_messages_of_a_moved_consumer(bundled_bus: Bus) -> None:
    bus = bundled_bus
    await _old_layout(bus)
    await bus.js.publish(bus.full(ALERT_FINGERPRINTED.subject("svc1")), b"{}")
    with pytest.raises(RuntimeError, match="still has 1 message"):
        await provision(bus, with_kv=False)


async def _messages(bus: Bus, stream: str, expected: int) -> bool:
    return (await bus.js.stream_info(bus.stream(stream))).state.messages == expected


async def _provision_twice_after_first(bus: Bus, caplog: pytest.LogCaptureFixture) -> None:
    caplog.clear()
    await provision(bus, with_kv=False)
    again = [r.getMessage() for r in caplog.records if r.name == PROVISION_LOGGER]
    assert again == [], f"provisioning an upgraded deployment changed things: {again}"
