"""What the broker knows about the mesh: every stream and consumer of this namespace, the dead
letters per consumer, and which of them need attention (pure rules at the end)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from nats.js.errors import NotFoundError

from oncallnova.bus import declarations
from oncallnova.bus.connection import Bus
from oncallnova.bus.provision import is_source_consumer
from schemas.subjects import DLQ

# A message waiting longer than this (not yet handled, or handled and not acked) is a backlog.
STUCK_AFTER_S = 60.0
# A stream this full (of its byte or message limit) is close to refusing new messages (a backlog)
# or to ageing out its oldest history (ALERTS_ARCHIVE).
FULL_AT = 0.8


@dataclass
class StreamStatus:
    name: str
    subjects: list[str]
    messages: int
    bytes: int
    max_bytes: int | None  # None: no limit
    max_msgs: int | None
    max_age_s: float | None
    replicas: int
    fill: float  # the larger of bytes/max_bytes and messages/max_msgs, 0 without limits
    leader: str | None = None
    # Replicas that are not current (lagging or offline): name -> lag in operations.
    behind: dict[str, int] = field(default_factory=dict)


@dataclass
class ConsumerStatus:
    stream: str
    name: str
    filter: str
    pending: int  # stored, not yet delivered
    ack_pending: int  # delivered, not yet acked
    redeliveries: int
    waiting: int  # open pull requests: a worker is there to take work
    oldest_unacked_age_s: float | None
    oldest_pending_age_s: float | None
    dead_letters: int = 0


@dataclass
class BrokerStatus:
    version: str
    streams: list[StreamStatus]
    consumers: list[ConsumerStatus]
    dead_letters: dict[str, int]  # worker -> letters in the DLQ

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _limit(value: int | None) -> int | None:
    return value if value is not None and value > 0 else None


async def broker_status(bus: Bus, now: datetime | None = None) -> BrokerStatus:
    """Streams of this namespace, their consumers (durable ones: the workers'), dead letters."""
    now = now or datetime.now(UTC)
    streams: list[StreamStatus] = []
    consumers: list[ConsumerStatus] = []
    ours = {bus.stream(d.name) for d in declarations.streams()}
    for info in await bus.js.streams_info():
        name = info.config.name or ""
        if name not in ours:
            continue
        state, config = info.state, info.config
        max_bytes, max_msgs = _limit(config.max_bytes), _limit(config.max_msgs)
        fill = max(
            state.bytes / max_bytes if max_bytes else 0.0,
            state.messages / max_msgs if max_msgs else 0.0,
        )
        status = StreamStatus(
            name=name,
            subjects=list(config.subjects or []),
            messages=state.messages,
            bytes=state.bytes,
            max_bytes=max_bytes,
            max_msgs=max_msgs,
            max_age_s=config.max_age or None,
            replicas=config.num_replicas or 1,
            fill=fill,
        )
        if info.cluster is not None:
            status.leader = info.cluster.leader
            for peer in info.cluster.replicas or []:
                if not peer.current or peer.offline:
                    status.behind[peer.name or "?"] = int(peer.lag or 0)
        streams.append(status)
        for found in await bus.js.consumers_info(name):
            if not found.config.durable_name or is_source_consumer(found.config.metadata):
                # ephemeral (a replay's ordered consumer, a one-off reader), or the server's
                # own copier feeding ALERTS_ARCHIVE
                continue
            consumers.append(await _consumer_status(bus, name, found, now))
    letters = await dead_letter_counts(bus)
    for consumer in consumers:
        consumer.dead_letters = letters.get(worker_of(consumer.name), 0)
    v = bus.nc.connected_server_version
    version = f"nats-server {v.major}.{v.minor}.{v.patch}{v.dev and '-' + v.dev or ''}"
    return BrokerStatus(version, streams, consumers, letters)


def worker_of(durable: str) -> str:
    """`lifecycle-3` (a partition's consumer) -> `lifecycle`."""
    base, _, suffix = durable.rpartition("-")
    return base if base and suffix.isdigit() else durable


async def _consumer_status(bus: Bus, stream: str, info: Any, now: datetime) -> ConsumerStatus:
    config = info.config
    filters = [config.filter_subject] if config.filter_subject else []
    filters += list(getattr(config, "filter_subjects", None) or [])
    subject = filters[0] if len(filters) == 1 else None
    unacked = pending = None
    if info.num_ack_pending:
        unacked = await _age_of_first(bus, stream, info.ack_floor.stream_seq + 1, subject, now)
    if info.num_pending:
        pending = await _age_of_first(bus, stream, info.delivered.stream_seq + 1, subject, now)
    return ConsumerStatus(
        stream=stream,
        name=config.durable_name,
        filter=", ".join(filters),
        pending=info.num_pending or 0,
        ack_pending=info.num_ack_pending or 0,
        redeliveries=info.num_redelivered or 0,
        waiting=info.num_waiting or 0,
        oldest_unacked_age_s=unacked,
        oldest_pending_age_s=pending,
    )


async def _age_of_first(
    bus: Bus, stream: str, sequence: int, subject: str | None, now: datetime
) -> float | None:
    """Age of the first message at or after `sequence` (on `subject`): the oldest one waiting."""
    try:
        raw = await bus.js.get_msg(stream, seq=sequence, subject=subject, next=True)
    except NotFoundError:
        return None
    if raw.time is None:
        return None
    stored = raw.time if raw.time.tzinfo else raw.time.replace(tzinfo=UTC)
    return round(max((now - stored).total_seconds(), 0.0), 3)


async def dead_letter_counts(bus: Bus) -> dict[str, int]:
    """worker -> letters waiting in the DLQ (`dlq.<worker>`)."""
    try:
        info = await bus.js.stream_info(bus.stream("DLQ"), subjects_filter=bus.full(DLQ.wildcard()))
    except NotFoundError:
        return {}
    counts: dict[str, int] = {}
    for subject, count in (info.state.subjects or {}).items():
        counts[subject.rsplit(".", 1)[-1]] = counts.get(subject.rsplit(".", 1)[-1], 0) + count
    return counts


# --- what needs attention (pure) ------------------------------------------------------------


def stream_problems(stream: StreamStatus) -> list[str]:
    problems = []
    if stream.fill >= FULL_AT:
        problems.append(f"stream {stream.name} is {stream.fill:.0%} full")
    if stream.replicas > 1 and stream.leader is None:
        problems.append(f"stream {stream.name} has no leader")
    for peer, lag in sorted(stream.behind.items()):
        problems.append(f"stream {stream.name}: replica {peer} is not current (lag {lag})")
    return problems


def consumer_problems(consumer: ConsumerStatus, stuck_after_s: float = STUCK_AFTER_S) -> list[str]:
    problems = []
    name = f"consumer {consumer.name}"
    backlog = consumer.pending + consumer.ack_pending
    if backlog and not consumer.waiting and not consumer.ack_pending:
        problems.append(f"{name}: {backlog} message(s) waiting and no worker pulling")
    for label, age in (
        ("unacked", consumer.oldest_unacked_age_s),
        ("undelivered", consumer.oldest_pending_age_s),
    ):
        if age is not None and age > stuck_after_s:
            problems.append(f"{name}: oldest {label} message is {age:.0f}s old")
    return problems


def dead_letter_problems(letters: dict[str, int]) -> list[str]:
    return [
        f"{count} dead letter(s) of {worker} (oncallnova dlq list --consumer {worker})"
        for worker, count in sorted(letters.items())
        if count
    ]


def broker_problems(status: BrokerStatus, stuck_after_s: float = STUCK_AFTER_S) -> list[str]:
    """Everything an operator should look at; empty when all is well."""
    problems = [p for s in status.streams for p in stream_problems(s)]
    problems += [p for c in status.consumers for p in consumer_problems(c, stuck_after_s)]
    return problems + dead_letter_problems(status.dead_letters)
