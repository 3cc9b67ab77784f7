"""Applies `nats/` declarations idempotently: create what is missing, update what changed."""

from __future__ import annotations

import asyncio
import json
import logging

from nats.js.api import (
    AckPolicy,
    ConsumerConfig,
    DeliverPolicy,
    DiscardPolicy,
    KeyValueConfig,
    RetentionPolicy,
    StorageType,
    StreamConfig,
    StreamSource,
    SubjectTransform,
)
from nats.js.errors import APIError, BucketNotFoundError, NotFoundError

from oncallnova.bus import declarations
from oncallnova.bus.connection import Bus

log = logging.getLogger(__name__)


# How long provisioning waits for a sourcing stream (ALERTS_ARCHIVE) to hold its place on the
# stream it copies (the server makes that consumer within about a second).
SOURCE_WAIT_S = 15.0
# How long an upgrade waits for the archive to copy the history ALERTS kept (days of alerts:
# millions of messages, copied by the server at its own pace).
COPY_WAIT_S = 600.0


async def provision(bus: Bus, *, with_kv: bool) -> None:
    """Streams, then consumers, then (embedded default only) KV buckets.

    A stream turning from limits into interest retention (an upgrade: ALERTS and
    INCIDENT_COMMANDS used to keep history) changes last, once the streams that source it have
    copied what it holds and hold their own interest in it: the switch deletes every message
    all consumers have acked, so the archive must have it first.
    """
    decls = declarations.streams()
    await _retire_moved_consumers(bus, decls)
    deferred = []
    for decl in decls:
        if not await _ensure_stream(bus, decl, change_retention=False):
            deferred.append(decl)
    for consumer in declarations.consumers():
        await _ensure_consumer(bus, consumer)
    copied = True
    for decl in decls:
        for source in decl.sources:
            copied &= await _wait_for_source(bus, decl, source, caught_up=bool(deferred))
    if not copied:
        # History not yet archived would be deleted by the switch: keep the old retention
        # for this run (it discards nothing new) and try again at the next start.
        log.warning(
            "streams %s keep their retention until the archive has copied them; start again later",
            ", ".join(bus.stream(d.name) for d in deferred),
        )
        deferred = []
    for decl in deferred:
        await _ensure_stream(bus, decl, change_retention=True)
    switched = {d.name for d in deferred}
    for decl in decls:
        if any(source.stream in switched for source in decl.sources):
            await _reattach_sources(bus, decl)
        for source in decl.sources:
            await _wait_for_source(bus, decl, source, caught_up=False)
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
        subjects=subjects or None,
        retention=RetentionPolicy(decl.retention),
        discard=DiscardPolicy(decl.discard),
        storage=StorageType.FILE,
        max_age=_setting(bus, decl.max_age_setting, decl.max_age_s),
        max_msgs=int(_setting(bus, decl.max_msgs_setting, decl.max_msgs)),
        max_bytes=int(_setting(bus, decl.max_bytes_setting, decl.max_bytes)),
        duplicate_window=decl.duplicate_window_s,
        num_replicas=bus.replicas,
        subject_transform=transform,
        sources=[_source(bus, source) for source in decl.sources] or None,
    )


def _source(bus: Bus, source: declarations.SourceDecl) -> StreamSource:
    if len(source.topics) != 1:
        raise ValueError(f"a source of {source.stream} copies one topic (its filter)")
    return StreamSource(
        name=bus.stream(source.stream), filter_subject=source.topics[0].wildcard(bus.ns)
    )


def _setting(bus: Bus, setting: str | None, declared: float) -> float:
    """The declared value, or the setting that overrides it (ALERT_RETENTION, the backlogs)."""
    settings = getattr(bus, "settings", None)  # a bare namespace in contract tests
    if setting and settings is not None:
        return float(getattr(settings, setting))
    return declared


def _transform(config: StreamConfig) -> tuple[str, str] | None:
    t = config.subject_transform
    return (t.src or "", t.dest or "") if t else None


def _sources(config: StreamConfig) -> list[tuple[str, str]]:
    return sorted((s.name, s.filter_subject or "") for s in config.sources or [])


def _limit(value: int | None) -> int:
    return value if value is not None and value > 0 else -1


def differences(current: StreamConfig, wanted: StreamConfig) -> list[str]:
    """What provisioning would change in a stream (pure; empty when it matches)."""
    pairs = {
        "subjects": (sorted(current.subjects or []), sorted(wanted.subjects or [])),
        "retention": (current.retention, wanted.retention),
        "discard": (current.discard, wanted.discard),
        "max_age": (current.max_age or 0, wanted.max_age or 0),
        "max_msgs": (_limit(current.max_msgs), _limit(wanted.max_msgs)),
        "max_bytes": (_limit(current.max_bytes), _limit(wanted.max_bytes)),
        "duplicate_window": (current.duplicate_window, wanted.duplicate_window),
        "subject_transform": (_transform(current), _transform(wanted)),
        "sources": (_sources(current), _sources(wanted)),
    }
    return [name for name, (have, want) in pairs.items() if have != want]


