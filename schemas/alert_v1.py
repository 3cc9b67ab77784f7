"""The canonical alert: every wire format is normalised into this by the fingerprinter.

Subject: `alert.fingerprinted.v1.<service_id>`. The raw bodies of `alert.received.v1.<format>`
are modelled in `schemas/wire_v1.py`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Severity = Literal["critical", "error", "warning", "info"]
AlertAction = Literal["trigger", "acknowledge", "resolve", "change"]
SourceFormat = Literal["pagerduty", "alertmanager", "grafana", "generic", "change"]


class Link(BaseModel):
    model_config = ConfigDict(frozen=True)
    href: str
    text: str | None = None


class Image(BaseModel):
    model_config = ConfigDict(frozen=True)
    src: str
    href: str | None = None
    alt: str | None = None


class CanonicalAlertV1(BaseModel):
    """One alert, whatever format it arrived in, with its versioned fingerprint."""

    model_config = ConfigDict(frozen=True, populate_by_name=True)

    alert_id: str = Field(
        description="Idempotency key: the received message id, plus the alert's index "
        "when one body carries several alerts (Alertmanager groups)."
    )
    service_id: str
    action: AlertAction
    fingerprint: str = Field(description="fp:1:<sha256 hex>", pattern=r"^fp:1:[0-9a-f]{64}$")
    dedup_key: str = Field(max_length=255)
    summary: str = Field(max_length=1024)
    severity: Severity = "error"
    source: str | None = None
    component: str | None = None
    group: str | None = None
    class_: str | None = Field(default=None, alias="class")
    occurred_at: datetime
    details: dict[str, Any] = Field(default_factory=dict)
    links: list[Link] = Field(default_factory=list)
    images: list[Image] = Field(default_factory=list)
    source_format: SourceFormat
    client: str | None = None
    client_url: str | None = None
