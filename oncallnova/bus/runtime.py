"""`WorkerRunner`: the unit of work around every handler.

The runtime, not the handler, owns the unit of work: a batch is pulled, decoded and handed to
the handler with a `UnitOfWork` — a database session the runtime opens on first use, and an
outbox of messages to send. When the handler returns, the runtime commits, publishes the
outbox (the bus applies the namespace), then acks; a handler never commits, never publishes
and never names a namespace. A message
that cannot be decoded is terminated and copied to `dlq.<consumer>`. A failure naks with
exponential backoff: an outage (connection, timeout, operational errors) is retried for as
long as it lasts; any other failure is dead-lettered after `max_attempts` deliveries. If a
batch fails, its messages are retried one by one so one poison message cannot hold the others
back. A worker may keep several batches in flight (`concurrency`) as long as batches sharing
a `conflict_keys` key run one after the other.

A worker on a partitioned topic pulls every partition's consumer; the server pins each to one
copy at a time (`oncallnova/bus/pull.py`), so one key's messages are handled in order by one
copy. `stop()` stops pulling at once; the batches in hand are finished and acked, everything
else fetched is nak'd without delay and the partitions are handed over, so another copy
carries on at once instead of after `ack_wait`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from typing import Any, Generic, TypeVar

import nats.errors
import redis.exceptions
import sqlalchemy.exc
from nats.aio.msg import Msg
from opentelemetry import trace
from pydantic import BaseModel, ValidationError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from oncallnova import telemetry
from oncallnova.bus import declarations
from oncallnova.bus.connection import Bus, Outgoing, is_backlog_full, stored_too_late
from oncallnova.bus.pull import Puller
from oncallnova.bus.roster import Roster
from schemas.envelope import (
    DLQ_CONSUMER,
    DLQ_DELIVERIES,
    DLQ_ORIGINAL_ID,
    DLQ_REASON,
    DLQ_SUBJECT,
    MSG_ID,
    Envelope,
)
from schemas.subjects import DLQ, WORKER_ROSTER

log = logging.getLogger(__name__)

T = TypeVar("T")


class InvalidMessage(Exception):
    """The message can never be handled: dead-letter it, do not retry."""


M = TypeVar("M", bound=BaseModel)


def parse(model: type[M], msg: Msg) -> M:
    """The message's body as `model`; a body that does not fit it can never be handled."""
    try:
        return model.model_validate_json(msg.data)
    except ValidationError as error:
        raise InvalidMessage(str(error)) from error


class TransientError(Exception):
    """Worth retrying later (a dependency is down)."""


# A dependency that is down or busy: retried for as long as it takes, never dead-lettered,
# because an alert already accepted must not be lost to an outage.
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    TransientError,
    OSError,  # includes ConnectionError
    TimeoutError,
    sqlalchemy.exc.OperationalError,
    sqlalchemy.exc.InterfaceError,
    sqlalchemy.exc.TimeoutError,
    nats.errors.Error,
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
)


def failure_action(error: BaseException, num_delivered: int, max_attempts: int) -> str:
    """`dead_letter` or `retry` for a message whose handling raised `error`."""
    if isinstance(error, InvalidMessage):
        return "dead_letter"
    if isinstance(error, TRANSIENT_ERRORS):
        return "retry"
    return "dead_letter" if num_delivered >= max_attempts else "retry"


@dataclass(frozen=True)
class Delivery(Generic[T]):
    """One decoded message, with its envelope and the subject it came on (no namespace)."""

    msg: Msg
    subject: str
    envelope: Envelope
    data: T

    @property
    def num_delivered(self) -> int:
        return self.msg.metadata.num_delivered


