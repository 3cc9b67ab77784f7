"""Applies `nats/` declarations idempotently: create what is missing, update what changed."""

from __future__ import annotations

import json
import logging

from nats.js.api import (
    AckPolicy,
    ConsumerConfig,
    DeliverPolicy,
    KeyValueConfig,
    StorageType,
    StreamConfig,
    SubjectTransform,
)
from nats.js.errors import APIError, BucketNotFoundError, NotFoundError

from oncallnova.bus import declarations
from oncallnova.bus.connection import Bus

log = logging.getLogger(__name__)


async def provision(bus: Bus, *, with_kv: bool) -> None:
    """Streams, then consumers, then (embedded default only) KV buckets."""
    for decl in declarations.streams():
        await _ensure_stream(bus, decl)
    for consumer in declarations.consumers():
        await _ensure_consumer(bus, consumer)
    if with_kv:
        for bucket in declarations.buckets():
            await _ensure_bucket(bus, bucket)


def stream_config(bus: Bus, decl: declarations.StreamDecl) -> StreamConfig:
    subjects = [s for topic in decl.topics for s in topic.stream_subjects(bus.ns)]
    partitioned = [t for t in decl.topics if t.partitions]
    if len(partitioned) > 1:
        raise ValueError(
            f"{decl.name}: a stream has one subject transform, so one partitioned topic"
        )
    transform = None
    if partitioned:
        source, destination = partitioned[0].partition_transform(bus.ns)
        transform = SubjectTransform(src=source, dest=destination)
    return StreamConfig(
        name=bus.stream(decl.name),
        description=decl.description,
        subjects=subjects,
        storage=StorageType.FILE,
        max_age=_max_age(bus, decl),
        max_bytes=decl.max_bytes,
        duplicate_window=decl.duplicate_window_s,
        num_replicas=bus.replicas,
        subject_transform=transform,
    )


def _max_age(bus: Bus, decl: declarations.StreamDecl) -> float:
    """The declared age, or the setting that overrides it (ALERT_RETENTION for ALERTS)."""
    settings = getattr(bus, "settings", None)  # a bare namespace in contract tests
    if decl.max_age_setting and settings is not None:
        return float(getattr(settings, decl.max_age_setting))
    return decl.max_age_s


def _transform(config: StreamConfig) -> tuple[str, str] | None:
    t = config.subject_transform
    return (t.src or "", t.dest or "") if t else None


async def _ensure_stream(bus: Bus, decl: declarations.StreamDecl) -> None:
    config = stream_config(bus, decl)
    try:
        info = await bus.js.stream_info(config.name)  # type: ignore[arg-type]
    except NotFoundError:
        await bus.js.add_stream(config)
        log.info("created stream %s", config.name)
        return
    current = info.config
    if (
        sorted(current.subjects or []) != sorted(config.subjects or [])
        or current.max_age != config.max_age
        or current.max_bytes != config.max_bytes
        or current.duplicate_window != config.duplicate_window
        or _transform(current) != _transform(config)
    ):
        await bus.js.update_stream(config)
        log.info("updated stream %s", config.name)


def consumer_config(
    bus: Bus, decl: declarations.ConsumerDecl, durable: str | None = None
) -> ConsumerConfig:
    durable = durable or decl.durable
    return ConsumerConfig(
        durable_name=durable,
        deliver_policy=DeliverPolicy.ALL,
        ack_policy=AckPolicy.EXPLICIT,
        ack_wait=decl.ack_wait_s,
        # Unlimited at the server: the runtime decides when a message is poison
        # (`max_attempts`) and never gives up on one that failed only because of an outage.
        max_deliver=-1,
        max_ack_pending=decl.max_ack_pending,
        filter_subject=decl.filter_subject(durable, bus.ns),
        max_waiting=512,
    )


def consumer_request(bus: Bus, decl: declarations.ConsumerDecl, durable: str) -> dict:
    """The CONSUMER.CREATE request: a partition's consumer is pinned to one client at a time
    (nats-py's ConsumerConfig has no priority-group fields, so they are added here)."""
    config = consumer_config(bus, decl, durable).as_dict()
    if decl.partitions:
        config["priority_groups"] = [declarations.OWNER_GROUP]
        config["priority_policy"] = "pinned_client"
        config["priority_timeout"] = int(decl.pin_timeout_s * 1e9)
    return {"stream_name": bus.stream(decl.stream), "config": config}


async def _create_consumer(bus: Bus, stream: str, durable: str, request: dict) -> None:
    api = bus.js._prefix  # "$JS.API" unless a domain is configured
    reply = await bus.nc.request(
        f"{api}.CONSUMER.CREATE.{stream}.{durable}", json.dumps(request).encode(), timeout=10
    )
    answer = json.loads(reply.data)
    if "error" in answer:
        raise APIError.from_error(answer["error"])


async def _ensure_consumer(bus: Bus, decl: declarations.ConsumerDecl) -> None:
    stream = bus.stream(decl.stream)
    for durable in decl.durables():
        request = consumer_request(bus, decl, durable)
        config = consumer_config(bus, decl, durable)
        try:
            info = await bus.js.consumer_info(stream, durable)
        except NotFoundError:
            await _create_consumer(bus, stream, durable, request)
            log.info("created consumer %s on %s", durable, stream)
            continue
        current = info.config
        if (
            current.ack_wait != config.ack_wait
            or current.max_deliver != config.max_deliver
            or current.max_ack_pending != config.max_ack_pending
        ):
            # Creating an existing durable again updates its mutable fields.
            await _create_consumer(bus, stream, durable, request)
            log.info("updated consumer %s on %s", durable, stream)


async def _ensure_bucket(bus: Bus, decl: declarations.BucketDecl) -> None:
    name = bus.bucket(decl.bucket)
    try:
        await bus.js.key_value(name)
        return
    except BucketNotFoundError:
        pass
    await bus.js.create_key_value(
        KeyValueConfig(
            bucket=name,
            description=decl.description,
            history=decl.history,
            storage=StorageType.FILE,
            replicas=bus.replicas,
        )
    )
    if decl.allow_msg_ttl:
        # Per-key TTLs need the stream flag, which the KV config does not expose.
        info = await bus.js.stream_info(f"KV_{name}")
        info.config.allow_msg_ttl = True
        await bus.js.update_stream(info.config)
    log.info("created bucket %s", name)
