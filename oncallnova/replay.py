"""A dry run of stored raw alerts through the decisions the workers make, on scratch state.

Each message of `alert.received.v1.*` goes through the fingerprinter's steps (validate,
integration key, normalise + fingerprint), the correlator's window decision
(`oncallnova/incidents/correlation.py`) and the lifecycle's incident rules (`IncidentBook`), in
stream order, at the time the stream stored it. Windows and incidents live in memory: the live
ones are never touched. No I/O here: `app/replay.py` reads the stream and the scratch state.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from oncallnova.alerts.normalise import integration_key_from, normalise, received_alert_id
from oncallnova.alerts.validation import InvalidAlert, parse_alert_body
from oncallnova.incidents.correlation import (
    ScratchWindows,
    command_incident_id,
    window_claims,
    window_key,
    window_peeks,
)
from oncallnova.incidents.rules import IncidentBook, IncidentState, candidate_incident_id
from schemas.envelope import MSG_ID, OCCURRED_AT
from schemas.incident_v1 import IncidentCommandV1
from schemas.subjects import ALERT_FORMATS

# What a decision can be; "dropped" always comes with a reason.
NEW, JOINS, ACKNOWLEDGES, RESOLVES, CHANGE, DROPPED = (
    "new_incident",
    "joins_incident",
    "acknowledges_incident",
    "resolves_incident",
    "change_event",
    "dropped",
)


@dataclass(frozen=True)
class StoredAlert:
    """One raw message as the stream keeps it."""

    sequence: int
    subject: str  # as published, without namespace: alert.received.v1.<format>
    data: bytes
    headers: Mapping[str, str]
    time: datetime  # when the stream stored it
    stream: str = "ALERTS_ARCHIVE"
    #: `<stream>:<sequence>` of the ALERTS message this archived copy was made from
    origin: str | None = None

    @property
    def message_id(self) -> str:
        """The id the fingerprinter gave it: `Nats-Msg-Id`, else its position in ALERTS."""
        return self.headers.get(MSG_ID) or self.origin or f"{self.stream}:{self.sequence}"


@dataclass
class Decision:
    """What the mesh decides for one alert (or one message it cannot handle)."""

    sequence: int
    time: datetime
    subject: str
    decision: str
    service_id: str | None = None
    service: str | None = None
    alert_id: str | None = None
    action: str | None = None
    dedup_key: str | None = None
    fingerprint: str | None = None
    incident_id: str | None = None
    incident_number: int | None = None  # None: opened by the dry run, not known live
    reason: str | None = None

    def to_json(self) -> dict[str, Any]:
        record = asdict(self)
        record["time"] = self.time.isoformat()
        return record

    def describe(self) -> str:
        """`new incident #12`, `joins incident #12`, `dropped: <why>` …"""
        ref = f"#{self.incident_number}" if self.incident_number else f"{self.incident_id or ''}"
        if self.decision == NEW:
            text = f"new incident {ref}"
        elif self.decision == JOINS:
            text = f"joins incident {ref}"
        elif self.decision == ACKNOWLEDGES:
            text = f"acknowledges incident {ref}"
        elif self.decision == RESOLVES:
            text = f"resolves incident {ref}"
        elif self.decision == CHANGE:
            text = "change event (service timeline, never an incident)"
        else:
            text = "dropped"
        return f"{text}: {self.reason}" if self.reason else text

    def line(self) -> str:
        fingerprint = (self.fingerprint or "-")[:17]
        return "  ".join(
            [
                self.time.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
                f"#{self.sequence}",
                self.service or self.service_id or "-",
                self.dedup_key or "-",
                fingerprint,
                self.describe(),
            ]
        )


@dataclass
class DryRun:
    """The mesh's decisions on scratch state: feed stored messages in order, read decisions."""

    services: Mapping[str, tuple[str, str]]  # integration key -> (service id, name)
    window_s: float
    book: IncidentBook = field(default_factory=IncidentBook)
    windows: ScratchWindows = field(default_factory=ScratchWindows)

    @classmethod
    def starting_from(
        cls,
        services: Mapping[str, tuple[str, str]],
        window_s: float,
        open_incidents: Iterable[IncidentState],
        at: datetime,
    ) -> DryRun:
        """Scratch state as it was at `at`: the incidents open then, and the windows their
        first alerts opened that had not yet expired."""
        incidents = list(open_incidents)
        run = cls(services, window_s, IncidentBook.of(incidents))
        for incident in sorted(incidents, key=lambda i: i.created_at):
            run.windows.claim(
                {window_key(incident.service_id, incident.fingerprint): incident.id},
                incident.created_at,
                window_s,
            )
        run.windows.open = {k: v for k, v in run.windows.open.items() if v[1] > at}
        return run

    def feed(self, stored: StoredAlert) -> list[Decision]:
        """The decisions for one stored message, in the order the workers would make them."""
        fmt = stored.subject.rsplit(".", 1)[-1]

        def dropped(reason: str) -> list[Decision]:
            return [Decision(stored.sequence, stored.time, stored.subject, DROPPED, reason=reason)]

        if fmt not in ALERT_FORMATS:
            return dropped(f"format {fmt!r} unknown (dead-lettered)")
        try:
            body = parse_alert_body(fmt, stored.data)
        except InvalidAlert as error:
            return dropped(f"invalid body, dead-lettered: {error.message}")
        key = integration_key_from(fmt, body, dict(stored.headers))
        if not key:
            return dropped("no integration key (dead-lettered)")
        service = self.services.get(key)
        if service is None:
            return dropped(f"no service has integration key {key!r} (dead-lettered)")
        service_id, service_name = service
        occurred = stored.headers.get(OCCURRED_AT)
        alerts = normalise(
            fmt,
            body,
            service_id=service_id,
            received_id=received_alert_id(stored.message_id),
            received_at=datetime.fromisoformat(occurred) if occurred else stored.time,
        )
        decisions = []
        for alert in alerts:
            decision = Decision(
                stored.sequence,
                stored.time,
                stored.subject,
                DROPPED,
                service_id=service_id,
                service=service_name,
                alert_id=alert.alert_id,
                action=alert.action,
                dedup_key=alert.dedup_key,
                fingerprint=alert.fingerprint,
            )
            decisions.append(decision)
            if alert.action == "change":
                decision.decision = CHANGE
                continue
            # The correlator's decision, then the lifecycle's, exactly as the workers make them.
            held = self.windows.claim(window_claims([alert]), stored.time, self.window_s)
            held.update(self.windows.peek(window_peeks([alert], held), stored.time))
            command = IncidentCommandV1(
                action=alert.action,  # type: ignore[arg-type]
                incident_id=command_incident_id(alert, held),
                service_id=service_id,
                dedup_key=alert.dedup_key,
                alert=alert,
                actor=f"integration:{service_id}",
            )
            outcome = self.book.apply(command, alert.alert_id, stored.time)
            incident = outcome.incident
            if incident is not None:
                decision.incident_id = incident.id
                decision.incident_number = incident.number or None
            if outcome.opened:
                decision.decision = NEW
                decision.reason = _why_new(command, alert.alert_id)
            elif outcome.facts:
                decision.decision = {
                    "alert_attached": JOINS,
                    "acknowledged": ACKNOWLEDGES,
                    "resolved": RESOLVES,
                }.get(outcome.facts[0].event, outcome.facts[0].event)
                if decision.decision == JOINS and not outcome.facts[0].notify:
                    decision.reason = "incident acknowledged: recorded, nobody notified"
            elif incident is None:
                decision.reason = f"{alert.action} with nothing open on this dedup key"
            else:
                decision.reason = f"{alert.action}: incident already {incident.status}"
        return decisions


def _why_new(command: IncidentCommandV1, alert_id: str) -> str | None:
    if command.incident_id != candidate_incident_id(alert_id):
        return "its window still named a resolved incident, which alerts never reopen"
    return None
