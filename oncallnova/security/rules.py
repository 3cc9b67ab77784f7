"""The rule table: for every REST route and gRPC method, who may call it.

Adding a route means adding one line here; a test walks the OpenAPI document and every gRPC
method and fails on any without a rule, and a route without one answers 403 (deny by default).

Object-level checks (a responder acts only on their teams' services and incidents; a viewer
outside a team does not see its services) happen where the object is loaded; `owner` covers
the routes about one user (`/users/{user_id}/…`): the user themself or an admin.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from oncallnova.security.roles import Role

Access = Literal["user", "public", "integration_key", "feed_token", "metrics", "console"]


@dataclass(frozen=True)
class Rule:
    # "user": a logged-in person or API token with at least `role`. The others are public by
    # design and authenticate by their own secret inside the route (or not at all).
    access: Access = "user"
    role: Role = Role.viewer
    # A path parameter naming a user: only that user or an admin passes.
    owner: str | None = None

    @property
    def public(self) -> bool:
        return self.access != "user"


PUBLIC = Rule("public")
INTEGRATION_KEY = Rule("integration_key")
FEED_TOKEN = Rule("feed_token")
METRICS = Rule("metrics")
# The web console's pages: they read the session cookie themselves (edge/webui/session.py,
# through the same Security service), send people without one to /login, and check the CSRF
# token of every form; what they show and allow is asked of the same Principal.
CONSOLE = Rule("console")
READ = Rule(role=Role.viewer)
RESPOND = Rule(role=Role.responder)
ADMIN = Rule(role=Role.admin)
SELF = Rule(role=Role.viewer, owner="user_id")

# "METHOD /path/template" → rule. Keep it sorted by area; one line per route.
REST_RULES: dict[str, Rule] = {
    "GET /healthz": PUBLIC,
    "GET /metrics": METRICS,
    # the web console (edge/webui)
    "GET /": CONSOLE,
    "GET /login": CONSOLE,
    "POST /login": CONSOLE,
    "POST /logout": CONSOLE,
    "GET /static/{name}": PUBLIC,
    "GET /ui/events": CONSOLE,
    "GET /ui/fragments/counts": CONSOLE,
    "GET /ui/fragments/incident-row/{ref}": CONSOLE,
    "GET /ui/fragments/incident/{ref}": CONSOLE,
    "GET /incidents": CONSOLE,
    "POST /incidents/bulk": CONSOLE,
    "GET /incidents/{ref}": CONSOLE,
    "POST /incidents/{ref}/{action}": CONSOLE,
    "GET /oncall": CONSOLE,
    "GET /schedules/{schedule_id}": CONSOLE,
    "POST /schedules/{schedule_id}/overrides": CONSOLE,
    "GET /services": CONSOLE,
    "GET /services/{service_id}": CONSOLE,
    "POST /services/{service_id}/rotate-key": CONSOLE,
    "GET /analytics": CONSOLE,
    "GET /mail": CONSOLE,
    "GET /mail/{mail_id}": CONSOLE,
    # accounts and tokens
    "POST /api/v1/auth/login": PUBLIC,
    "POST /api/v1/auth/logout": READ,
    "GET /api/v1/auth/me": READ,
    "POST /api/v1/auth/password": READ,
    "POST /api/v1/api_tokens": READ,  # a token never gets more than its creator's role
    "GET /api/v1/api_tokens": READ,  # one's own; an admin sees all
    "DELETE /api/v1/api_tokens/{token_id}": READ,  # one's own; an admin any
    "GET /api/v1/audit": ADMIN,
    # ingestion: the integration key is the credential
    "POST /v2/enqueue": INTEGRATION_KEY,
    "POST /v2/change/enqueue": INTEGRATION_KEY,
    "POST /api/v1/integrations/alertmanager/{integration_key}": INTEGRATION_KEY,
    "POST /api/v1/integrations/grafana/{integration_key}": INTEGRATION_KEY,
    "POST /api/v1/alerts": INTEGRATION_KEY,
    # incidents (team scope checked on the incident's service)
    "GET /api/v1/incidents": READ,
    "GET /api/v1/incidents/{ref}": READ,
    "GET /api/v1/incidents/{ref}/timeline": READ,
    "POST /api/v1/incidents/{ref}/acknowledge": RESPOND,
    "POST /api/v1/incidents/{ref}/resolve": RESPOND,
    "POST /api/v1/incidents/{ref}/escalate": RESPOND,
    "POST /api/v1/incidents/{ref}/reassign": RESPOND,
    "POST /api/v1/incidents/{ref}/notes": RESPOND,
    # services
    "GET /api/v1/services": READ,
    "POST /api/v1/services": ADMIN,
    "GET /api/v1/services/{service_id}": READ,
    "PATCH /api/v1/services/{service_id}": ADMIN,
    "POST /api/v1/services/{service_id}/integration_key/rotate": ADMIN,
    # users and teams
    "POST /api/v1/users": ADMIN,
    "GET /api/v1/users": READ,
    "GET /api/v1/users/{user_id}": READ,
    "PATCH /api/v1/users/{user_id}": SELF,  # `role` only by an admin
    "DELETE /api/v1/users/{user_id}": ADMIN,
    "POST /api/v1/users/{user_id}/password": ADMIN,
    "GET /api/v1/users/{user_id}/oncall.ics": FEED_TOKEN,
    "GET /api/v1/users/{user_id}/ical-feed": SELF,
    "POST /api/v1/users/{user_id}/ical-feed": SELF,
    "POST /api/v1/teams": ADMIN,
    "GET /api/v1/teams": READ,
    "GET /api/v1/teams/{team_id}": READ,
    "PATCH /api/v1/teams/{team_id}": ADMIN,
    "DELETE /api/v1/teams/{team_id}": ADMIN,
    # schedules (responders: their teams' schedules, checked on the schedule's team)
    "POST /api/v1/schedules": RESPOND,
    "GET /api/v1/schedules": READ,
    "GET /api/v1/schedules/{schedule_id}.ics": FEED_TOKEN,  # ?token=, or a bearer token
    "GET /api/v1/schedules/{schedule_id}/ical-feed": READ,
    "POST /api/v1/schedules/{schedule_id}/ical-feed": RESPOND,  # the schedule's team
    "GET /api/v1/schedules/{schedule_id}": READ,
    "PUT /api/v1/schedules/{schedule_id}": RESPOND,
    "DELETE /api/v1/schedules/{schedule_id}": ADMIN,
    "POST /api/v1/schedules/{schedule_id}/layers": RESPOND,
    "PUT /api/v1/schedules/{schedule_id}/layers/{layer_id}": RESPOND,
    "DELETE /api/v1/schedules/{schedule_id}/layers/{layer_id}": RESPOND,
    "GET /api/v1/schedules/{schedule_id}/overrides": READ,
    "POST /api/v1/schedules/{schedule_id}/overrides": RESPOND,
    "DELETE /api/v1/schedules/{schedule_id}/overrides/{override_id}": RESPOND,
    "GET /api/v1/schedules/{schedule_id}/render": READ,
    # escalation policies
    "POST /api/v1/escalation_policies": ADMIN,
    "GET /api/v1/escalation_policies": READ,
    "GET /api/v1/escalation_policies/{policy_id}": READ,
    "PUT /api/v1/escalation_policies/{policy_id}": ADMIN,
    "DELETE /api/v1/escalation_policies/{policy_id}": ADMIN,
    "GET /api/v1/escalation_policies/{policy_id}/levels/{level}/paged": READ,
    "GET /api/v1/escalation_policies/{policy_id}/step": READ,
    "GET /api/v1/oncall": READ,
    # analytics and the mesh's state
    "GET /api/v1/analytics/trends": READ,
    "GET /api/v1/analytics/mttr-distribution": READ,
    "GET /api/v1/analytics/oncall-load": READ,
    "GET /api/v1/status": ADMIN,
    # paging: notification rules are one's own; webhooks are an admin's
    "GET /api/v1/users/{user_id}/notification_rules": SELF,
    "POST /api/v1/users/{user_id}/notification_rules": SELF,
    "GET /api/v1/users/{user_id}/notification_rules/{rule_id}": SELF,
    "PUT /api/v1/users/{user_id}/notification_rules/{rule_id}": SELF,
    "DELETE /api/v1/users/{user_id}/notification_rules/{rule_id}": SELF,
    "GET /api/v1/incidents/{ref}/notifications": READ,
    # the signed link in an email is the credential (one incident, one action, 24 h, once)
    "GET /api/v1/actions/{incident_id}/{action}": PUBLIC,
    "POST /api/v1/actions/{incident_id}/{action}": PUBLIC,
    # the capture inbox holds every page, action links included: admins only
    "GET /api/v1/mail": ADMIN,
    "GET /api/v1/mail/{mail_id}": ADMIN,
    "DELETE /api/v1/mail": ADMIN,
    "POST /api/v1/webhook_subscriptions": ADMIN,
    "GET /api/v1/webhook_subscriptions": ADMIN,
    "GET /api/v1/webhook_subscriptions/{subscription_id}": ADMIN,
    "PUT /api/v1/webhook_subscriptions/{subscription_id}": ADMIN,
    "POST /api/v1/webhook_subscriptions/{subscription_id}/enable": ADMIN,
    "POST /api/v1/webhook_subscriptions/{subscription_id}/pause": ADMIN,
    "DELETE /api/v1/webhook_subscriptions/{subscription_id}": ADMIN,
    "GET /api/v1/webhook_subscriptions/{subscription_id}/deliveries": ADMIN,
}

# Full gRPC method name → rule.
GRPC_RULES: dict[str, Rule] = {
    "/oncallnova.v1.AlertIngestion/SendEvent": INTEGRATION_KEY,
    "/oncallnova.v1.AlertIngestion/SendRaw": INTEGRATION_KEY,
    "/oncallnova.v1.IncidentService/ListIncidents": READ,
    "/oncallnova.v1.IncidentService/GetIncident": READ,
    "/oncallnova.v1.IncidentService/GetTimeline": READ,
    "/oncallnova.v1.IncidentService/Acknowledge": RESPOND,
    "/oncallnova.v1.IncidentService/Resolve": RESPOND,
    "/oncallnova.v1.OnCallService/WhoIsOnCall": READ,
    "/oncallnova.v1.OnCallService/RenderSchedule": READ,
    "/oncallnova.v1.OnCallService/GetSchedule": READ,
    "/oncallnova.v1.OnCallService/ListSchedules": READ,
}


def rest_rule(method: str, path: str) -> Rule | None:
    """The rule of a route by its method and path template; None = no rule (denied)."""
    return REST_RULES.get(f"{method.upper()} {path}")


def grpc_rule(method: str) -> Rule | None:
    return GRPC_RULES.get(method)
