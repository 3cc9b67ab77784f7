"""Domain errors that carry their HTTP status; one exception handler maps them to responses."""

from __future__ import annotations


class OnCallNovaError(Exception):
    """An error a client can cause; `field` names the offending input when there is one."""

    status_code = 400
    code = "bad_request"

    def __init__(self, message: str, *, field: str | None = None) -> None:
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


class PayloadTooLarge(OnCallNovaError):
    status_code = 413
    code = "body_too_large"
