"""Alert ingestion logic with no I/O: validate wire bodies, normalise them, fingerprint them.

- `validation`: bytes -> wire model (`schemas.wire_v1`) or `InvalidAlert` naming each field.
- `normalise`: wire model -> `CanonicalAlertV1` list; severity mapping; integration key.
- `fingerprint`: versioned `fp:1:` fingerprints and the dedup-key rules behind them.
- `grafana_signature`: Grafana's optional webhook HMAC.
"""

from oncallnova.alerts.fingerprint import alert_fingerprint
from oncallnova.alerts.normalise import integration_key_from, normalise
from oncallnova.alerts.validation import (
    MAX_BODY_BYTES,
    AlertBodyTooLarge,
    InvalidAlert,
    pagerduty_error_body,
    parse_alert_body,
)

__all__ = [
    "MAX_BODY_BYTES",
    "AlertBodyTooLarge",
    "InvalidAlert",
    "alert_fingerprint",
    "integration_key_from",
    "normalise",
    "pagerduty_error_body",
    "parse_alert_body",
]
