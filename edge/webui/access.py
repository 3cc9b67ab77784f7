"""Who is looking at the console, and what the pages may offer them.

The account, token, role and teams are the security layer's `Principal`; this module only asks
it the questions a page asks, so the console offers exactly what the API would allow.
"""

from __future__ import annotations

from dataclasses import dataclass

from oncallnova.security.principal import Principal


@dataclass(frozen=True)
class Viewer:
    """The signed-in person: their principal, their name and this session's CSRF token."""

    principal: Principal
    name: str
    csrf: str = ""

    @property
    def user_id(self) -> str:
        return self.principal.user_id

    @property
    def role(self) -> str:
        return self.principal.role.name

    @property
    def is_admin(self) -> bool:
        return self.principal.is_admin

    @property
    def teams(self) -> frozenset[str] | None:
        """The teams whose services this person sees besides unowned ones; None = all."""
        return self.principal.visible_teams()


def can_see(viewer: Viewer, team_id: str | None) -> bool:
    """Admins see everything; others their teams' services and the ones of no team."""
    return viewer.principal.sees_team(team_id)


def can_act(viewer: Viewer, team_id: str | None) -> bool:
    """Responders (and admins) act on the incidents they see; viewers never act."""
    return viewer.principal.acts_for_team(team_id)


def can_manage_services(viewer: Viewer) -> bool:
    """Keys and policies are the admins' (reveal and rotate included)."""
    return viewer.is_admin
