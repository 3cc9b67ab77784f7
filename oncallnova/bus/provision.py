"""Applies `nats/` declarations idempotently: create what is missing, update what changed."""

from __future__ import annotations

import logging

from nats.js.api import (
    AckPolicy,
    ConsumerConfig,
    DeliverPolicy,
    KeyValueConfig,
    StorageType,
    StreamConfig,
)
from nats.js.errors import BucketNotFoundError, NotFoundError

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
    return StreamConfig(
        name=bus.stream(decl.name),
        description=decl.description,
        subjects=subjects,
        storage=StorageType.FILE,
        max_age=decl.max_age_s,
        max_bytes=decl.max_bytes,
        duplicate_window=decl.duplicate_window_s,
        num_replicas=bus.replicas,
    )


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
    ):
        await bus.js.update_stream(config)
        log.info("updated stream %s", config.name)


def consumer_config(bus: Bus, decl: declarations.ConsumerDecl) -> ConsumerConfig:
    return ConsumerConfig(
        durable_name=decl.durable,
        deliver_policy=DeliverPolicy.ALL,
        ack_policy=AckPolicy.EXPLICIT,
        ack_wait=decl.ack_wait_s,
        # Unlimited at the server: the runtime decides when a message is poison
        # (`max_attempts`) and never gives up on one that failed only because of an outage.
        max_deliver=-1,
        max_ack_pending=decl.max_ack_pending,
        filter_subject=decl.topic.wildcard(bus.ns),
        max_waiting=512,
    )


async def _ensure_consumer(bus: Bus, decl: declarations.ConsumerDecl) -> None:
    stream = bus.stream(decl.stream)
    config = consumer_config(bus, decl)
    try:
        info = await bus.js.consumer_info(stream, decl.durable)
    except NotFoundError:
        await bus.js.add_consumer(stream, config)
        log.info("created consumer %s on %s", decl.durable, stream)
        return
    current = info.config
    if (
        current.ack_wait != config.ack_wait
        or current.max_deliver != config.max_deliver
        or current.max_ack_pending != config.max_ack_pending
    ):
        # add_consumer with an existing durable name updates its mutable fields.
        await bus.js.add_consumer(stream, config)
        log.info("updated consumer %s on %s", decl.durable, stream)


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
