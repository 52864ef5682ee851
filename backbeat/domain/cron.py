"""Cron schedules evaluated in an IANA time zone; fire times are UTC instants.

This module is the only place fire times are computed: the API's `upcoming` and the
scheduler both call it.

The daylight-saving rule is Debian cron's, as implemented by cronsim:

* A local time that does not exist (spring forward) fires once, at the first valid
  instant after the gap: `30 2 * * *` in America/New_York on 2026-03-08 fires at 03:00 EDT.
* A local time that occurs twice (fall back) fires once, at the first occurrence, when the
  expression names a specific minute and hour (`30 1 * * *`). An expression with a
  wildcard or step in its minute or hour field (`*/15 * * * *`, `0 * * * *`) fires in both
  copies of the repeated hour, because those are distinct real instants.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from functools import lru_cache
from importlib import resources
from zoneinfo import ZoneInfo, available_timezones

from cronsim import CronSim, CronSimError

MACROS: dict[str, str] = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}

# Longest accepted texts, checked before anything is parsed (and before any cache is
# consulted). A cron expression needs far less; the longest IANA zone name has 32 characters.
MAX_SCHEDULE_LENGTH = 256
MAX_TIMEZONE_LENGTH = 64

_FIELDS = ("minute", "hour", "day-of-month", "month", "day-of-week")
# A fixed instant to validate against, so validation does not depend on the clock.
_VALIDATION_ORIGIN = datetime(2000, 1, 1, tzinfo=UTC)


class ScheduleError(ValueError):
    """The cron expression or time zone is unusable; the message says why."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


# Names a host's zoneinfo directory may answer to that are not IANA zones, or whose meaning
# depends on the host: its own setting, a template file, a zone with no offset (-00), and
# the trees of POSIX-style and leap-second ("right/") copies.
_HOST_DEPENDENT = frozenset({"localtime", "posixrules", "Factory"})
_HOST_DEPENDENT_TREES = ("posix/", "right/")


@lru_cache(maxsize=1)
def _zone_names() -> frozenset[str]:
    """The IANA zone names (links such as US/Eastern included) of the tzdata package, a
    pinned dependency, so that every host accepts the same names; the host's own list only
    if that package is missing."""
    try:
        names = set(resources.files("tzdata").joinpath("zones").read_text("utf-8").split())
    except (ModuleNotFoundError, OSError):
        names = set(available_timezones())
    usable = {
        name
        for name in names
        if name not in _HOST_DEPENDENT and not name.startswith(_HOST_DEPENDENT_TREES)
    }
    return frozenset(usable | {"UTC"})


def is_valid_zone(name: str) -> bool:
    """Whether a task may be given this zone (the API, the dashboard and the CLI ask)."""
    return len(name) <= MAX_TIMEZONE_LENGTH and name in _zone_names()


@lru_cache(maxsize=1)
def _evaluable_zone_names() -> frozenset[str]:
    """The zones a saved task's schedule is evaluated in: the valid ones, and whatever else
    this host's zoneinfo answers to, so that a task saved before host-dependent names were
    refused (`localtime`) keeps its fire times and its listing instead of failing."""
    return _zone_names() | available_timezones()


@lru_cache(maxsize=1024)
def _zone(name: str) -> tzinfo:
    # cronsim skips its DST handling for datetime.UTC; use it for the common case.
    return UTC if name in ("UTC", "Etc/UTC") else ZoneInfo(name)


def normalize(expression: str) -> str:
    """The 5-field expression to evaluate, or ScheduleError saying what is wrong."""
    text = expression.strip()
    if not text:
        raise ScheduleError("schedule must be a cron expression, got an empty string")
    if text.startswith("@"):
        macro = MACROS.get(text.lower())
        if macro is None:
            known = ", ".join(sorted(MACROS))
            raise ScheduleError(f'schedule uses an unknown macro "{text}" (known: {known})')
        return macro
    parts = text.split()
    if len(parts) != 5:
        raise ScheduleError(
            "schedule must have 5 fields (minute hour day-of-month month day-of-week), "
            f'got {len(parts)} in "{text}"'
        )
    try:
        CronSim(" ".join(parts), _VALIDATION_ORIGIN)
    except CronSimError as exc:
        raise ScheduleError(_explain(str(exc), parts, text)) from None
    return " ".join(_without_one_value_steps(part) for part in parts)


