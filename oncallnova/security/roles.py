"""The three roles, ordered: each may do everything the ones below it may."""

from __future__ import annotations

from enum import IntEnum


class Role(IntEnum):
    viewer = 1
    responder = 2
    admin = 3

    @classmethod
    def parse(cls, value: str | None) -> Role:
        """A stored or claimed role name; anything unknown is the least privileged."""
        try:
            return cls[value or "viewer"]
        except KeyError:
            return cls.viewer


ROLE_NAMES = tuple(r.name for r in Role)
