"""Times as the dashboard shows them: each in a named time zone, and labelled with it
("Thu 2026-01-08 09:00 Europe/London"); and the zones the task form offers.

A task's fire times, and its runs, are shown in the task's own zone (the one its schedule is
read in); anything else in UTC. The page's script adds the viewer's own time beside a time
when it differs, labelled with the browser's zone. Pure functions; templates call them as
filters.
"""

from __future__ import annotations

from datetime import UTC, datetime, tzinfo
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from backbeat.domain.cron import is_valid_zone

DEFAULT_ZONE = "UTC"


@lru_cache(maxsize=1)
def zone_choices() -> tuple[str, ...]:
    """The zones the task form suggests: the IANA zones of zoneinfo that the API accepts
    (not `localtime`, `posixrules`, `Factory`, `posix/…`, `right/…`), UTC first. The server
    still checks whatever is typed."""
    names = {name for name in available_timezones() if is_valid_zone(name)}
    names.discard(DEFAULT_ZONE)
    return (DEFAULT_ZONE, *sorted(names))


@lru_cache(maxsize=512)
def _tz(name: str) -> tzinfo:
    if name == DEFAULT_ZONE:
        return UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return UTC


def shown_zone(name: str | None) -> str:
    """The zone a time is shown in: `name` when it is a zone a task may have, else UTC (a
    task saved with a host-dependent zone before those were refused is shown in UTC)."""
    if name and is_valid_zone(name) and _tz(name) is not UTC:
        return name
    return DEFAULT_ZONE


def in_zone(value: datetime, zone: str | None = None, seconds: bool = False) -> str:
    """The instant in the zone, with the zone's name: "Thu 2026-01-08 09:00 Europe/London"
    (with seconds when asked: run events, as opposed to fire times on the minute)."""
    name = shown_zone(zone)
    pattern = "%a %Y-%m-%d %H:%M:%S" if seconds else "%a %Y-%m-%d %H:%M"
    return f"{value.astimezone(_tz(name)).strftime(pattern)} {name}"


def instant(text: object) -> datetime | None:
    """An ISO 8601 instant (as a run's output stores them), or None if it is not one."""
    if not isinstance(text, str):
        return None
    try:
        found = datetime.fromisoformat(text)
    except ValueError:
        return None
    return found if found.tzinfo is not None else None
