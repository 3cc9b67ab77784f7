"""`oncallnova replay`: read stored raw alerts back, for a dry run or into another namespace.

The dry run reads an ordered consumer (ephemeral, in memory on the server, nothing acked) and
hands each message to `oncallnova.replay.DryRun`; it reads services and the incidents open at
the start of the range from the database, and writes nothing anywhere. `--into NAMESPACE`
publishes the same messages, with their ids and headers, into a namespace of their own
(subject prefix, streams, database schema) where this process runs the workers with the
current settings, waits until they are done, and prints where each alert went.
"""

from __future__ import annotations

import asyncio
import json
import re
import sys
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from nats.errors import TimeoutError as NatsTimeout
from nats.js.api import ConsumerConfig, DeliverPolicy
from nats.js.errors import NotFoundError

from oncallnova.bus import declarations
from oncallnova.bus.connection import Bus, Outgoing, connect
from oncallnova.db.engine import create_engine, create_sessions
from oncallnova.db.repositories import incidents as repo
from oncallnova.embedded_nats import broker_url as find_broker
from oncallnova.replay import Decision, DryRun, StoredAlert
from oncallnova.settings import Settings, parse_duration
from schemas.envelope import Envelope
from schemas.subjects import ALERT_RECEIVED

# How long the last message may take to arrive before the range is taken as read.
IDLE_S = 2.0
# What `--into` runs: the stages whose decisions a replay compares.
REPLAY_WORKERS = ("fingerprinter", "correlator", "lifecycle")


class ReplayError(Exception):
    """A request the command cannot carry out; the message says why (exit 2)."""


@dataclass(frozen=True)
class Range:
    """Where to start and stop reading: a sequence or a time at each end."""

    from_seq: int | None = None
    since: datetime | None = None
    to_seq: int | None = None
    to_time: datetime | None = None

    def past_end(self, sequence: int, stored: datetime) -> bool:
        if self.to_seq is not None and sequence > self.to_seq:
            return True
        return self.to_time is not None and stored > self.to_time


def parse_moment(value: str, now: datetime) -> datetime:
    """`1h`, `90m` (that long ago) or an ISO 8601 instant (UTC if it names no zone)."""
    try:
        return now - timedelta(seconds=parse_duration(value))
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(value)
    except ValueError as error:
        raise ReplayError(f"not a time: {value!r} (use 1h, 30m or 2026-11-29T10:00:00Z)") from error
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def parse_range(since: str | None, from_seq: int | None, to: str | None, now: datetime) -> Range:
    """The range the options name; `--to` is a sequence number or a time."""
    if (since is None) == (from_seq is None):
        raise ReplayError("give one of --since DURATION|TIME or --from-seq N")
    to_seq = to_time = None
    if to is not None:
        if re.fullmatch(r"\d+", to.strip()):
            to_seq = int(to)
        else:
            to_time = parse_moment(to, now)
    return Range(
        from_seq=from_seq,
        since=parse_moment(since, now) if since is not None else None,
        to_seq=to_seq,
        to_time=to_time,
    )


def check_subject(subject: str) -> str:
    """The subject filter, which must stay within the raw alerts (`alert.received.v1.*`)."""
    root = ALERT_RECEIVED.wildcard().rsplit(".", 1)[0]
    if subject != root + ".>" and not (
        subject.startswith(root + ".") and subject.count(".") == root.count(".") + 1
    ):
        raise ReplayError(
            f"--subject {subject!r}: replay reads raw alerts, {root}.> or {root}.<format>"
        )
    return subject


def broker_url(settings: Settings) -> str:
    """NATS_URL, or the embedded nats-server of a platform running on `--data-dir`."""
    try:
        return find_broker(settings.nats_url, settings.data_dir)
    except LookupError as error:
        raise ReplayError(str(error)) from error


# The header a sourcing stream adds to its copy: `<origin stream> <origin sequence> …`.
STREAM_SOURCE = "Nats-Stream-Source"
# Where raw alerts are kept for replay (ALERTS itself holds only what awaits the fingerprinter).
ARCHIVE = "ALERTS_ARCHIVE"


def origin_of(headers: dict[str, str]) -> str | None:
    """`<stream>:<sequence>` of the ALERTS message an archived copy was made from: the id the
    fingerprinter gave a message published without `Nats-Msg-Id`."""
    parts = headers.get(STREAM_SOURCE, "").split()
    if len(parts) < 2 or not parts[1].isdigit():
        return None
    return f"{parts[0]}:{parts[1]}"


