"""Raw alert bodies as real senders post them: the payload of `alert.received.v1.<format>`.

One model per `format`: pagerduty (Events API v2), change (PagerDuty change events),
alertmanager (webhook version "4"), grafana (alerting webhook) and generic. Each accepts what
its real senders send byte for byte (REFERENCE.md): unknown fields are ignored, because real
clients add their own, and fields older sender versions omit are optional. The fingerprinter
turns each body into `CanonicalAlertV1` (`oncallnova.alerts.normalise`).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Generic, Literal, TypeAlias, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
)
from pydantic_core import PydanticCustomError

from schemas.alert_v1 import Severity

EventAction = Literal["trigger", "acknowledge", "resolve"]
AlertStatus = Literal["firing", "resolved"]

ROUTING_KEY_LENGTH = 32
# Alertmanager and Grafana send 16 hex digits; the bound keeps a derived dedup key under 255.
MAX_SENDER_FINGERPRINT_LENGTH = 128


class _WireModel(BaseModel):
    # extra="ignore": real clients send fields of their own and must not be refused for it.
    model_config = ConfigDict(frozen=True, extra="ignore", populate_by_name=True)


def _utc_representable(value: datetime) -> datetime:
    # `0001-01-01T00:00:00+01:00` is year 0 in UTC: Python, PostgreSQL drivers and the workers
    # all fail on it. Refused here, so no worker ever meets an instant it cannot convert.
    try:
        (value if value.tzinfo is not None else value.replace(tzinfo=UTC)).astimezone(UTC)
    except OverflowError:
        raise PydanticCustomError(
            "instant_range", "must be between 0001-01-01 and 9999-12-31 in UTC"
        ) from None
    return value


# An ISO 8601 timestamp that names an instant every worker can convert to UTC.
Instant = Annotated[datetime, AfterValidator(_utc_representable)]


def _check_routing_key(value: str) -> str:
    if len(value) != ROUTING_KEY_LENGTH:
        raise PydanticCustomError("routing_key_length", "must be 32 characters")
    return value


def _none_as_empty_list(value: Any) -> Any:
    # Some senders serialise an empty list as null; both mean "none".
    return [] if value is None else value


def _blank_as_none(value: Any) -> Any:
    return None if value == "" else value


# --- PagerDuty Events API v2 ------------------------------------------------------------


class PagerDutyLink(_WireModel):
    href: str
    text: str | None = None


class PagerDutyImage(_WireModel):
    src: str
    href: str | None = None
    alt: str | None = None


class PagerDutyPayload(_WireModel):
    """The `payload` of a trigger: what the alert is about."""

    summary: str = Field(min_length=1, max_length=1024)
    source: str
    severity: Severity
    timestamp: Instant | None = Field(default=None, description="ISO 8601")
    component: str | None = None
    group: str | None = None
    class_: str | None = Field(default=None, alias="class")
    custom_details: dict[str, Any] | None = None

    _timestamp_blank = field_validator("timestamp", mode="before")(_blank_as_none)


class PagerDutyEventV2(_WireModel):
    """`POST /v2/enqueue`: trigger, acknowledge or resolve the alert named by `dedup_key`."""

    # Field order matters: the validators of dedup_key and payload read event_action.
    routing_key: str = Field(description="The integration key: exactly 32 characters.")
    event_action: EventAction
    dedup_key: str | None = Field(
        default=None,
        max_length=255,
        description="Required for acknowledge and resolve; a trigger without one gets one.",
        validate_default=True,
    )
    payload: PagerDutyPayload | None = Field(
        default=None,
        description="Required for trigger; ignored for acknowledge and resolve.",
        validate_default=True,
    )
    client: str | None = None
    client_url: str | None = None
    images: list[PagerDutyImage] = Field(default_factory=list)
    links: list[PagerDutyLink] = Field(default_factory=list)

    _routing_key_length = field_validator("routing_key")(_check_routing_key)
    _lists_may_be_null = field_validator("images", "links", mode="before")(_none_as_empty_list)

    @field_validator("dedup_key", mode="before")
    @classmethod
    def _dedup_key_names_the_alert_to_change(cls, value: Any, info: ValidationInfo) -> Any:
        value = _blank_as_none(value)
        if value is None and info.data.get("event_action") in ("acknowledge", "resolve"):
            raise PydanticCustomError("required_for_action", "required for acknowledge and resolve")
        return value

    @field_validator("payload", mode="before")
    @classmethod
    def _payload_only_matters_for_trigger(cls, value: Any, info: ValidationInfo) -> Any:
        action = info.data.get("event_action")
        if action in ("acknowledge", "resolve"):
            # PagerDuty ignores the payload of these actions; so do we, so a sender that
            # always sends one (Alertmanager does) is never refused because of it.
            return None
        if value is None and action == "trigger":
            raise PydanticCustomError("required_for_action", "required for trigger")
        return value


# --- PagerDuty change events -------------------------------------------------------------


class PagerDutyChangePayload(_WireModel):
    summary: str = Field(min_length=1, max_length=1024)
    source: str | None = None
    timestamp: Instant | None = Field(default=None, description="ISO 8601")
    custom_details: dict[str, Any] | None = None

    _timestamp_blank = field_validator("timestamp", mode="before")(_blank_as_none)


class PagerDutyChangeEventV2(_WireModel):
    """`POST /v2/change/enqueue`: a deploy or config change, shown on the timeline, never paged."""

    routing_key: str = Field(description="The integration key: exactly 32 characters.")
    payload: PagerDutyChangePayload
    links: list[PagerDutyLink] = Field(default_factory=list)

    _routing_key_length = field_validator("routing_key")(_check_routing_key)
    _lists_may_be_null = field_validator("links", mode="before")(_none_as_empty_list)


# --- Alertmanager webhook v4 and Grafana alerting webhook --------------------------------

_GO_ZERO_TIME = datetime(1, 1, 1, tzinfo=UTC)


def _go_zero_time_as_none(value: datetime | None) -> datetime | None:
    # Alertmanager sends endsAt "0001-01-01T00:00:00Z" (Go's zero time) while firing.
    if value is None:
        return None
    aware = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    return None if aware == _GO_ZERO_TIME else value


class AlertmanagerAlert(_WireModel):
    """One alert of an Alertmanager group."""

    status: AlertStatus
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)
    starts_at: Instant = Field(alias="startsAt")
    ends_at: Instant | None = Field(
        default=None, alias="endsAt", description="Absent (None) while firing."
    )
    generator_url: str | None = Field(default=None, alias="generatorURL")
    fingerprint: str | None = Field(
        default=None,
        max_length=MAX_SENDER_FINGERPRINT_LENGTH,
        description="Hash of the labels; old Alertmanagers omit it and it is derived.",
    )

    _ends_at_zero = field_validator("ends_at")(_go_zero_time_as_none)
    _maps_may_be_null = field_validator("labels", "annotations", mode="before")(
        lambda value: {} if value is None else value
    )


class GrafanaAlert(AlertmanagerAlert):
    """One alert of a Grafana notification: an Alertmanager alert plus Grafana's links."""

    values: dict[str, Any] | None = None
    value_string: str | None = Field(default=None, alias="valueString")
    silence_url: str | None = Field(default=None, alias="silenceURL")
    dashboard_url: str | None = Field(default=None, alias="dashboardURL")
    panel_url: str | None = Field(default=None, alias="panelURL")
    image_url: str | None = Field(default=None, alias="imageURL")


