"""Versioned alert fingerprints and the dedup keys they are computed from. Pure functions.

Every canonical alert carries a dedup key, chosen by the rules below, and its fingerprint is

    fp:1:<sha256 hex of canonical JSON {"dedup_key": <key>, "service_id": <service>}>

so two alerts share a fingerprint exactly when they share a service and a dedup key, as in
PagerDuty and GoAlert (`(service_id, dedup_key)` is the identity). The service is in the hash
so one key string on two services can never correlate. Canonical JSON is sorted keys, no
whitespace, UTF-8 (`canonical_json`), so the bytes hashed never depend on dict order.

Dedup keys:
- given by the sender (PagerDuty `dedup_key`, generic `dedup_key`): used as sent;
- a generic alert without one: `auto:1:<sha256 of canonical JSON {"source", "summary"}>`, so a
  script re-posting the same problem joins the open alert instead of opening another;
- an Alertmanager/Grafana alert: `<sender fingerprint>:<startsAt as UTC RFC 3339, µs>`; the
  sender's fingerprint (a hash of the labels) names the alert, startsAt names the episode, so
  a re-sent group is idempotent, a resolved message matches its firing one, and the next
  firing of the same alert is a new key. A sender that omits `fingerprint` (old Alertmanager)
  gets Prometheus' own label-set hash (`prometheus_labels_fingerprint`), i.e. what a newer
  Alertmanager would have sent.

The `1` in `fp:1:` and `auto:1:` is the algorithm version: a future algorithm gets a new number
so keys made by the old one are visibly different rather than silently unmatched.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

FINGERPRINT_VERSION = 1
FINGERPRINT_PREFIX = f"fp:{FINGERPRINT_VERSION}:"
AUTO_DEDUP_PREFIX = "auto:1:"

# FNV-1a 64 as used by prometheus/common model.LabelSet.Fingerprint.
_FNV64_OFFSET = 14695981039346656037
_FNV64_PRIME = 1099511628211
_FNV64_MASK = (1 << 64) - 1
_PROMETHEUS_LABEL_SEPARATOR = 0xFF


def canonical_json(value: Any) -> bytes:
    """Deterministic JSON bytes: sorted keys, no whitespace, UTF-8."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def _sha256_hex(value: Any) -> str:
    return hashlib.sha256(canonical_json(value)).hexdigest()


def alert_fingerprint(service_id: str, dedup_key: str) -> str:
    """The versioned fingerprint `fp:1:<sha256>` of one alert identity on one service."""
    return FINGERPRINT_PREFIX + _sha256_hex({"dedup_key": dedup_key, "service_id": service_id})


def auto_dedup_key(source: str | None, summary: str) -> str:
    """The dedup key of an alert that named none: derived from its source and summary."""
    return AUTO_DEDUP_PREFIX + _sha256_hex({"source": source, "summary": summary})


def alertmanager_dedup_key(sender_fingerprint: str, starts_at: datetime) -> str:
    """`<fingerprint>:<startsAt>`: one firing episode of one Alertmanager/Grafana alert."""
    # Naive times are read as UTC; the same instant always renders the same way.
    aware = starts_at if starts_at.tzinfo is not None else starts_at.replace(tzinfo=UTC)
    return f"{sender_fingerprint}:{aware.astimezone(UTC).strftime('%Y-%m-%dT%H:%M:%S.%fZ')}"


def prometheus_labels_fingerprint(labels: Mapping[str, str]) -> str:
    """Alertmanager's own fingerprint of a label set: 16 hex digits of FNV-1a 64."""
    digest = _FNV64_OFFSET
    for name in sorted(labels):  # code-point order == Go's byte order for UTF-8
        for chunk in (name.encode(), labels[name].encode()):
            for byte in chunk:
                digest = ((digest ^ byte) * _FNV64_PRIME) & _FNV64_MASK
            digest = ((digest ^ _PROMETHEUS_LABEL_SEPARATOR) * _FNV64_PRIME) & _FNV64_MASK
    return f"{digest:016x}"