def _without_one_value_steps(field: str) -> str:
    """The field with each stepped range of one value ("5-5/10") replaced by that value.

    cron reads "5-5/10" as {5}; cronsim reads it as "5/10", i.e. 5, 15, ..., 55.
    """
    terms = []
    for term in field.split(","):
        span, slash, _ = term.partition("/")
        first, dash, last = span.partition("-")
        if slash and dash and _same_value(first, last):
            term = first
        terms.append(term)
    return ",".join(terms)


def _same_value(first: str, last: str) -> bool:
    if first.isdigit() and last.isdigit():
        return int(first) == int(last)
    return first.upper() == last.upper()


def _explain(cronsim_message: str, parts: list[str], text: str) -> str:
    for index, field in enumerate(_FIELDS):
        if cronsim_message == f"Bad {field}":
            if field == "day-of-month" and _valid_alone(parts, index):
                return (
                    f'schedule "{text}" never fires: day-of-month {parts[index]} '
                    f"does not occur in month {parts[3]}"
                )
            return f'schedule has an invalid {field} field "{parts[index]}" in "{text}"'
    return f'schedule "{text}" is not a valid cron expression'


def _valid_alone(parts: list[str], index: int) -> bool:
    """Whether field `index` parses when the other fields are wildcards."""
    probe = ["*"] * 5
    probe[index] = parts[index]
    try:
        CronSim(" ".join(probe), _VALIDATION_ORIGIN)
    except CronSimError:
        return False
    return True


def _compute_next_fire(expression: str, zone: str, after: datetime) -> datetime | None:
    tz = _zone(zone)
    if tz is UTC or not _wildcard_mode(expression):
        return _cronsim_next(expression, tz, after, after)
    # cronsim walks the real timeline for an expression with a wildcard or step in its
    # minute or hour field. In a zone whose offset changes by less than an hour
    # (Australia/Lord_Howe: 30 minutes) its steps leave the wall clock's grid at the
    # change and it skips fire times for up to a day. So evaluate each stretch of constant
    # UTC offset in a fixed-offset zone, where cronsim is exact, and accept an answer only
    # if the offset did not change before it; otherwise resume at the change.
    since, start = after, after
    while True:
        fixed = timezone(_offset(tz, since))
        candidate = _cronsim_next(expression, fixed, start, after)
        if candidate is None:
            return None
        change = _first_offset_change(tz, since, candidate)
        if change is None:
            return candidate
        # One second before the change: cronsim's first tick lands on it.
        since, start = change, change - _SECOND


# Fire times of accepted schedules only: validation (_parse) calls _compute_next_fire.
_next_fire = lru_cache(maxsize=262_144)(_compute_next_fire)


def _cronsim_next(expression: str, tz: tzinfo, start: datetime, after: datetime) -> datetime | None:
    iterator = CronSim(expression, start.astimezone(tz))
    try:
        while True:
            candidate = next(iterator).astimezone(UTC)
            # In the repeated hour cronsim can answer the first copy of a time that, seen
            # from the second copy, has already passed; a fire time must lie after `after`.
            if candidate > after:
                return candidate
    except StopIteration:  # cronsim gives up after 50 years without a match
        return None


def _wildcard_mode(expression: str) -> bool:
    """cronsim's own test: a minute or hour field starting with "*" follows real time."""
    minute, hour = expression.split()[:2]
    return minute.startswith("*") or hour.startswith("*")


_SECOND = timedelta(seconds=1)
_WEEK = timedelta(weeks=1)


def _offset(tz: tzinfo, instant: datetime) -> timedelta:
    return instant.astimezone(tz).utcoffset() or timedelta(0)


