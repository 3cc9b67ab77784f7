"""JSON logs (one object per line) or plain text, chosen by LOG_FORMAT."""

from __future__ import annotations

import json
import logging
import re
from datetime import UTC, datetime

# Secrets that must never reach a log line, whatever code logged them (defence in depth: the
# code does not log them on purpose).
_SECRETS = [
    (re.compile(r"eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*"), "[jwt]"),
    (re.compile(r"ocn_[A-Za-z0-9_-]{16,}"), "[api-token]"),
    (re.compile(r"(?i)(bearer\s+)[^\s'\"]+"), r"\1[redacted]"),
    (re.compile(r"\$argon2[a-z]*\$[^\s'\"]+"), "[password-hash]"),
    (re.compile(r"(://[^:/@\s]+:)[^@\s]+@"), r"\1[redacted]@"),
    (re.compile(r"(?i)(\"?(?:password|secret|token)\"?\s*[:=]\s*\"?)[^\"\s,}&]+"), r"\1[redacted]"),
]


def redact(text: str) -> str:
    """`text` with tokens, password hashes and credentials in URLs replaced."""
    for pattern, replacement in _SECRETS:
        text = pattern.sub(replacement, text)
    return text


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": redact(record.getMessage()),
        }
        if record.exc_info:
            entry["exception"] = redact(self.formatException(record.exc_info))
        return json.dumps(entry)


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


def setup_logging(level: str = "INFO", fmt: str = "json") -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(
        JsonFormatter()
        if fmt == "json"
        else TextFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in ("nats", "alembic"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