class UnitOfWork:
    """One batch's effects: a session in one transaction and the messages to send after it
    commits. Message ids are fixed before the commit, so a publish retried after a crash is
    dropped by JetStream's duplicate window."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession] | None) -> None:
        self._sessions = sessions
        self._session: AsyncSession | None = None
        self._span: trace.Span | None = None
        self.outbox: list[Outgoing] = []
        # Messages the handler wants redelivered later instead of acked: id(msg) -> seconds.
        self.deferred: dict[int, float] = {}

    @property
    def session(self) -> AsyncSession:
        """The batch's session, opened on first use (its transaction begins with it)."""
        if self._session is None:
            if self._sessions is None:
                raise RuntimeError("this runner has no database")
            self._session = self._sessions()
            if telemetry.enabled():
                # One span per database transaction: from first use to commit or rollback.
                self._span = telemetry.tracer().start_span(
                    "db.transaction", kind=trace.SpanKind.CLIENT
                )
        return self._session

    def publish(self, message: Outgoing) -> None:
        """Send `message` once the unit commits."""
        self.outbox.append(message)

    def publish_all(self, messages: Iterable[Outgoing]) -> None:
        self.outbox.extend(messages)

    def retry_later(self, delivery: Delivery[Any], delay_s: float) -> None:
        """Nak this message with `delay_s` after the commit instead of acking it (a retry the
        handler schedules itself, e.g. an HTTP delivery with backoff and jitter)."""
        self.deferred[id(delivery.msg)] = delay_s

    async def commit(self) -> None:
        if self._session is not None:
            await self._session.commit()

    async def close(self) -> None:
        """Roll back whatever was not committed and give the connection back."""
        if self._session is not None:
            await self._session.close()
            self._session = None
        if self._span is not None:
            self._span.end()
            self._span = None


class Worker(ABC, Generic[T]):
    """A single-purpose consumer. Subclasses say how to decode and how to handle a batch."""

    #: durable consumer name, declared in nats/consumers.json
    consumer: str

    @abstractmethod
    def decode(self, subject: str, envelope: Envelope, msg: Msg) -> T:
        """Parse one message; raise InvalidMessage when it can never be handled."""

    @abstractmethod
    async def handle(self, batch: list[Delivery[T]], uow: UnitOfWork) -> None:
        """Apply the batch through `uow` (its session, its outbox); the runtime commits,
        publishes and acks after this returns."""

    #: batches handled at once. Above 1, `conflict_keys` must say which batches may overlap.
    concurrency: int = 1

    def conflict_keys(self, batch: list[Delivery[T]]) -> set[str] | None:
        """What a batch touches; batches sharing a key run one after the other, in order.
        None means the batch must run alone."""
        return None

    async def start(self) -> None:  # noqa: B027 - optional hook
        """Open what the worker needs (caches, stores) before the first fetch."""

    async def stop(self) -> None:  # noqa: B027 - optional hook
        """Release what `start` opened."""


# Longer than a pull request stays open (Puller.expires_s).
GIVE_BACK_DELAY_S = 6.0
# A batch whose output stream is full (discard new at its limit) comes back after this long,
# like the Retry-After ingestion gives senders: the next stage drains meanwhile.
BACKLOG_RETRY_S = 1.0


def backoff_delay(num_delivered: int) -> float:
    """Seconds before redelivery: 0.5, 1, 2, 4 … capped at 30."""
    return min(30.0, 0.5 * 2 ** max(0, num_delivered - 1))


# Seconds a batch takes to handle, commit, publish and ack.
LATENCY_BUCKETS: tuple[float, ...] = (
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
)  # fmt: skip


@dataclass
class LatencyHistogram:
    """A Prometheus-style histogram kept as plain counts (read at scrape time)."""

    bounds: tuple[float, ...] = LATENCY_BUCKETS
    counts: list[int] = field(default_factory=lambda: [0] * (len(LATENCY_BUCKETS) + 1))
    total: float = 0.0

    def observe(self, seconds: float) -> None:
        index = 0
        while index < len(self.bounds) and seconds > self.bounds[index]:
            index += 1
        self.counts[index] += 1
        self.total += seconds

    def cumulative(self) -> list[tuple[str, float]]:
        """(`le`, cumulative count) pairs, +Inf last."""
        running = 0
        out: list[tuple[str, float]] = []
        for bound, count in zip((*self.bounds, float("inf")), self.counts, strict=True):
            running += count
            out.append(("+Inf" if bound == float("inf") else repr(bound), running))
        return out


