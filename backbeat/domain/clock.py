"""Time is passed in, never read ad hoc: every decision takes `now` from a Clock."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime:
        """The current instant, timezone-aware, in UTC."""
        ...


class SystemClock:
    """The machine's clock, optionally started at another instant (demos, acceptance tests).

    With `start`, the clock reads `start` when created and then advances at real speed.
    """

    def __init__(self, start: datetime | None = None) -> None:
        self._offset = timedelta(0)
        if start is not None:
            self._offset = start.astimezone(UTC) - datetime.now(UTC)

    def now(self) -> datetime:
        return datetime.now(UTC) + self._offset

    def monotonic(self) -> float:
        return time.monotonic()


def utc(dt: datetime) -> datetime:
    """The same instant in UTC; naive datetimes are refused, they have no instant."""
    if dt.tzinfo is None:
        raise ValueError("naive datetime: an instant needs a time zone")
    return dt.astimezone(UTC)


def iso_utc(dt: datetime) -> str:
    """ISO 8601 in UTC with milliseconds and `Z`, as JavaScript's toISOString writes it."""
    text = utc(dt).isoformat(timespec="milliseconds")
    return text[:-6] + "Z"  # "+00:00" → "Z"
