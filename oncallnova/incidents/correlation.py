"""The correlator's window decision as pure functions, shared by the correlator and a replay.

A window is keyed by `(service, fingerprint)` and names one incident id for its lifetime. A
batch's triggers claim their windows (the first trigger's candidate wins a new window); other
actions only look. Each alert's command then goes to the id holding its window, or, with no
window open, to the stable id of its dedup key (the lifecycle finds the open incident by key).
`ScratchWindows` keeps windows in memory with the same expiry rule as Redis `SET NX PX` and
NATS KV `create` with a TTL: a window lasts `ttl` from its claim and is never extended.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from oncallnova.incidents.rules import candidate_incident_id, unmatched_incident_id
from schemas.alert_v1 import CanonicalAlertV1


def window_key(service_id: str, fingerprint: str) -> str:
    """`<service>.<sha256 hex>`: valid both as a Redis key and as a NATS KV key."""
    return f"{service_id}.{fingerprint.rsplit(':', 1)[-1]}"


def alert_window_key(alert: CanonicalAlertV1) -> str:
    return window_key(alert.service_id, alert.fingerprint)


def window_claims(alerts: Iterable[CanonicalAlertV1]) -> dict[str, str]:
    """The windows a batch's triggers claim: key -> candidate id (the first trigger's wins)."""
    claims: dict[str, str] = {}
    for alert in alerts:
        if alert.action == "trigger":
            claims.setdefault(alert_window_key(alert), candidate_incident_id(alert.alert_id))
    return claims


def window_peeks(alerts: Iterable[CanonicalAlertV1], held: Mapping[str, str]) -> list[str]:
    """Keys of non-trigger alerts whose window the claims did not already answer."""
    keys: dict[str, None] = {}
    for alert in alerts:
        key = alert_window_key(alert)
        if alert.action != "trigger" and key not in held:
            keys[key] = None
    return list(keys)


def command_incident_id(alert: CanonicalAlertV1, held: Mapping[str, str]) -> str:
    """The incident id an alert's command names: its window's, else its dedup key's."""
    return held.get(alert_window_key(alert)) or unmatched_incident_id(
        alert.service_id, alert.dedup_key
    )


@dataclass
class ScratchWindows:
    """Windows in memory, for a dry run: key -> (incident id, expires at)."""

    open: dict[str, tuple[str, datetime]] = field(default_factory=dict)

    def claim(self, candidates: Mapping[str, str], now: datetime, ttl_s: float) -> dict[str, str]:
        """As the live stores: a key already open keeps its incident; a closed one is taken."""
        held: dict[str, str] = {}
        for key, candidate in candidates.items():
            current = self._current(key, now)
            if current is None:
                self.open[key] = (candidate, now + timedelta(seconds=ttl_s))
                current = candidate
            held[key] = current
        return held

    def peek(self, keys: Iterable[str], now: datetime) -> dict[str, str]:
        found = {}
        for key in keys:
            current = self._current(key, now)
            if current is not None:
                found[key] = current
        return found

    def _current(self, key: str, now: datetime) -> str | None:
        entry = self.open.get(key)
        if entry is None or entry[1] <= now:
            return None
        return entry[0]
