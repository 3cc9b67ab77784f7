"""Who is asking, once authenticated: a user (directly or through an API token), their role
and teams; and what that lets them see and touch."""

from __future__ import annotations

from dataclasses import dataclass, field

from oncallnova.errors import Forbidden
from oncallnova.security.roles import Role


@dataclass(frozen=True)
class Principal:
    user_id: str
    role: Role
    team_ids: frozenset[str] = field(default_factory=frozenset)
    # The access token's id (logout revokes it); None for API tokens.
    jti: str | None = None
    token_expires: int | None = None
    api_token_id: str | None = None
    # True when the token came in the session cookie: writes then need the CSRF header.
    via_cookie: bool = False

    @property
    def actor(self) -> str:
        """As shown on timelines and in the audit log."""
        return f"user:{self.user_id}"

    @property
    def is_admin(self) -> bool:
        return self.role >= Role.admin

    def sees_team(self, team_id: str | None) -> bool:
        """Services without a team are everyone's; a team's belong to its members (and admins)."""
        return self.is_admin or team_id is None or team_id in self.team_ids

    def acts_for_team(self, team_id: str | None) -> bool:
        return self.role >= Role.responder and self.sees_team(team_id)

    def visible_teams(self) -> frozenset[str] | None:
        """The teams whose objects this principal sees besides unowned ones; None = all."""
        return None if self.is_admin else self.team_ids

    def may_set_team(self, team_id: str | None, field_name: str = "team_id") -> None:
        """Refuse (403 naming the field) giving an object to a team one does not belong to."""
        if self.is_admin:
            return
        if team_id is None or team_id not in self.team_ids:
            raise Forbidden(
                f"{field_name}: a {self.role.name} may only set one of their own teams",
                field=field_name,
            )

    def require_admin_for(self, field_name: str) -> None:
        if not self.is_admin:
            raise Forbidden(f"{field_name}: only an admin may set it", field=field_name)


# What code acting on the system's own behalf (the CLI, tests' setup) passes.
SYSTEM = Principal(user_id="system", role=Role.admin)
