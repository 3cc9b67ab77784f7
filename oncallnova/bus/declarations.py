"""Reads the stream/consumer/KV declarations in `nats/` (data only) into typed objects."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from schemas.subjects import CATALOGUE, Topic


def declarations_dir() -> Path:
    """`nats/` in a source checkout; the copy packed into the wheel otherwise."""
    source = Path(__file__).resolve().parents[2] / "nats"
    if (source / "streams.json").exists():
        return source
    return Path(__file__).resolve().parents[1] / "_declarations"


@dataclass(frozen=True)
class SourceDecl:
    """Another stream this one copies from, only the messages of `topics`."""

    stream: str
    topics: tuple[Topic, ...]


@dataclass(frozen=True)
class StreamDecl:
    name: str
    topics: tuple[Topic, ...]
    description: str
    max_age_s: float
    max_bytes: int
    duplicate_window_s: float
    #: a setting that overrides max_age_s (ALERTS_ARCHIVE: `alert_retention`, ALERT_RETENTION)
    max_age_setting: str | None = None
    #: "limits" (history) or "interest" (a backlog: gone once every consumer has acked it)
    retention: str = "limits"
    #: "new": a publish past a limit is refused; "old": the oldest messages are deleted
    discard: str = "old"
    max_msgs: int = -1
    #: settings that override max_msgs / max_bytes (the backlog limits)
    max_msgs_setting: str | None = None
    max_bytes_setting: str | None = None
    sources: tuple[SourceDecl, ...] = ()

    @property
    def is_backlog(self) -> bool:
        """A work stream: what it holds is waiting for a consumer, never history."""
        return self.retention == "interest"


#: the priority group every copy of a partitioned worker pulls in (pinned client policy)
OWNER_GROUP = "owner"


@dataclass(frozen=True)
class ConsumerDecl:
    durable: str
    stream: str
    topic: Topic
    ack_wait_s: float
    max_attempts: int
    max_ack_pending: int
    #: partitioned topics: a copy that sent no pull for this long loses its partitions
    pin_timeout_s: float = 0.0

    @property
    def partitions(self) -> int:
        return self.topic.partitions

    def durables(self) -> list[str]:
        """The durable consumers behind this declaration: one per partition, if partitioned."""
        if not self.partitions:
            return [self.durable]
        return [self.partition_durable(p) for p in range(self.partitions)]

    def partition_durable(self, partition: int) -> str:
        return f"{self.durable}-{partition}"

    def filter_subject(self, durable: str, ns: str = "") -> str:
        """What one of `durables()` consumes (stored subjects, so with the partition)."""
        if not self.partitions:
            return self.topic.wildcard(ns)
        return self.topic.partition_filter(int(durable.rsplit("-", 1)[1]), ns)


@dataclass(frozen=True)
class BucketDecl:
    bucket: str
    description: str
    history: int
    allow_msg_ttl: bool
    only_without_redis: bool


def _load(name: str) -> dict:
    return json.loads((declarations_dir() / name).read_text())


def streams() -> list[StreamDecl]:
    return [
        StreamDecl(
            name=s["name"],
            topics=tuple(CATALOGUE[t] for t in s["topics"]),
            description=s["description"],
            max_age_s=s["max_age_s"],
            max_bytes=s["max_bytes"],
            duplicate_window_s=s["duplicate_window_s"],
            max_age_setting=s.get("max_age_setting"),
            retention=s.get("retention", "limits"),
            discard=s.get("discard", "old"),
            max_msgs=s.get("max_msgs", -1),
            max_msgs_setting=s.get("max_msgs_setting"),
            max_bytes_setting=s.get("max_bytes_setting"),
            sources=tuple(
                SourceDecl(src["stream"], tuple(CATALOGUE[t] for t in src["topics"]))
                for src in s.get("sources", [])
            ),
        )
        for s in _load("streams.json")["streams"]
    ]


def stream(name: str) -> StreamDecl:
    for decl in streams():
        if decl.name == name:
            return decl
    raise KeyError(f"no stream {name!r} declared in nats/streams.json")


def consumers() -> list[ConsumerDecl]:
    return [
        ConsumerDecl(
            durable=c["durable"],
            stream=c["stream"],
            topic=CATALOGUE[c["topic"]],
            ack_wait_s=c["ack_wait_s"],
            max_attempts=c["max_attempts"],
            max_ack_pending=c["max_ack_pending"],
            pin_timeout_s=c.get("pin_timeout_s", 0.0),
        )
        for c in _load("consumers.json")["consumers"]
    ]


def consumer(durable: str) -> ConsumerDecl:
    for decl in consumers():
        if decl.durable == durable:
            return decl
    raise KeyError(f"no consumer {durable!r} declared in nats/consumers.json")


def buckets() -> list[BucketDecl]:
    return [
        BucketDecl(
            bucket=b["bucket"],
            description=b["description"],
            history=b["history"],
            allow_msg_ttl=b["allow_msg_ttl"],
            only_without_redis=b["only_without_redis"],
        )
        for b in _load("kv.json")["buckets"]
    ]


def stream_name(ns: str, name: str) -> str:
    """Streams are namespaced like subjects: `<NS>_ALERTS`."""
    return f"{ns.upper()}_{name}" if ns else name


def bucket_name(ns: str, name: str) -> str:
    return f"{ns}_{name}" if ns else name
