"""Raw alert body (bytes) for a format -> its wire model, or an error that names each bad field.

Errors read `"<field path>: <what is wrong>"` (`"payload.severity: must be one of critical,
error, warning, info"`, `"links[0].href: required"`), so a sender can fix its request without
reading our code. PagerDuty clients get them in PagerDuty's own 400 body
(`pagerduty_error_body`); they do not retry a 400.
"""

from __future__ import annotations

import json
from typing import Any, cast

from pydantic import ValidationError
from pydantic_core import ErrorDetails

from oncallnova.errors import InvalidInput
from schemas.wire_v1 import WIRE_MODELS, WireBody

MAX_BODY_BYTES = 512 * 1024


class InvalidAlert(InvalidInput):
    """An alert body that cannot be accepted; `errors` holds one message per bad field."""

    status_code = 400
    code = "invalid_alert"

    def __init__(self, errors: list[str]) -> None:
        self.errors = list(errors)
        first_field = self.errors[0].split(":", 1)[0] if self.errors else None
        super().__init__("; ".join(self.errors) or "invalid alert", field=first_field)

    def to_dict(self) -> dict[str, object]:
        body = super().to_dict()
        error = cast(dict[str, object], body["error"])
        error["errors"] = self.errors
        return body


class AlertBodyTooLarge(InvalidAlert):
    """A body over `MAX_BODY_BYTES`; refused before it is parsed."""

    status_code = 413
    code = "body_too_large"


def pagerduty_error_body(errors: list[str]) -> dict[str, Any]:
    """The 400 body PagerDuty's Events API returns, which its clients know how to report."""
    return {"status": "invalid event", "message": "Event object is invalid", "errors": errors}


def parse_alert_body(fmt: str, raw: bytes) -> WireBody:
    """Decode and validate `raw` as the wire model of `fmt`; raise `InvalidAlert` if it is not."""
    model = WIRE_MODELS.get(fmt)
    if model is None:
        raise InvalidAlert([f"format: must be one of {', '.join(WIRE_MODELS)}"])
    if len(raw) > MAX_BODY_BYTES:
        raise AlertBodyTooLarge([f"body: must be at most {MAX_BODY_BYTES} bytes"])
    try:
        # As json.loads does for bytes, but with one decoder built once, not one per body.
        document = _DECODER.decode(raw.decode(json.detect_encoding(raw), "surrogatepass"))
    except (ValueError, UnicodeDecodeError):
        raise InvalidAlert(["body: not valid JSON"]) from None
    except RecursionError:
        raise InvalidAlert(["body: nested too deeply"]) from None
    if not isinstance(document, dict):
        raise InvalidAlert(["body: must be a JSON object"])
    # PostgreSQL text and jsonb cannot hold U+0000: refuse it here, naming the field, rather
    # than accept an alert the database would later reject. (The byte test keeps this cheap.)
    if b"\\u0000" in raw and (paths := nul_paths(document)):
        raise InvalidAlert([f"{path}: must not contain NUL characters" for path in paths])
    try:
        return cast(WireBody, model.model_validate(document))
    except ValidationError as exc:
        raise InvalidAlert([describe_error(error) for error in exc.errors()]) from None


def nul_paths(value: Any, path: str = "") -> list[str]:
    """Field paths (`payload.summary`, `links[0].text`) of strings or keys holding U+0000."""
    found: list[str] = []
    if isinstance(value, str):
        return [path or "body"] if "\x00" in value else []
    if isinstance(value, dict):
        for key, item in value.items():
            child = f"{path}.{key}" if path else str(key)
            if "\x00" in str(key):
                found.append(child)
            found.extend(nul_paths(item, child))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found.extend(nul_paths(item, f"{path}[{index}]"))
    return found


def _reject_non_json_constant(name: str) -> Any:
    # Python's json accepts NaN and Infinity; JSON (and every real sender) does not.
    raise ValueError(f"{name} is not JSON")


def describe_error(error: ErrorDetails) -> str:
    """One pydantic error as `"<field path>: <reason>"`."""
    return f"{field_path(error['loc'])}: {_reason(error)}"


def field_path(loc: tuple[int | str, ...]) -> str:
    """`('links', 0, 'href')` -> `links[0].href`; the empty location is the whole body."""
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f".{part}" if path else part
    return path or "body"


_TYPE_REASONS = {
    "missing": "required",
    "string_type": "must be a string",
    "dict_type": "must be an object",
    "model_type": "must be an object",
    "model_attributes_type": "must be an object",
    "list_type": "must be an array",
    "int_type": "must be an integer",
    "int_parsing": "must be an integer",
    "int_from_float": "must be an integer",
    "float_type": "must be a number",
    "float_parsing": "must be a number",
    "bool_type": "must be true or false",
    "bool_parsing": "must be true or false",
}


def _reason(error: ErrorDetails) -> str:
    kind = error["type"]
    ctx = error.get("ctx") or {}
    if kind in _TYPE_REASONS:
        return _TYPE_REASONS[kind]
    if kind == "literal_error":
        # pydantic says "'a', 'b' or 'c'"; senders read "a, b, c" more easily.
        expected = str(ctx.get("expected", "")).replace("'", "").replace(" or ", ", ")
        return f"must be one of {expected}"
    if kind == "string_too_short":
        minimum = ctx.get("min_length", 1)
        return "must not be empty" if minimum == 1 else f"must be at least {minimum} characters"
    if kind == "string_too_long":
        return f"must be at most {ctx.get('max_length')} characters"
    if kind.startswith(("datetime", "date_", "time_")):
        return "must be an ISO 8601 timestamp"
    # Our own PydanticCustomErrors already read as a reason ("must be 32 characters").
    return error["msg"]


_DECODER = json.JSONDecoder(parse_constant=_reject_non_json_constant)
