"""Export every message contract on the mesh as JSON Schema, for producers in other languages.

`python -m schemas.export` rewrites `schemas/json/`: one `<subject family>.schema.json` per
topic that has a model (one per wire format for `alert.received.v1`), plus the NATS header
envelope. The output is deterministic (sorted keys, 2-space indent, trailing newline) so the
committed files can be compared byte for byte with a fresh export (tests/contract).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from schemas import envelope
from schemas.subjects import (
    ALERT_FINGERPRINTED,
    ALERT_FORMATS,
    ALERT_RECEIVED,
    INCIDENT_COMMAND,
    INCIDENT_EVENT,
    NOTIFICATION_REQUESTED,
    WEBHOOK_DELIVERY_REQUESTED,
    Topic,
)
from schemas.wire_v1 import (
    ROUTING_KEY_LENGTH,
    WIRE_MODELS,
    PagerDutyChangeEventV2,
    PagerDutyEventV2,
)

DRAFT = "https://json-schema.org/draft/2020-12/schema"
OUT_DIR = Path(__file__).resolve().parent / "json"
SUFFIX = ".schema.json"
ENVELOPE_FILE = "envelope.headers.schema.json"


def _family(topic: Topic) -> str:
    """`incident.command.v1.{key}` -> `incident.command.v1`; incident events -> `incident.event.v1`."""
    family = topic.template.rsplit(".", 1)[0]
    return family.replace("{event}", "event")


def _model_schema(model: type[BaseModel], subjects: list[str], note: str) -> dict[str, Any]:
    schema = model.model_json_schema(by_alias=True)
    doc = schema.get("description", "")
    schema["$schema"] = DRAFT
    schema["description"] = "\n\n".join(part for part in (doc, note) if part)
    # A producer needs the subject as much as the body; keep them in one file.
    schema["x-oncallnova-subjects"] = subjects
    return schema


def _routing_key_rule(schema: dict[str, Any]) -> dict[str, Any]:
    # A field_validator in wire_v1, invisible to pydantic's exporter.
    schema["properties"]["routing_key"].update(
        minLength=ROUTING_KEY_LENGTH, maxLength=ROUTING_KEY_LENGTH
    )
    return schema


def _pagerduty_action_rules(schema: dict[str, Any]) -> dict[str, Any]:
    """State PagerDutyEventV2's action-dependent validators, which pydantic cannot export.

    Without this the schema would demand a well-formed `payload` on acknowledge/resolve, which
    PagerDuty (and OnCallNova) ignore, and refuse Alertmanager's resolve whose severity
    renders empty; nor would it say that a trigger needs a payload.
    """
    props = schema["properties"]
    props["payload"] = {"description": props["payload"]["description"]}
    schema["allOf"] = [
        {
            "if": {
                "required": ["event_action"],
                "properties": {"event_action": {"const": "trigger"}},
            },
            "then": {
                "required": ["payload"],
                "properties": {"payload": {"$ref": "#/$defs/PagerDutyPayload"}},
            },
        },
        {
            "if": {
                "required": ["event_action"],
                "properties": {"event_action": {"enum": ["acknowledge", "resolve"]}},
            },
            "then": {
                "required": ["dedup_key"],
                "properties": {"dedup_key": {"type": "string", "minLength": 1}},
            },
        },
    ]
    return _routing_key_rule(schema)


# Models whose validators say more than their fields; keyed by model so a rename fails loudly.
_WIRE_RULES = {
    PagerDutyEventV2: _pagerduty_action_rules,
    PagerDutyChangeEventV2: _routing_key_rule,
}


def _wire_schemas() -> dict[str, dict[str, Any]]:
    schemas = {}
    for fmt in ALERT_FORMATS:
        model = WIRE_MODELS[fmt]
        subject = ALERT_RECEIVED.subject(fmt)
        note = (
            f"Body of `{subject}`: {ALERT_RECEIVED.description} Unknown fields are ignored. "
            "The integration key comes from the body's `routing_key` where it has one, "
            "else from the `Integration-Key` header."
        )
        schema = _model_schema(model, [subject], note)
        rules = _WIRE_RULES.get(model)
        schemas[f"{subject}{SUFFIX}"] = rules(schema) if rules else schema
    return schemas


def _topic_schema(topic: Topic, extra_note: str = "") -> dict[str, Any]:
    assert topic.model is not None, topic.name
    note = f"Subject `{topic.template}`: {topic.description} {extra_note}".strip()
    return _model_schema(topic.model, topic.stream_subjects(), note)


def envelope_headers_schema() -> dict[str, Any]:
    """The NATS headers every message carries (CloudEvents binary mode), as a JSON object."""

    def header(description: str, **extra: Any) -> dict[str, Any]:
        return {"type": "string", "description": description, **extra}

    return {
        "$schema": DRAFT,
        "title": "OnCallNova message envelope (NATS headers)",
        "description": (
            "Identity, causality and trace context of one message, carried in NATS headers so "
            "the body stays exactly what the producer sent. Messages published by OnCallNova "
            "always carry the four required headers; an outside producer on "
            "`alert.received.v1.<format>` may send none (the stream sequence becomes the id), "
            "but should send Nats-Msg-Id so a retried publish is deduplicated."
        ),
        "type": "object",
        "properties": {
            envelope.MSG_ID: header(
                "Message id. JetStream drops a second publish with the same id inside the "
                "stream's duplicate window (120 s); workers derive their output ids from it.",
                minLength=1,
            ),
            envelope.TYPE: header(
                "The subject without its key, e.g. `alert.received.v1`, `incident.command.v1`, "
                "`incident.acknowledged.v1`.",
                pattern=r"^[a-z_]+\.[a-z_]+\.v[0-9]+$",
            ),
            envelope.OCCURRED_AT: header(
                "When the fact happened (ISO 8601 with offset).", format="date-time"
            ),
            envelope.PRODUCER: header(
                "Who published it: `edge.ingestion`, `correlator`, `lifecycle`, …; "
                "`external` is assumed when absent."
            ),
            envelope.CORRELATION_ID: header(
                "Id of the first message of this causal chain (absent on the first one)."
            ),
            envelope.CAUSATION_ID: header("Id of the message that caused this one."),
            envelope.INTEGRATION_KEY: header(
                "Integration key of the service, for `alert.received.v1.<format>` bodies that "
                "carry none (Alertmanager, Grafana, generic)."
            ),
            "traceparent": header(
                "W3C Trace Context parent (OpenTelemetry); continues the producer's trace.",
                pattern=r"^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$",
            ),
            "tracestate": header("W3C Trace Context vendor state, passed through."),
        },
        "required": [envelope.MSG_ID, envelope.TYPE, envelope.OCCURRED_AT, envelope.PRODUCER],
        # Headers are open: NATS and tracing vendors add their own.
        "additionalProperties": {"type": "string"},
    }


def build() -> dict[str, dict[str, Any]]:
    """File name -> schema for every exported contract."""
    schemas = _wire_schemas()
    schemas[f"{_family(ALERT_FINGERPRINTED)}{SUFFIX}"] = _topic_schema(ALERT_FINGERPRINTED)
    schemas[f"{_family(INCIDENT_COMMAND)}{SUFFIX}"] = _topic_schema(INCIDENT_COMMAND)
    schemas[f"{_family(INCIDENT_EVENT)}{SUFFIX}"] = _topic_schema(
        INCIDENT_EVENT,
        "The event type is the second subject token (`incident.<event>.v1.<incident_id>`) "
        "and equals the body's `event` field; commands (`incident.command.v1.*`) are a "
        "different family and never share this stream.",
    )
    schemas[f"{_family(NOTIFICATION_REQUESTED)}{SUFFIX}"] = _topic_schema(
        NOTIFICATION_REQUESTED, "The channel is the subject's key and equals `channel`."
    )
    schemas[f"{_family(WEBHOOK_DELIVERY_REQUESTED)}{SUFFIX}"] = _topic_schema(
        WEBHOOK_DELIVERY_REQUESTED,
        'The body sent to the receiver is `{"event": <event>}` with the event as given.',
    )
    schemas[ENVELOPE_FILE] = envelope_headers_schema()
    return schemas


def render(schema: dict[str, Any]) -> str:
    """Stable text: the same models always give the same bytes."""
    return json.dumps(schema, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def write(out_dir: Path = OUT_DIR) -> list[Path]:
    """Write every schema into `out_dir` and remove exported files no longer produced."""
    out_dir.mkdir(parents=True, exist_ok=True)
    schemas = build()
    for stale in out_dir.glob(f"*{SUFFIX}"):
        if stale.name not in schemas:
            stale.unlink()
    written = []
    for name, schema in sorted(schemas.items()):
        path = out_dir / name
        path.write_text(render(schema), encoding="utf-8")
        written.append(path)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m schemas.export", description=__doc__)
    parser.add_argument("--out", type=Path, default=OUT_DIR, help="target directory")
    args = parser.parse_args(argv)
    for path in write(args.out):
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
