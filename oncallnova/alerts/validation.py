"""Raw alert body (bytes) for a format -> its wire model, or an error that names each bad field.

Errors read `"<field path>: <what is wrong>"` (`"payload.severity: must be one of critical,
error, warning, info"`, `"links[0].href: required"`), so a sender can fix its request without
reading our code. PagerDuty clients get them in PagerDuty's own 400 body
(`pagerduty_error_body`); they do not retry a 400.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any, cast

from pydantic import ValidationError
from pydantic_core import ErrorDetails

from oncallnova.errors import InvalidInput
from schemas.wire_v1 import WIRE_MODELS, WireBody

MAX_BODY_BYTES = 512 * 1024
MAX_ERRORS = 20
MAX_ERROR_CHARS = 300
# Deepest nesting of objects and arrays accepted in a body. Workers re-serialise alerts inside
# their own messages (pydantic stops at 255 levels), so the edge keeps well below that.
MAX_NESTING_DEPTH = 64
_SURROGATE = re.compile("[\ud800-\udfff]")


def _may_hold_surrogates(raw: bytes) -> bool:
    # A `\uDxxx` escape or a 0xED lead byte (UTF-8 of U+D000-U+DFFF, which surrogatepass
    # lets through) can yield a lone surrogate; byte searches keep common bodies off the walk.
    return b"\\ud" in raw or b"\\uD" in raw or b"\xed" in raw


class InvalidAlert(InvalidInput):
    """An alert body that cannot be accepted; `errors` holds one message per bad field."""

    status_code = 400
    code = "invalid_alert"

    def __init__(self, errors: list[str]) -> None:
        # Bounded: each message may quote the sender's input (a path, a key).
        self.errors = [
            error if len(error) <= MAX_ERROR_CHARS else error[: MAX_ERROR_CHARS - 1] + "…"
            for error in errors[:MAX_ERRORS]
        ]
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


class UnsupportedMediaType(InvalidAlert):
    """A body sent as something other than JSON (a form, plain text)."""

    status_code = 415
    code = "unsupported_media_type"


def check_content_type(content_type: str | None) -> None:
    """Alert bodies are JSON: `application/json` (any parameters), any `application/*+json`,
    or no Content-Type at all (scripts that post raw bytes). Anything else is refused."""
    if not content_type:
        return
    media_type = content_type.split(";", 1)[0].strip().lower()
    if media_type == "application/json" or (
        media_type.startswith("application/") and media_type.endswith("+json")
    ):
        return
    raise UnsupportedMediaType(["Content-Type: must be application/json"])


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
    except _DuplicateKey as error:
        raise InvalidAlert([f"body: duplicate key {error.args[0]!r}"]) from None
    except (ValueError, UnicodeDecodeError):
        raise InvalidAlert(["body: not valid JSON"]) from None
    except RecursionError:
        raise InvalidAlert([f"body: nested deeper than {MAX_NESTING_DEPTH} levels"]) from None
    if not isinstance(document, dict):
        raise InvalidAlert(["body: must be a JSON object"])
    # Whatever is accepted here, every worker must handle: so strings a worker cannot encode
    # and nesting deeper than it serialises are refused now, naming the field, not dead-lettered
    # later. The byte tests keep the walks off the common path.
    if (raw.count(b"{") + raw.count(b"[")) > MAX_NESTING_DEPTH and (
        depth_path := too_deep(document, MAX_NESTING_DEPTH)
    ) is not None:
        raise InvalidAlert([f"{depth_path}: nested deeper than {MAX_NESTING_DEPTH} levels"])
    # PostgreSQL text and jsonb cannot hold U+0000.
    if b"\\u0000" in raw and (paths := nul_paths(document)):
        raise InvalidAlert([f"{path}: must not contain NUL characters" for path in paths])
    # A lone UTF-16 surrogate ("\ud800") decodes, but no UTF-8 encoder will write it again.
    if _may_hold_surrogates(raw) and (paths := surrogate_paths(document)):
        raise InvalidAlert(
            [f"{path}: must be valid Unicode (a lone UTF-16 surrogate)" for path in paths]
        )
    try:
        return cast(WireBody, model.model_validate(document))
    except ValidationError as exc:
        raise InvalidAlert([describe_error(error) for error in exc.errors()]) from None


def string_paths(value: Any, bad: Callable[[str], bool], path: str = "") -> list[str]:
    """Field paths (`payload.summary`, `links[0].text`) of strings or keys where `bad` holds."""
    found: list[str] = []
    if isinstance(value, str):
        return [path or "body"] if bad(value) else []
    if isinstance(value, dict):
        for key, item in value.items():
            child = f"{path}.{key}" if path else str(key)
            if bad(str(key)):
                found.append(child)
            found.extend(string_paths(item, bad, child))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found.extend(string_paths(item, bad, f"{path}[{index}]"))
    return found


def nul_paths(value: Any) -> list[str]:
    """Field paths of strings or keys holding U+0000."""
    return string_paths(value, lambda text: "\x00" in text)


def surrogate_paths(value: Any) -> list[str]:
    """Field paths of strings or keys holding a lone UTF-16 surrogate, shown printable."""
    paths = string_paths(value, lambda text: _SURROGATE.search(text) is not None)
    return [path.encode("utf-8", "backslashreplace").decode() for path in paths]


def too_deep(value: Any, limit: int, path: str = "", depth: int = 1) -> str | None:
    """The path of the first object or array nested more than `limit` levels deep, or None."""
    if isinstance(value, dict):
        items: Any = ((f"{path}.{key}" if path else str(key), item) for key, item in value.items())
    elif isinstance(value, list):
        items = ((f"{path}[{index}]", item) for index, item in enumerate(value))
    else:
        return None
    if depth > limit:
        return path or "body"
    for child, item in items:
        if (found := too_deep(item, limit, child, depth + 1)) is not None:
            return found
    return None


class _DuplicateKey(ValueError):
    pass


def _object_without_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # RFC 8259 leaves duplicate names undefined; parsers disagree on which one wins, so a body
    # that has them means different things to different readers: refused.
    document = dict(pairs)
    if len(document) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _DuplicateKey(key.encode("utf-8", "backslashreplace").decode()[:100])
            seen.add(key)
    return document


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


_DECODER = json.JSONDecoder(
    parse_constant=_reject_non_json_constant, object_pairs_hook=_object_without_duplicates
)