def _first_offset_change(tz: tzinfo, since: datetime, until: datetime) -> datetime | None:
    """The first whole second in (since, until] whose UTC offset in `tz` differs from
    the offset at `since`, or None. Offsets change at most a few times a year, so walk a
    week at a time and bisect the week where it changed."""
    offset = _offset(tz, since)
    low = since.replace(microsecond=0)
    while low < until:
        high = min(low + _WEEK, until)
        if _offset(tz, high) != offset:
            while high - low > _SECOND:
                middle = low + _SECOND * ((high - low) // _SECOND // 2)
                if _offset(tz, middle) == offset:
                    low = middle
                else:
                    high = middle
            return high
        low = high
    return None


@dataclass(frozen=True, slots=True)
class Schedule:
    """A validated cron expression in a validated zone."""

    expression: str  # normalized 5-field form
    zone: str

    @classmethod
    def parse(cls, expression: str, zone: str = "UTC") -> Schedule:
        """The schedule, or ScheduleError saying what is wrong with the expression or zone.

        Over-long texts are refused before parsing, and only accepted ones are cached.
        """
        if len(expression) > MAX_SCHEDULE_LENGTH:
            raise ScheduleError(f"schedule must be at most {MAX_SCHEDULE_LENGTH:,} characters")
        if len(zone) > MAX_TIMEZONE_LENGTH or zone not in _evaluable_zone_names():
            raise ScheduleError("timezone must be a valid IANA time zone")
        return _parse(expression, zone)

    def next_after(self, after: datetime) -> datetime | None:
        """The first fire time strictly after `after` (UTC), or None if it never fires."""
        return _next_fire(self.expression, self.zone, after.astimezone(UTC))

    def upcoming(self, now: datetime, count: int = 5) -> list[datetime]:
        return _upcoming_cache.get(self, now.astimezone(UTC), count)

    def fires_through(
        self, first: datetime, now: datetime, cap: int
    ) -> tuple[list[datetime], bool]:
        """Fire times from `first` (itself a fire time) up to `now` inclusive.

        Stops after `cap` times and says so, so that a schedule that fired every minute
        during a month of downtime does not stall a tick.
        """
        fires: list[datetime] = []
        current: datetime | None = first
        while current is not None and current <= now:
            if len(fires) == cap:
                return fires, True
            fires.append(current)
            current = self.next_after(current)
        return fires, False


@lru_cache(maxsize=65_536)  # lru_cache keeps no exceptions: refused expressions stay out
def _parse(expression: str, zone: str) -> Schedule:
    normalized = normalize(expression)
    # Uncached: an expression that never fires must not stay in _next_fire's cache.
    if _compute_next_fire(normalized, "UTC", _VALIDATION_ORIGIN) is None:
        raise ScheduleError(f'schedule "{expression.strip()}" never fires')
    return Schedule(normalized, zone)


class _UpcomingCache:
    """Next fire times per schedule, reused until the first of them passes.

    Listing 1,000 tasks would otherwise cost 5,000 cron evaluations per request. A list
    computed at `start` is exactly the answer for any `now` in [start, first fire).
    """

    def __init__(self, max_entries: int = 50_000) -> None:
        self._entries: dict[tuple[Schedule, int], tuple[datetime, list[datetime]]] = {}
        self._max_entries = max_entries
        self._lock = threading.Lock()

    def get(self, schedule: Schedule, now: datetime, count: int) -> list[datetime]:
        key = (schedule, count)
        entry = self._entries.get(key)
        if entry is not None:
            start, fires = entry
            if start <= now and (not fires or now < fires[0]):
                return list(fires)
        fires = []
        cursor = now
        while len(fires) < count:
            nxt = schedule.next_after(cursor)
            if nxt is None:
                break
            fires.append(nxt)
            cursor = nxt
        with self._lock:
            if len(self._entries) >= self._max_entries:
                self._entries.clear()
            self._entries[key] = (now, fires)
        return list(fires)


_upcoming_cache = _UpcomingCache()
