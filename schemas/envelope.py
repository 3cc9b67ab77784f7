"""The envelope every message on the mesh carries, in NATS headers (CloudEvents "binary mode").

Keeping it in headers means a producer's raw body (an Alertmanager webhook, a PagerDuty event)
travels untouched while still having an id, a type and a causal chain.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import UTC, datetime

from pydantic import BaseModel, ConfigDict, Field

MSG_ID = "Nats-Msg-Id"
TYPE = "Onc-Type"
OCCURRED_AT = "Onc-Time"
PRODUCER = "Onc-Producer"
CORRELATION_ID = "Onc-Correlation"
CAUSATION_ID = "Onc-Causation"
INTEGRATION_KEY = "Integration-Key"
# Unix milliseconds after which a stored copy of this message must be ignored: its publisher
# stopped waiting for the PubAck then and told its caller the message was not accepted.
STORE_BY = "Onc-Store-By"

# Added when the runtime moves a message to `dlq.<consumer>`.
DLQ_REASON = "Onc-Dlq-Reason"
DLQ_SUBJECT = "Onc-Dlq-Subject"
DLQ_CONSUMER = "Onc-Dlq-Consumer"
DLQ_ORIGINAL_ID = "Onc-Dlq-Original-Id"
DLQ_DELIVERIES = "Onc-Dlq-Deliveries"
DLQ_HEADERS = (DLQ_REASON, DLQ_SUBJECT, DLQ_CONSUMER, DLQ_ORIGINAL_ID, DLQ_DELIVERIES)


class Envelope(BaseModel):
    """Identity and causality of one message."""

    model_config = ConfigDict(frozen=True)

    id: str = Field(default_factory=lambda: uuid.uuid4().hex)
    type: str
    occurred_at: datetime = Field(default_factory=lambda: datetime.now(UTC))
    producer: str
    correlation_id: str | None = None
    causation_id: str | None = None

    def caused(self, type_: str, producer: str, *, id: str | None = None) -> Envelope:
        """The envelope of a message this one caused: same correlation, causation = this id."""
        return Envelope(
            id=id or uuid.uuid4().hex,
            type=type_,
            producer=producer,
            correlation_id=self.correlation_id or self.id,
            causation_id=self.id,
        )

    def to_headers(self) -> dict[str, str]:
        headers = {
            MSG_ID: self.id,
            TYPE: self.type,
            OCCURRED_AT: self.occurred_at.isoformat(),
            PRODUCER: self.producer,
        }
        if self.correlation_id:
            headers[CORRELATION_ID] = self.correlation_id
        if self.causation_id:
            headers[CAUSATION_ID] = self.causation_id
        return headers

    @classmethod
    def from_headers(
        cls, headers: Mapping[str, str] | None, *, type_: str, fallback_id: str
    ) -> Envelope:
        """Read an envelope; a bare producer message (no headers) still gets a stable id."""
        headers = headers or {}
        occurred = headers.get(OCCURRED_AT)
        return cls(
            id=headers.get(MSG_ID) or fallback_id,
            type=headers.get(TYPE) or type_,
            occurred_at=datetime.fromisoformat(occurred) if occurred else datetime.now(UTC),
            producer=headers.get(PRODUCER) or "external",
            correlation_id=headers.get(CORRELATION_ID),
            causation_id=headers.get(CAUSATION_ID),
        )