async def stored_alerts(bus: Bus, subject: str, span: Range) -> AsyncIterator[StoredAlert]:
    """The archive's messages on `subject` within `span`, in order, through an ordered consumer
    (sequences are the archive's: what the dry run prints and `--from-seq` takes)."""
    stream = bus.stream(ARCHIVE)
    try:
        await bus.js.stream_info(stream)
    except NotFoundError as error:
        raise ReplayError(f"no stream {stream} on this broker") from error
    if span.from_seq is not None:
        config = ConsumerConfig(deliver_policy=DeliverPolicy.BY_START_SEQUENCE)
        config.opt_start_seq = max(span.from_seq, 1)
    else:
        assert span.since is not None
        config = ConsumerConfig(deliver_policy=DeliverPolicy.BY_START_TIME)
        config.opt_start_time = span.since.astimezone(UTC)
    sub = await bus.js.subscribe(
        bus.full(subject), ordered_consumer=True, config=config, stream=stream
    )
    try:
        while True:
            try:
                msg = await sub.next_msg(timeout=IDLE_S)
            except (NatsTimeout, TimeoutError):
                return
            meta = msg.metadata
            stored_at = meta.timestamp or datetime.now(UTC)
            if stored_at.tzinfo is None:
                stored_at = stored_at.replace(tzinfo=UTC)
            sequence = meta.sequence.stream
            if span.past_end(sequence, stored_at):
                return
            headers = dict(msg.headers or {})
            origin = origin_of(headers)
            headers.pop(STREAM_SOURCE, None)  # the archive's, not the sender's
            yield StoredAlert(
                sequence=sequence,
                subject=bus.strip_ns(msg.subject),
                data=msg.data,
                headers=headers,
                time=stored_at,
                stream=stream,
                origin=origin,
            )
            if meta.num_pending == 0:
                return
    finally:
        await sub.unsubscribe()


async def dry_run(
    settings: Settings,
    subject: str,
    span: Range,
    service: str | None,
    emit: Callable[[Decision], None],
) -> int:
    """Every decision of the range, on scratch state; returns how many alerts were shown."""
    check_subject(subject)
    bus = await connect(settings, broker_url(settings), name="oncallnova-replay")
    engine = create_engine(settings)
    try:
        first = None
        messages = []
        async for stored in stored_alerts(bus, subject, span):
            first = first or stored.time
            messages.append(stored)
        start = first or datetime.now(UTC)
        async with create_sessions(engine)() as session:
            services = {
                s.integration_key: (s.id, s.name) for s in await repo.list_services(session)
            }
            open_then = await repo.incidents_open_at(session, start)
        run = DryRun.starting_from(services, settings.correlation_window, open_then, start)
        decisions = [d for stored in messages for d in run.feed(stored)]
        if service is not None:
            decisions = [d for d in decisions if service in (d.service, d.service_id)]
        # Incidents the dry run opened may exist live under the same ids: show their numbers.
        async with create_sessions(engine)() as session:
            numbers = await repo.incident_numbers(
                session, {d.incident_id for d in decisions if d.incident_id}
            )
        for decision in decisions:
            if decision.incident_id and not decision.incident_number:
                decision.incident_number = numbers.get(decision.incident_id)
            emit(decision)
        return len(decisions)
    finally:
        await bus.close()
        await engine.dispose()


