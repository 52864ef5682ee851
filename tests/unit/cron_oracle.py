"""A brute-force model of the DST rule (decisions.md, cron.py's docstring), without cronsim.

It understands the minute and hour fields only (`*`, `*/s`, `a`, `a-b`, `a-b/s` and comma
lists of those); the other three fields must be `*`. It walks minute by minute, so it is
slow but obviously right:

* An expression whose minute or hour field starts with `*` follows real time: it fires at
  every real minute whose wall-clock time matches. Wall times skipped at spring forward never
  match; wall times repeated at fall back match twice (two distinct instants).
* Any other expression names wall-clock times. Each matching wall time fires once: at its
  first occurrence if it occurs twice, and at the first instant after the gap if it does not
  occur at all (two wall times in the same gap therefore fire once, together).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

MINUTE = timedelta(minutes=1)
# Wider than any UTC offset change (Antarctica/Troll's two hours is the largest).
SLACK = timedelta(hours=3)


def parse_field(text: str, low: int, high: int) -> frozenset[int]:
    values: set[int] = set()
    for term in text.split(","):
        body, _, step_text = term.partition("/")
        step = int(step_text) if step_text else 1
        if body == "*":
            first, last = low, high
        elif "-" in body:
            first_text, last_text = body.split("-")
            first, last = int(first_text), int(last_text)
        else:
            first = int(body)
            last = high if step_text else first
        values.update(range(first, last + 1, step))
    return frozenset(values)


class Oracle:
    def __init__(self, expression: str, zone: str) -> None:
        minute, hour, *days = expression.split()
        assert days == ["*", "*", "*"], "the oracle only models the minute and hour fields"
        self.minutes = parse_field(minute, 0, 59)
        self.hours = parse_field(hour, 0, 23)
        self.follows_real_time = minute.startswith("*") or hour.startswith("*")
        self.zone = ZoneInfo(zone)

    def _matches(self, wall: datetime) -> bool:
        return wall.minute in self.minutes and wall.hour in self.hours

    def _instant_of(self, wall: datetime) -> datetime:
        """A naive wall time's first occurrence, or the first instant after its gap."""
        while True:
            first = wall.replace(tzinfo=self.zone, fold=0).astimezone(UTC)
            if first.astimezone(self.zone).replace(tzinfo=None) == wall:
                return first
            wall += MINUTE

    def _wall(self, instant: datetime) -> datetime:
        return instant.astimezone(self.zone).replace(tzinfo=None)

    def fires(self, start: datetime, end: datetime) -> list[datetime]:
        """Every fire time in (start, end], in order."""
        if self.follows_real_time:
            found = []
            instant = _floor_minute(start) + MINUTE
            while instant <= end:
                if self._matches(instant.astimezone(self.zone)):
                    found.append(instant)
                instant += MINUTE
            return found
        instants = set()
        wall = _floor_minute(self._wall(start)) - SLACK
        last_wall = self._wall(end) + SLACK
        while wall <= last_wall:
            if self._matches(wall):
                instant = self._instant_of(wall)
                if start < instant <= end:
                    instants.add(instant)
            wall += MINUTE
        return sorted(instants)

    def next_after(self, after: datetime, horizon: timedelta = timedelta(days=3)) -> datetime:
        """The first fire time after `after`, scanning no further than needed."""
        if self.follows_real_time:
            instant = _floor_minute(after) + MINUTE
            while not self._matches(instant.astimezone(self.zone)):
                instant += MINUTE
                assert instant - after < horizon
            return instant
        best: datetime | None = None
        wall = _floor_minute(self._wall(after)) - SLACK
        last_wall = wall + horizon
        while wall <= last_wall:
            if self._matches(wall):
                instant = self._instant_of(wall)
                if instant > after and (best is None or instant < best):
                    best = instant
                    # A later wall time can still be an earlier instant, but not by more
                    # than an offset change.
                    last_wall = self._wall(best) + SLACK
            wall += MINUTE
        assert best is not None
        return best


def _floor_minute(moment: datetime) -> datetime:
    return moment.replace(second=0, microsecond=0)
