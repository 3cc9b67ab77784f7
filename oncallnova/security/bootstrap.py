"""The first admin: username `admin`, made once when no user has that name."""

from __future__ import annotations

import logging
import secrets

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from oncallnova.db.models.oncall import User
from oncallnova.db.types import utcnow
from oncallnova.security.passwords import hash_password
from oncallnova.settings import Settings

log = logging.getLogger(__name__)

ADMIN_USERNAME = "admin"
ADMIN_EMAIL = "admin@oncallnova.invalid"


async def ensure_bootstrap_admin(
    sessions: async_sessionmaker[AsyncSession], settings: Settings
) -> str | None:
    """Create `admin` with ONCALLNOVA_ADMIN_PASSWORD, or on the embedded default with a
    generated password, which is returned (for `oncallnova up` to print once; never logged).
    Nothing happens when `admin` exists; services mode without the variable makes no admin."""
    async with sessions() as session:
        if await session.scalar(select(User.id).where(User.username == ADMIN_USERNAME)):
            return None
    given = settings.oncallnova_admin_password
    if given is not None:
        password, generated = given.get_secret_value(), None
    elif settings.embedded:
        password = generated = secrets.token_urlsafe(18)
    else:
        log.warning(
            "no admin account: set ONCALLNOVA_ADMIN_PASSWORD or run "
            "`oncallnova user create NAME --role admin`"
        )
        return None
    try:
        async with sessions.begin() as session:
            session.add(
                User(
                    name="Administrator",
                    email=ADMIN_EMAIL,
                    username=ADMIN_USERNAME,
                    role="admin",
                    password_hash=hash_password(password),
                    password_changed_at=utcnow(),
                    time_zone="UTC",
                    contact_methods=[],
                )
            )
    except IntegrityError:
        return None  # another process made it first
    log.info("bootstrap admin %r created", ADMIN_USERNAME)
    return generated