async def into_namespace(
    settings: Settings,
    namespace: str,
    subject: str,
    span: Range,
    service: str | None,
    emit: Callable[[dict[str, Any]], None],
    timeout_s: float = 300.0,
    pace: bool = False,
) -> int:
    """Re-drive the range into `namespace` with the workers of this process; returns alerts.

    With `pace`, messages go out as far apart as they were stored (gaps capped at a minute), so
    correlation windows measure the same spans as they did live."""
    from app.supervisor import Platform

    check_subject(subject)
    if not re.fullmatch(r"[a-z0-9_]+", namespace) or namespace == settings.nats_namespace:
        raise ReplayError(
            f"--into {namespace!r}: a namespace of lower-case letters, digits and _, "
            "other than the live one"
        )
    url = broker_url(settings)
    source = await connect(settings, url, name="oncallnova-replay")
    try:
        messages = [m async for m in stored_alerts(source, subject, span)]
    finally:
        await source.close()
    isolated = settings.model_copy(
        update={
            "nats_url": url,
            "nats_namespace": namespace,
            "database_schema": namespace if settings.database_url else None,
            "database_url": settings.database_url
            or f"sqlite+aiosqlite:///{(settings.data_dir / f'replay-{namespace}.db').resolve()}",
        }
    )
    await _copy_services(settings, isolated)
    platform = Platform(isolated, list(REPLAY_WORKERS), [], serve_http=False)
    ctx = await platform.start()
    try:
        previous: datetime | None = None
        for stored in messages:
            if pace and previous is not None:
                await asyncio.sleep(min(max((stored.time - previous).total_seconds(), 0), 60))
            previous = stored.time
            headers = dict(stored.headers)
            await ctx.bus.publish(
                Outgoing(
                    stored.subject,
                    stored.data,
                    Envelope.from_headers(
                        headers, type_=ALERT_RECEIVED.type(), fallback_id=stored.message_id
                    ),
                    extra_headers=headers,
                )
            )
        await _until_drained(ctx.bus, timeout_s)
        async with ctx.sessions() as session:
            rows = await repo.alerts_with_incidents(session, service)
        for row in rows:
            emit(row)
        return len(rows)
    finally:
        await platform.stop()


async def _copy_services(live: Settings, isolated: Settings) -> None:
    """The isolated schema starts with the live services, so integration keys resolve."""
    from oncallnova.db import migrate

    source = create_engine(live)
    target = create_engine(isolated)
    try:
        await migrate.upgrade(target, isolated.database_schema)
        async with create_sessions(source)() as session:
            services = list(await repo.list_services(session))
        async with create_sessions(target).begin() as session:
            await repo.copy_services(session, services)
    finally:
        await source.dispose()
        await target.dispose()


async def _until_drained(bus: Bus, timeout_s: float) -> None:
    """Until the replay's workers have handed out and seen acked all their consumers hold
    (other workers' consumers, such as the metrics', do not run in a replay)."""
    ours = {
        durable
        for decl in declarations.consumers()
        if decl.durable in REPLAY_WORKERS
        for durable in decl.durables()
    }
    deadline = asyncio.get_running_loop().time() + timeout_s
    quiet = 0
    while asyncio.get_running_loop().time() < deadline:
        busy = 0
        for stream in ("ALERTS", "ALERTS_FINGERPRINTED", "INCIDENT_COMMANDS"):
            for info in await bus.js.consumers_info(bus.stream(stream)):
                if info.name in ours:
                    busy += (info.num_pending or 0) + (info.num_ack_pending or 0)
        quiet = quiet + 1 if busy == 0 else 0
        if quiet >= 3:  # three quiet looks: what one stage emitted has reached the next
            return
        await asyncio.sleep(0.2)
    raise ReplayError(f"the replay namespace did not finish within {timeout_s:.0f}s")


def print_decision(as_json: bool) -> Callable[[Decision], None]:
    def emit(decision: Decision) -> None:
        print(json.dumps(decision.to_json()) if as_json else decision.line(), flush=True)

    return emit


def print_row(as_json: bool) -> Callable[[dict[str, Any]], None]:
    def emit(row: dict[str, Any]) -> None:
        if as_json:
            print(json.dumps(row, default=str), flush=True)
            return
        target = f"incident #{row['incident_number']}" if row["incident_number"] else "no incident"
        print(
            f"{row['received_at']}  {row['service']}  {row['dedup_key']}  {row['action']}  "
            f"-> {target}",
            flush=True,
        )

    return emit


def run(args: Any, settings: Settings) -> int:
    """The CLI entry: exit 0 when done, 2 on a request it cannot carry out."""
    try:
        span = parse_range(args.since, args.from_seq, args.to, datetime.now(UTC))
        if args.into:
            coro: Any = into_namespace(
                settings,
                args.into,
                args.subject,
                span,
                args.service,
                print_row(args.json),
                pace=args.pace,
            )
        else:
            coro = dry_run(settings, args.subject, span, args.service, print_decision(args.json))
        count = asyncio.run(coro)
    except ReplayError as error:
        print(f"oncallnova replay: {error}", file=sys.stderr)
        return 2
    if not args.json:
        print(
            f"{count} alert(s) replayed" + (" (dry run)" if not args.into else ""), file=sys.stderr
        )
    return 0
