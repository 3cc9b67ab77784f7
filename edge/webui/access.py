"""Who is looking at the console, and what the pages may offer them.

The account, the token and the role come from the security layer; this module only turns them
into the questions a page asks: may this person see, or act on, this service's incidents?
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Role = Literal["admin", "responder", "viewer"]


@dataclass(frozen=True)
class Viewer:
    """The person behind a request: role and the teams they belong to."""

    user_id: str | None
    name: str
    role: Role
    team_ids: frozenset[str] = field(default_factory=frozenset)

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


def can_see(viewer: Viewer, team_id: str | None) -> bool:
    """Admins see everything; others see their teams' services and the ones of no team."""
    return viewer.is_admin or team_id is None or team_id in viewer.team_ids


def can_act(viewer: Viewer, team_id: str | None) -> bool:
    """Admins act anywhere; responders on their own teams' incidents; viewers never."""
    if viewer.role == "admin":
        return True
    return viewer.role == "responder" and team_id is not None and team_id in viewer.team_ids


def can_manage_services(viewer: Viewer) -> bool:
    """Keys and policies are the admins' (reveal and rotate included)."""
    return viewer.is_admin