async def _ensure_stream(
    bus: Bus, decl: declarations.StreamDecl, *, change_retention: bool
) -> bool:
    """Create or update the stream; False when only a retention change is left to make
    (`change_retention=False`: the caller makes it once the archive is safe)."""
    config = stream_config(bus, decl)
    name = config.name or ""
    try:
        info = await bus.js.stream_info(name)
    except NotFoundError:
        await bus.js.add_stream(config)
        log.info("created stream %s", name)
        return True
    changed = differences(info.config, config)
    if not changed:
        return True
    if "retention" in changed and not change_retention:
        if {"subjects", "subject_transform"} & set(changed):
            # Only the subjects now (another stream may be about to bind the ones it gives
            # up); limits stay as they are until the archive has copied this stream.
            partial = info.config
            partial.subjects, partial.subject_transform = config.subjects, config.subject_transform
            await bus.js.update_stream(partial)
            log.info("updated stream %s (subjects)", name)
        return False
    try:
        await bus.js.update_stream(config)
    except APIError as error:
        if "retention" not in changed:
            raise
        # Servers that cannot change a stream's retention in place: an empty stream is made
        # again (its consumers follow); one that still holds work is left for an operator.
        if (await bus.js.stream_info(name)).state.messages:
            raise RuntimeError(
                f"stream {name}: the server refuses to change its retention ({error}) and it "
                "still holds messages; let the workers drain it, then start again"
            ) from error
        await bus.js.delete_stream(name)
        await bus.js.add_stream(config)
        for consumer in (c for c in declarations.consumers() if c.stream == decl.name):
            await _ensure_consumer(bus, consumer)
        log.warning("recreated empty stream %s to change its retention", name)
        return True
    log.info("updated stream %s (%s)", name, ", ".join(changed))
    return True


async def _reattach_sources(bus: Bus, decl: declarations.StreamDecl) -> None:
    """Drop and re-add a stream's sources. A source set up while its origin kept limits
    retention copies without a consumer of its own; once the origin keeps messages only for
    its consumers, the copier must be one, or it could miss what the workers handle first.
    Re-added, the source resumes after the last message it copied (no copy twice)."""
    name = bus.stream(decl.name)
    bare = (await bus.js.stream_info(name)).config
    bare.sources = []
    await bus.js.update_stream(bare)
    await bus.js.update_stream(stream_config(bus, decl))
    log.info("re-attached the sources of stream %s", name)


def is_source_consumer(metadata: dict[str, str] | None, stream: str | None = None) -> bool:
    """The consumer a sourcing stream (`stream`, or any) keeps on its origin: the server makes
    it, names it JS_SRC_… and tags it with the copying stream."""
    copier = (metadata or {}).get("_nats.src.stream")
    return copier is not None and (stream is None or copier == stream)


async def _wait_for_source(
    bus: Bus, decl: declarations.StreamDecl, source: declarations.SourceDecl, *, caught_up: bool
) -> bool:
    """Until `decl` copies `source` through a consumer of its own on the origin stream (which
    keeps an interest stream's messages until copied), and, with `caught_up`, has copied all
    the origin holds. Gives up with a warning (False) after SOURCE_WAIT_S, or COPY_WAIT_S for
    an upgrade's history: the work path never waits for the archive."""
    origin = bus.stream(source.stream)
    wanted = _source(bus, source).filter_subject
    waited = COPY_WAIT_S if caught_up else SOURCE_WAIT_S
    deadline = asyncio.get_running_loop().time() + waited
    copier = bus.stream(decl.name)
    while True:
        info = await bus.js.stream_info(origin)
        holding = info.config.retention != RetentionPolicy.INTEREST or any(
            is_source_consumer(c.config.metadata, copier) and c.config.filter_subject == wanted
            for c in await bus.js.consumers_info(origin)
        )
        copied = True
        if caught_up:
            mine = await bus.js.stream_info(bus.stream(decl.name))
            copied = all(
                s.lag == 0 and s.active is not None and s.active >= 0 for s in mine.sources or []
            )
        if holding and copied:
            return True
        if asyncio.get_running_loop().time() > deadline:
            log.warning(
                "stream %s: its copy of %s is not %s after %.0fs; starting anyway",
                bus.stream(decl.name),
                origin,
                "caught up" if caught_up else "in place",
                waited,
            )
            return False
        await asyncio.sleep(0.1)


async def _retire_moved_consumers(bus: Bus, decls: list[declarations.StreamDecl]) -> None:
    """A declared durable found on another stream than its declared one (the correlator's moved
    from ALERTS to ALERTS_FINGERPRINTED) is deleted there, so the old stream can give up the
    subject; only when nothing is waiting for it, or the messages would be stranded."""
    home = {d: bus.stream(c.stream) for c in declarations.consumers() for d in c.durables()}
    for decl in decls:
        stream = bus.stream(decl.name)
        try:
            found = await bus.js.consumers_info(stream)
        except NotFoundError:
            continue
        for info in found:
            if info.name not in home or home[info.name] == stream:
                continue
            waiting = (info.num_pending or 0) + (info.num_ack_pending or 0)
            if waiting:
                raise RuntimeError(
                    f"consumer {info.name} moves from {stream} to {home[info.name]} but still "
                    f"has {waiting} message(s) to handle: run "
                    "the previous version until `oncallnova status` shows it drained"
                )
            await bus.js.delete_consumer(stream, info.name)
            log.info(
                "removed consumer %s from %s (it now reads %s)", info.name, stream, home[info.name]
            )


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
