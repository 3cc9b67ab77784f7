"""REST for a user's notification rules (PagerDuty's assignment notification rules):
`/api/v1/users/{id}/notification_rules`. A user who never set any has the default ones:
every email contact method at once, both urgencies."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Body
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from oncallnova.context import AppContext
from oncallnova.db.models.paging import NotificationRule
from oncallnova.db.repositories import oncall as oncall_repo
from oncallnova.db.repositories import paging as repo
from oncallnova.db.types import new_id, utcnow
from oncallnova.errors import InvalidInput

WRAPPER = "notification_rule"
CONTACT_TYPES = {"email": "email", "email_contact_method": "email"}


class ContactMethodRef(BaseModel):
    model_config = ConfigDict(extra="ignore")
    type: Literal["email", "email_contact_method"] = "email_contact_method"
    address: str = Field(min_length=3, max_length=320)


class RuleIn(BaseModel):
    model_config = ConfigDict(extra="ignore")
    type: Literal["assignment_notification_rule"] = "assignment_notification_rule"
    contact_method: ContactMethodRef
    start_delay_in_minutes: int = Field(default=0, ge=0, le=1440)
    urgency: Literal["high", "low"] = "high"


def field_of(loc: Any) -> str:
    """`("contact_method", "address")` → `contact_method.address`."""
    return ".".join(str(part) for part in loc) or "body"


def shown(rule: NotificationRule) -> dict[str, Any]:
    return {
        "id": rule.id,
        "type": "assignment_notification_rule",
        "start_delay_in_minutes": rule.start_delay_in_minutes,
        "urgency": rule.urgency,
        "contact_method": {"type": "email_contact_method", "address": rule.contact_address},
        "created_at": rule.created_at,
    }


def parse_rule(body: Any) -> RuleIn:
    """PagerDuty's `{"notification_rule": {…}}`, or the rule alone; 422 naming the field."""
    wrapped = isinstance(body, dict) and WRAPPER in body
    prefix = f"{WRAPPER}." if wrapped else ""
    try:
        return RuleIn.model_validate(body[WRAPPER] if wrapped else body)
    except ValidationError as error:
        first = error.errors()[0]
        raise InvalidInput(
            f"{first.get('msg', 'invalid')}", field=prefix + field_of(first.get("loc", ()))
        ) from error


def router(ctx: AppContext) -> APIRouter:
    api = APIRouter(prefix="/api/v1/users/{user_id}/notification_rules", tags=["users"])

    async def checked(session: Any, user_id: str, rule: RuleIn) -> Any:
        user = await oncall_repo.get_user(session, user_id[:36])
        emails = [e.lower() for e in repo.user_emails(user)]
        if rule.contact_method.address.lower() not in emails:
            raise InvalidInput(
                "not one of the user's email contact methods "
                f"({', '.join(repo.user_emails(user))})",
                field=f"{WRAPPER}.contact_method.address",
            )
        return user

    @api.get("")
    async def list_rules(user_id: str) -> dict[str, Any]:
        """The user's rules, the defaults written on first read for a new user."""
        async with ctx.sessions.begin() as session:
            user = await oncall_repo.get_user(session, user_id[:36])
            rules = await repo.rules_of(session, user)
            return {"notification_rules": [shown(r) for r in rules]}

    @api.post("", status_code=201)
    async def create_rule(user_id: str, body: Any = Body(...)) -> dict[str, Any]:
        rule = parse_rule(body)
        async with ctx.sessions.begin() as session:
            user = await checked(session, user_id, rule)
            await repo.rules_of(session, user)  # a first custom rule joins the defaults
            row = NotificationRule(
                id=new_id(),
                user_id=user.id,
                contact_type=CONTACT_TYPES[rule.contact_method.type],
                contact_address=rule.contact_method.address,
                start_delay_in_minutes=rule.start_delay_in_minutes,
                urgency=rule.urgency,
                created_at=utcnow(),
            )
            session.add(row)
            await session.flush()
            return {WRAPPER: shown(row)}

    @api.get("/{rule_id}")
    async def get_rule(user_id: str, rule_id: str) -> dict[str, Any]:
        async with ctx.sessions() as session:
            await oncall_repo.get_user(session, user_id[:36])
            return {WRAPPER: shown(await repo.get_rule(session, user_id, rule_id))}

    @api.put("/{rule_id}")
    async def update_rule(user_id: str, rule_id: str, body: Any = Body(...)) -> dict[str, Any]:
        rule = parse_rule(body)
        async with ctx.sessions.begin() as session:
            await checked(session, user_id, rule)
            row = await repo.get_rule(session, user_id, rule_id)
            row.contact_type = CONTACT_TYPES[rule.contact_method.type]
            row.contact_address = rule.contact_method.address
            row.start_delay_in_minutes = rule.start_delay_in_minutes
            row.urgency = rule.urgency
            await session.flush()
            return {WRAPPER: shown(row)}

    @api.delete("/{rule_id}", status_code=204)
    async def delete_rule(user_id: str, rule_id: str) -> None:
        async with ctx.sessions.begin() as session:
            await oncall_repo.get_user(session, user_id[:36])
            await session.delete(await repo.get_rule(session, user_id, rule_id))

    return api
