"""JSON logs (one object per line) or plain text, chosen by LOG_FORMAT; Loki when LOKI_URL is set.

Inside a span (a request, a message being handled) every JSON line carries `trace_id` and
`span_id`, so a log line leads to its trace and back.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

from opentelemetry import trace

from oncallnova.loki import LokiHandler


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        span_context = trace.get_current_span().get_span_context()
        if span_context.is_valid:
            entry["trace_id"] = format(span_context.trace_id, "032x")
            entry["span_id"] = format(span_context.span_id, "016x")
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry)


def setup_logging(
    level: str = "INFO",
    fmt: str = "json",
    *,
    loki_url: str | None = None,
    service: str = "oncallnova",
    environment: str = "local",
) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(
        JsonFormatter()
        if fmt == "json"
        else logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    )
    root = logging.getLogger()
    handlers: list[logging.Handler] = [handler]
    if loki_url:
        loki = LokiHandler(loki_url, service=service, environment=environment)
        loki.setFormatter(JsonFormatter())
        handlers.append(loki)
    root.handlers[:] = handlers
    root.setLevel(level.upper())
    for noisy in ("nats", "alembic"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
