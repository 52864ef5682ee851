"""What the scheduler does with a task whose next fire time has come. Pure: time is passed in.

A task's cursor (`next_fire_at`) is the earliest fire time not yet dispatched. When the
scheduler finds it due at `now`:

* Fires within the grace window (`now - grace <= fire <= now`) are caught up **once**: one run
  for the latest of them. The others are *coalesced* into it. The window is never shorter
  than LATE_AFTER, so ordinary dispatch lag never turns a fire into a miss.
* Fires older than the window are *skipped* and counted; nothing runs for them.
* A run more than LATE_AFTER behind its fire time, or standing in for several fires, is
  *late*: its trigger is `catch_up` and its metadata says so. (A fire dispatched on time
  after long downtime is not late, though its metadata counts the fires skipped before it.)
* The cursor moves to the first fire time after `now`, so nothing fires twice and a resumed
  task never replays what it missed while paused (resuming recomputes the cursor from now).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from backbeat.domain.cron import Schedule

LATE_AFTER = timedelta(minutes=1)
# Counting skipped fires walks the schedule; beyond this many we stop counting exactly.
SKIP_COUNT_CAP = 10_000
_EPSILON = timedelta(microseconds=1)


@dataclass(frozen=True, slots=True)
class FireDecision:
    fire_at: datetime | None  # the fire time to create a run for; None when all were skipped
    late: bool
    coalesced: int  # missed fires inside the window folded into this run
    skipped: int  # missed fires older than the window; not run
    skipped_at_least: bool  # True when `skipped` is a lower bound (SKIP_COUNT_CAP reached)
    next_fire_at: datetime | None  # the cursor's new position; None if it never fires again

    def metadata(self, now: datetime) -> dict[str, object]:
        """What the run records about how it came to be."""
        assert self.fire_at is not None
        return {
            "fire_time": self.fire_at.isoformat().replace("+00:00", "Z"),
            "late": self.late,
            "lag_seconds": round((now - self.fire_at).total_seconds(), 3),
            "coalesced_fires": self.coalesced,
            "skipped_fires": self.skipped,
        }


def decide(schedule: Schedule, due: datetime, now: datetime, grace: timedelta) -> FireDecision:
    """The decision for a task whose cursor `due` is at or before `now`."""
    if due > now:
        raise ValueError("decide() is for due tasks: due must not be after now")
    window_start = now - max(grace, LATE_AFTER)
    skipped, at_least = 0, False
    first_in_window: datetime | None = due
    if due < window_start:
        older, at_least = schedule.fires_through(due, window_start - _EPSILON, SKIP_COUNT_CAP)
        skipped = len(older)
        first_in_window = schedule.next_after(window_start - _EPSILON)
    in_window: list[datetime] = []
    if first_in_window is not None and first_in_window <= now:
        # Bounded by the grace window (at most 30 days of fires).
        in_window, _ = schedule.fires_through(first_in_window, now, cap=10 * SKIP_COUNT_CAP)
    next_fire_at = schedule.next_after(now)
    if not in_window:
        return FireDecision(None, False, 0, skipped, at_least, next_fire_at)
    fire_at = in_window[-1]
    coalesced = len(in_window) - 1
    late = coalesced > 0 or now - fire_at > LATE_AFTER
    return FireDecision(fire_at, late, coalesced, skipped, at_least, next_fire_at)
