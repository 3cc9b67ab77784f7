"""The base of request bodies: text that PostgreSQL can store, or a 422 naming the field."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, field_validator


def _holds_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, list):
        return any(isinstance(item, str) and "\x00" in item for item in value)
    return False


class Input(BaseModel):
    """A request body. Nested bodies check their own fields, so the error names the deepest one."""

    @field_validator("*", mode="before")
    @classmethod
    def _no_nul(cls, value: Any) -> Any:
        # PostgreSQL text cannot hold U+0000: refused here, naming the field, instead of a 500.
        if _holds_nul(value):
            raise ValueError("must not contain NUL characters (U+0000)")
        return value