@dataclass
class WorkerStats:
    """What a running worker has done; exposed by /healthz and /metrics."""

    handled: int = 0
    dead_lettered: int = 0
    retried: int = 0
    # Batches given back because the stream they publish to was full (backpressure).
    backlog_waits: int = 0
    ignored_late: int = 0
    # Deliveries the server had made before (num_delivered > 1): redeliveries.
    redelivered: int = 0
    batches: int = 0
    last_batch_at: float = 0.0
    running: bool = False
    latency: LatencyHistogram = field(default_factory=LatencyHistogram)


class WorkerRunner(Generic[T]):
    """Runs one worker's fetch → decode → handle → ack loop until told to stop."""

    def __init__(
        self,
        bus: Bus,
        worker: Worker[T],
        sessions: async_sessionmaker[AsyncSession] | None = None,
        *,
        batch_size: int | None = None,
        fetch_timeout: float = 1.0,
        backoff: Callable[[int], float] = backoff_delay,
        partitions: set[int] | None = None,
    ) -> None:
        self.bus = bus
        self.worker = worker
        self.sessions = sessions
        self.decl = declarations.consumer(worker.consumer)
        self.batch_size = batch_size or bus.settings.fetch_batch
        self.fetch_timeout = fetch_timeout
        self.backoff = backoff
        self.stats = WorkerStats()
        #: partitions this copy asks for first (the others only as a standby); None: an even
        #: share among the running copies, from the roster
        self.partitions = partitions
        self.puller: Puller | None = None
        self.given_back = 0
        self._stopping = asyncio.Event()

    def is_running(self) -> bool:
        return self.stats.running

    def stop(self) -> None:
        """Stop fetching at once; the batch in hand is finished and acked, the rest given back."""
        self._stopping.set()
        if self.puller is not None:
            self.puller.stop_pulling()

    def new_puller(self) -> Puller:
        """A puller on this worker's consumers (one per partition), as `run` uses."""
        durables = self.decl.durables()
        preferred = roster = None
        if self.decl.partitions and self.partitions is not None:
            preferred = {self.decl.partition_durable(p) for p in self.partitions}
        elif self.decl.partitions:
            subject = self.bus.full(WORKER_ROSTER.subject(self.worker.consumer))
            roster = Roster(self.bus.nc, subject)
        return Puller(
            self.bus.nc,
            self.bus.stream(self.decl.stream),
            durables,
            self.batch_size,
            group=declarations.OWNER_GROUP if self.decl.partitions else None,
            preferred=preferred,
            progress_after_s=self.decl.ack_wait_s / 3,
            roster=roster,
        )

    async def run(self) -> None:
        await self.worker.start()
        puller = self.puller = self.new_puller()
        await puller.start()
        if self._stopping.is_set():
            puller.stop_pulling()
        self.stats.running = True
        # Batches in flight and the keys they touch (None: the batch runs alone).
        in_flight: dict[asyncio.Task[None], set[str] | None] = {}
        try:
            while not self._stopping.is_set():
                msgs = await puller.next_batch(self.fetch_timeout)
                if self._stopping.is_set():
                    puller.ready.extendleft(reversed(msgs))  # not in hand: given back below
                    break
                for task in [t for t in in_flight if t.done()]:
                    in_flight.pop(task)
                    task.result()  # a failure outside the handler (acking) stops the worker
                deliveries = await self._decode_all(msgs)
                if not deliveries:
                    continue
                if self.worker.concurrency <= 1:
                    await self._handle(deliveries)
                    continue
                keys = self.worker.conflict_keys(deliveries)
                # Wait for any earlier batch touching the same keys: per-key order holds.
                while in_flight and (
                    len(in_flight) >= self.worker.concurrency
                    or keys is None
                    or any(k is None or k & keys for k in in_flight.values())
                ):
                    done, _ = await asyncio.wait(in_flight, return_when=asyncio.FIRST_COMPLETED)
                    for task in done:
                        in_flight.pop(task)
                        task.result()
                in_flight[asyncio.create_task(self._handle(deliveries))] = keys
        except asyncio.CancelledError:
            # Cancelled is aborted, not stopped (`stop()` finishes the batches in hand): the
            # batches in flight are cancelled too and give their messages back.
            for task in in_flight:
                task.cancel()
            raise
        finally:
            try:
                # Nothing more comes; what is not in hand goes back (and partitions with nothing
                # in hand to another copy) while the batches in hand finish.
                self.given_back = await puller.give_back()
                if self.given_back:
                    log.info("%s: gave back %d messages", self.worker.consumer, self.given_back)
                if in_flight:
                    await asyncio.wait(in_flight)
                await puller.hand_over()
            finally:
                self.stats.running = False
                await puller.stop()
                await self.worker.stop()

    async def process(self, msgs: list[Msg]) -> None:
        """Decode, dead-letter the invalid, handle the rest as one unit, then ack."""
        deliveries = await self._decode_all(msgs)
        if deliveries:
            await self._handle(deliveries)

    async def _decode_all(self, msgs: list[Msg]) -> list[Delivery[T]]:
        deliveries: list[Delivery[T]] = []
        for msg in msgs:
            if stored_too_late(msg):
                # Its sender was answered "not accepted" (503): acting on it would break that.
                log.warning(
                    "%s: ignoring a message stored after its publisher gave up",
                    self.worker.consumer,
                )
                self.stats.ignored_late += 1
                await msg.ack()
                continue
            try:
                deliveries.append(self._decode(msg))
            except InvalidMessage as error:
                await self.dead_letter(msg, f"invalid: {error}")
        return deliveries

    async def _handle(self, deliveries: list[Delivery[T]]) -> None:
        """Handle a decoded batch as one unit, then ack; on failure, one by one."""
        self.stats.batches += 1
        self.stats.last_batch_at = time.time()
        started = time.perf_counter()
        for delivery in deliveries:
            if delivery.num_delivered > 1:
                self.stats.redelivered += 1
        # Small batches (a quiet system, where one alert's path is worth seeing) get a span per
        # message; a busy system's large batches get one span linked to every message, so the
        # cost of tracing grows with batches, not with messages.
        traced = telemetry.enabled()
        spans = (
            self._message_spans(deliveries)
            if traced and len(deliveries) <= PER_MESSAGE_SPANS
            else None
        )
        parents = (
            {message_id: telemetry.carrier(span) for message_id, span in spans.items()}
            if spans
            else _incoming_parents(deliveries)
        )
        try:
            with telemetry.tracer().start_as_current_span(
                f"{self.worker.consumer}.batch",
                context=telemetry.extract(deliveries[0].msg.headers),
                attributes={"messaging.batch.message_count": len(deliveries)},
                links=_links(deliveries) if traced and spans is None else None,
            ):
                try:
                    deferred = await self.run_unit(deliveries, parents)
                except asyncio.CancelledError:
                    # Stopped mid-batch: give the messages back for another copy at once
                    # (nothing was committed) instead of leaving them until ack_wait.
                    await self._give_back(deliveries)
                    raise
                except Exception as error:
                    if is_backlog_full(error):
                        # The next stage's stream is full: every message would fail alike, and
                        # one by one would only multiply the work. The batch waits instead.
                        await self._wait_for_room(deliveries)
                        return
                    if len(deliveries) == 1:
                        await self._failed(deliveries[0], error)
                        return
                    log.warning(
                        "%s: batch of %d failed; retrying one by one",
                        self.worker.consumer,
                        len(deliveries),
                        exc_info=True,
                    )
                    await self._one_by_one(deliveries, parents)
                    return
            await self._ack_all(deliveries, deferred)
        finally:
            self.stats.latency.observe(time.perf_counter() - started)
            for span in (spans or {}).values():
                span.end()

    def _message_spans(self, deliveries: list[Delivery[T]]) -> dict[str, trace.Span]:
        """One span per message handled, child of the span that published it, by message id:
        what a message causes is published under its span, so one alert is one trace."""
        tracer = telemetry.tracer()
        return {
            d.envelope.id: tracer.start_span(
                f"{self.worker.consumer} process",
                context=telemetry.extract(d.msg.headers),
                kind=trace.SpanKind.CONSUMER,
                attributes={
                    "messaging.system": "nats",
                    "messaging.destination.name": d.subject.rsplit(".", 1)[0],
                    "messaging.message.id": d.envelope.id,
                },
            )
            for d in deliveries
        }

    async def run_unit(
        self, deliveries: list[Delivery[T]], parents: dict[str, dict[str, str]] | None = None
    ) -> dict[int, float]:
        """Handle, commit, publish: after this returns the batch's effects are durable and its
        messages are in JetStream (acking is the caller's). Returns the retries the handler
        asked for (`UnitOfWork.retry_later`)."""
        uow = UnitOfWork(self.sessions)
        try:
            await self.worker.handle(deliveries, uow)
            await uow.commit()
        finally:
            await uow.close()
        outbox = uow.outbox
        if parents:
            outbox = [_under_cause(message, parents) for message in outbox]
        await self.bus.publish_all(outbox)
        return uow.deferred

    async def _one_by_one(
        self, deliveries: list[Delivery[T]], parents: dict[str, dict[str, str]] | None = None
    ) -> None:
        for delivery in deliveries:
            try:
                deferred = await self.run_unit([delivery], parents)
            except Exception as error:
                await self._failed(delivery, error)
            else:
                await self._ack_all([delivery], deferred)

    async def _failed(self, delivery: Delivery[T], error: Exception) -> None:
        action = failure_action(error, delivery.num_delivered, self.decl.max_attempts)
        if action == "dead_letter":
            await self.dead_letter(delivery.msg, f"{type(error).__name__}: {error}")
            return
        self.stats.retried += 1
        log.warning(
            "%s: delivery %d of %s failed (%s); retrying",
            self.worker.consumer,
            delivery.num_delivered,
            delivery.subject,
            error,
        )
        await delivery.msg.nak(delay=self.backoff(delivery.num_delivered))
        self._done(delivery.msg)

    async def _wait_for_room(self, deliveries: list[Delivery[T]]) -> None:
        """Give a batch back for redelivery after BACKLOG_RETRY_S: what it committed is applied
        again idempotently and republished under the same ids when it comes back. (Each wait
        is a delivery, so it counts towards `max_attempts` should the message later fail for
        another reason.)"""
        self.stats.retried += len(deliveries)
        self.stats.backlog_waits += 1
        log.info(
            "%s: the next stream is full; %d message(s) retried in %.0fs",
            self.worker.consumer,
            len(deliveries),
            BACKLOG_RETRY_S,
        )
        for delivery in deliveries:
            await delivery.msg.nak(delay=BACKLOG_RETRY_S)
            self._done(delivery.msg)

    def _done(self, msg: Msg) -> None:
        if self.puller is not None:
            self.puller.done(msg)

    async def _give_back(self, deliveries: list[Delivery[T]]) -> None:
        for delivery in deliveries:
            try:
                # After our open pull requests expire: until then the server may still route
                # a redelivery to this stopped puller's inbox, where nobody reads it.
                await delivery.msg.nak(delay=GIVE_BACK_DELAY_S)
            except Exception:  # already acked, or the connection is gone: ack_wait will do
                log.debug("%s: could not give back a message", self.worker.consumer)

    async def _ack_all(
        self, deliveries: list[Delivery[T]], deferred: dict[int, float] | None = None
    ) -> None:
        for delivery in deliveries:
            delay = deferred.get(id(delivery.msg)) if deferred else None
            if delay is not None:
                self.stats.retried += 1
                await delivery.msg.nak(delay=delay)
                continue
            await delivery.msg.ack()
            self._done(delivery.msg)
        self.stats.handled += len(deliveries)

    def _decode(self, msg: Msg) -> Delivery[T]:
        # A partitioned topic's stream stores `<subject>.<partition>`: handlers see the subject.
        subject = self.decl.topic.published(self.bus.strip_ns(msg.subject))
        headers = msg.headers or {}
        # A bare producer message has no id: its stream position is one (parsing the
        # metadata costs more than the whole envelope, so only then).
        fallback = "" if headers.get(MSG_ID) else _stream_position(msg)
        envelope = Envelope.from_headers(
            headers, type_=subject.rsplit(".", 1)[0], fallback_id=fallback
        )
        data = self.worker.decode(subject, envelope, msg)
        return Delivery(msg=msg, subject=subject, envelope=envelope, data=data)

    async def dead_letter(self, msg: Msg, reason: str) -> None:
        """Copy to `dlq.<consumer>` with the reason in headers, then terminate the original."""
        headers = dict(msg.headers or {})
        # A fresh id: the original's Nats-Msg-Id would be dropped as a duplicate by the DLQ stream.
        original_id = headers.pop(MSG_ID, "")
        headers.update(
            {
                DLQ_REASON: reason[:1000],
                # Where a replay publishes it: the subject as published, not as stored.
                DLQ_SUBJECT: self.bus.full(
                    self.decl.topic.published(self.bus.strip_ns(msg.subject))
                ),
                DLQ_CONSUMER: self.worker.consumer,
                DLQ_ORIGINAL_ID: original_id,
                DLQ_DELIVERIES: str(msg.metadata.num_delivered),
            }
        )
        await self.bus.js.publish(
            self.bus.full(DLQ.subject(self.worker.consumer)), msg.data, headers=headers
        )
        await msg.term()
        self._done(msg)
        self.stats.dead_lettered += 1
        log.error("%s: dead-lettered %s: %s", self.worker.consumer, msg.subject, reason)


