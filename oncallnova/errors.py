"""Domain errors that carry their HTTP status; one exception handler maps them to responses."""

from __future__ import annotations

from oncallnova.display import ELLIPSIS

# An error message may quote what the client sent: bounded, so a 100 KB id echoed back cannot
# overflow a gRPC status (metadata is limited to a few KB) or bloat a response.
MAX_MESSAGE_CHARS = 1000


class OnCallNovaError(Exception):
    """An error a client can cause; `field` names the offending input when there is one."""

    status_code = 400
    code = "bad_request"

    def __init__(self, message: str, *, field: str | None = None) -> None:
        if len(message) > MAX_MESSAGE_CHARS:
            message = message[: MAX_MESSAGE_CHARS - 1] + ELLIPSIS
        super().__init__(message)
        self.message = message
        self.field = field

    @property
    def headers(self) -> dict[str, str] | None:
        """Response headers the error needs (WWW-Authenticate, Retry-After)."""
        return None

    def to_dict(self) -> dict[str, object]:
        body: dict[str, object] = {"code": self.code, "message": self.message}
        if self.field is not None:
            body["field"] = self.field
        return {"error": body}


class InvalidInput(OnCallNovaError):
    status_code = 422
    code = "invalid_input"


class NotFound(OnCallNovaError):
    status_code = 404
    code = "not_found"


class Conflict(OnCallNovaError):
    status_code = 409
    code = "conflict"


class Unauthorized(OnCallNovaError):
    status_code = 401
    code = "unauthorized"


class Unavailable(OnCallNovaError):
    """A dependency (the broker) is down: nothing was stored; retry after `retry_after_s`."""

    status_code = 503
    code = "unavailable"
    retry_after_s = 2


def error_headers(status_code: int) -> dict[str, str]:
    """Headers an error answer needs: when to retry a 503, and to stop reading a 413's body."""
    if status_code == 503:
        return {"Retry-After": str(Unavailable.retry_after_s)}
    if status_code == 413:
        # uvicorn then closes the connection instead of reading the rest of a huge body.
        return {"Connection": "close"}
    return {}


class NotAuthenticated(Unauthorized):
    """No valid bearer token (missing, malformed, badly signed, expired or revoked)."""

    @property
    def headers(self) -> dict[str, str] | None:
        return {"WWW-Authenticate": 'Bearer realm="oncallnova"'}


class Forbidden(OnCallNovaError):
    status_code = 403
    code = "forbidden"


class TooManyRequests(OnCallNovaError):
    status_code = 429
    code = "rate_limited"

    def __init__(self, message: str, *, retry_after: int, field: str | None = None) -> None:
        super().__init__(message, field=field)
        self.retry_after = max(1, retry_after)

    @property
    def headers(self) -> dict[str, str] | None:
        return {"Retry-After": str(self.retry_after)}


class BacklogFull(TooManyRequests):
    """A stream's backlog limit is reached: nothing was stored; the sender retries later
    (PagerDuty clients and Alertmanager retry on 429) while the workers catch up."""

    code = "backlog_full"
    retry_after_s = 2

    def __init__(self, message: str) -> None:
        super().__init__(message, retry_after=self.retry_after_s)


class PayloadTooLarge(OnCallNovaError):
    status_code = 413
    code = "body_too_large"
