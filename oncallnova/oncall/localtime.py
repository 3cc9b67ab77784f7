"""Local wall-clock time ↔ instants, with the RFC 5545 rules for DST gaps and folds.

RFC 5545 §3.3.5: a local time that does not exist (inside a spring-forward gap) is read with
the UTC offset in force *before* the gap, so 02:30 on the Paris spring-forward day means
03:30 CEST; a local time that occurs twice (fall-back fold) means its *first* occurrence.
Python's zoneinfo does exactly this with `fold=0`, as does Go's `time.Date` used by GoAlert,
and calendar clients reading our iCalendar feeds agree with it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from oncallnova.display import echo
from oncallnova.errors import InvalidInput


@lru_cache(maxsize=512)
def zone(name: str) -> ZoneInfo:
    """The IANA zone `name`, or InvalidInput if it is unknown."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise InvalidInput(f"unknown IANA time zone {echo(name)}", field="time_zone") from exc


def to_instant(local: datetime, tz: ZoneInfo) -> datetime:
    """The UTC instant a naive local wall-clock time stands for (RFC 5545 gap/fold rules)."""
    return local.replace(tzinfo=tz, fold=0).astimezone(UTC)


def to_local(instant: datetime, tz: ZoneInfo) -> datetime:
    """The naive local wall-clock reading of an aware instant."""
    return instant.astimezone(tz).replace(tzinfo=None)


def is_nonexistent(local: datetime, tz: ZoneInfo) -> bool:
    """True if `local` falls in a DST gap, so no instant shows that wall-clock time."""
    return to_local(to_instant(local, tz), tz) != local


def is_ambiguous(local: datetime, tz: ZoneInfo) -> bool:
    """True if `local` occurs twice (DST fold)."""
    first = local.replace(tzinfo=tz, fold=0).utcoffset()
    second = local.replace(tzinfo=tz, fold=1).utcoffset()
    return first != second and not is_nonexistent(local, tz)


# Instants the on-call maths accepts: queries look months around them (render HORIZON) and
# walk rotations from their start, so the ends of Python's datetime range (years 1 and 9999)
# would overflow. Far wider than any real schedule.
EARLIEST = datetime(1900, 1, 1, tzinfo=UTC)
LATEST = datetime(9000, 1, 1, tzinfo=UTC)


def require_aware(value: datetime, field: str) -> datetime:
    """`value` in UTC, or InvalidInput if it carries no offset or lies outside
    [EARLIEST, LATEST]."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise InvalidInput("a time zone offset is required (e.g. 2024-03-01T09:00Z)", field=field)
    try:
        instant = value.astimezone(UTC)
    except OverflowError:
        instant = None
    if instant is None or not EARLIEST <= instant <= LATEST:
        raise InvalidInput("must be between 1900-01-01 and 9000-01-01 (UTC)", field=field)
    return instant