# Batches up to this size get a span per message (see `_handle`).
PER_MESSAGE_SPANS = 16
TRACE_HEADERS = ("traceparent", "tracestate")


def _incoming_parents(deliveries: list[Delivery[Any]]) -> dict[str, dict[str, str]]:
    """Each message's own trace headers, by message id: what it causes stays in its trace even
    when another message's context is the current one (a batch has one)."""
    parents: dict[str, dict[str, str]] = {}
    for delivery in deliveries:
        headers = delivery.msg.headers
        if headers and "traceparent" in headers:
            parents[delivery.envelope.id] = {k: headers[k] for k in TRACE_HEADERS if k in headers}
    return parents


def _links(deliveries: list[Delivery[Any]]) -> list[trace.Link]:
    """Links from a batch span to the span that published each of its messages."""
    links = []
    for delivery in deliveries:
        headers = delivery.msg.headers
        if headers and "traceparent" in headers:
            context = trace.get_current_span(telemetry.extract(headers)).get_span_context()
            if context.is_valid:
                links.append(trace.Link(context))
    return links


def _under_cause(message: Outgoing, parents: dict[str, dict[str, str]]) -> Outgoing:
    """`message` with the trace context of the message that caused it, when it was in the batch."""
    headers = parents.get(message.envelope.causation_id or "")
    if headers is None:
        return message
    return replace(message, extra_headers={**(message.extra_headers or {}), **headers})


def _stream_position(msg: Msg) -> str:
    return f"{msg.metadata.stream}:{msg.metadata.sequence.stream}"
