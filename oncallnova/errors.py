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