AlertT = TypeVar("AlertT", bound=AlertmanagerAlert)


class _AlertGroup(_WireModel, Generic[AlertT]):
    """The group envelope Alertmanager and Grafana share."""

    version: str = "4"
    group_key: str | None = Field(default=None, alias="groupKey")
    truncated_alerts: int = Field(default=0, alias="truncatedAlerts")
    status: AlertStatus
    receiver: str | None = None
    group_labels: dict[str, str] = Field(default_factory=dict, alias="groupLabels")
    common_labels: dict[str, str] = Field(default_factory=dict, alias="commonLabels")
    common_annotations: dict[str, str] = Field(default_factory=dict, alias="commonAnnotations")
    external_url: str | None = Field(default=None, alias="externalURL")
    alerts: list[AlertT]

    _maps_may_be_null = field_validator(
        "group_labels", "common_labels", "common_annotations", mode="before"
    )(lambda value: {} if value is None else value)


class AlertmanagerWebhookV4(_AlertGroup[AlertmanagerAlert]):
    """Prometheus Alertmanager `webhook_configs` body, version "4"."""


class GrafanaWebhook(_AlertGroup[GrafanaAlert]):
    """Grafana alerting webhook contact point body, version "1"."""

    version: str = "1"
    org_id: int | None = Field(default=None, alias="orgId")
    title: str | None = None
    state: str | None = None
    message: str | None = None


# --- Generic -----------------------------------------------------------------------------


class GenericAlert(_WireModel):
    """The simplest thing a script can post: a summary, optionally a key and details."""

    summary: str = Field(min_length=1, max_length=1024)
    severity: Severity = "error"
    source: str | None = None
    dedup_key: str | None = Field(
        default=None,
        max_length=255,
        description="Without one, the key is derived from source and summary.",
    )
    details: dict[str, Any] | None = None
    action: EventAction = "trigger"

    _dedup_key_blank = field_validator("dedup_key", mode="before")(_blank_as_none)


WireBody: TypeAlias = (
    PagerDutyEventV2
    | PagerDutyChangeEventV2
    | AlertmanagerWebhookV4
    | GrafanaWebhook
    | GenericAlert
)

WIRE_MODELS: dict[str, type[BaseModel]] = {
    "pagerduty": PagerDutyEventV2,
    "change": PagerDutyChangeEventV2,
    "alertmanager": AlertmanagerWebhookV4,
    "grafana": GrafanaWebhook,
    "generic": GenericAlert,
}
