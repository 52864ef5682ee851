"""What the scheduler decides for a due task (domain.scheduling.decide), with no database:
on time, late within the grace window (one catch-up run standing in for the fires it
coalesces), and misses older than the window (skipped and counted, never run)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from backbeat.domain.cron import Schedule
from backbeat.domain.scheduling import LATE_AFTER, SKIP_COUNT_CAP, FireDecision, decide

HOURLY = Schedule.parse("0 * * * *")
EVERY_5 = Schedule.parse("*/5 * * * *")
MINUTELY = Schedule.parse("* * * * *")


def utc(hour: int, minute: int = 0, second: int = 0, microsecond: int = 0) -> datetime:
    return datetime(2026, 1, 5, hour, minute, second, microsecond, tzinfo=UTC)


def test_a_fire_dispatched_on_time_runs_once_and_moves_the_cursor() -> None:
    decision = decide(HOURLY, due=utc(12), now=utc(12), grace=timedelta(minutes=5))
    assert decision == FireDecision(
        fire_at=utc(12),
        late=False,
        coalesced=0,
        skipped=0,
        skipped_at_least=False,
        next_fire_at=utc(13),
    )


def test_ordinary_lag_is_neither_late_nor_a_miss_even_with_no_grace() -> None:
    # The window is never shorter than LATE_AFTER.
    lagging = utc(12) + LATE_AFTER
    decision = decide(HOURLY, due=utc(12), now=lagging, grace=timedelta(0))
    assert (decision.fire_at, decision.late, decision.skipped) == (utc(12), False, 0)

    beyond = lagging + timedelta(microseconds=1)
    missed = decide(HOURLY, due=utc(12), now=beyond, grace=timedelta(0))
    assert (missed.fire_at, missed.skipped, missed.next_fire_at) == (None, 1, utc(13))


def test_fires_missed_within_the_grace_window_are_caught_up_once() -> None:
    # Down from 10:58 to 12:02 with an hour of grace: the window opens at 11:02.
    decision = decide(EVERY_5, due=utc(11, 0), now=utc(12, 2), grace=timedelta(hours=1))
    assert decision == FireDecision(
        fire_at=utc(12, 0),  # the latest fire in the window
        late=True,
        coalesced=11,  # 11:05 … 11:55, folded into the 12:00 run
        skipped=1,  # 11:00, older than the window
        skipped_at_least=False,
        next_fire_at=utc(12, 5),
    )


def test_a_run_standing_in_for_several_fires_is_late_even_when_dispatched_at_once() -> None:
    decision = decide(EVERY_5, due=utc(11, 55), now=utc(12, 0, 30), grace=timedelta(minutes=10))
    assert (decision.fire_at, decision.coalesced, decision.late) == (utc(12), 1, True)


def test_a_single_fire_run_late_is_marked_late() -> None:
    decision = decide(HOURLY, due=utc(12), now=utc(12, 10), grace=timedelta(minutes=30))
    assert (decision.fire_at, decision.late, decision.coalesced) == (utc(12), True, 0)


def test_the_window_includes_its_first_instant() -> None:
    now = utc(11, 30)
    inside = decide(HOURLY, due=utc(11), now=now, grace=timedelta(minutes=30))
    assert (inside.fire_at, inside.skipped) == (utc(11), 0)

    narrower = timedelta(minutes=30) - timedelta(microseconds=1)
    outside = decide(HOURLY, due=utc(11), now=now, grace=narrower)
    assert (outside.fire_at, outside.skipped, outside.next_fire_at) == (None, 1, utc(12))


def test_misses_older_than_the_window_are_skipped_and_nothing_runs() -> None:
    decision = decide(HOURLY, due=utc(10), now=utc(12, 2, 30), grace=timedelta(minutes=1))
    assert decision == FireDecision(
        fire_at=None,
        late=False,
        coalesced=0,
        skipped=3,  # 10:00, 11:00 and 12:00
        skipped_at_least=False,
        next_fire_at=utc(13),
    )


def test_an_on_time_fire_after_long_downtime_is_not_late_but_counts_the_skipped() -> None:
    decision = decide(HOURLY, due=utc(8), now=utc(12, 0, 10), grace=timedelta(minutes=1))
    assert decision == FireDecision(utc(12), False, 0, 4, False, utc(13))
    assert decision.metadata(utc(12, 0, 10)) == {
        "fire_time": "2026-01-05T12:00:00Z",
        "late": False,
        "lag_seconds": 10.0,
        "coalesced_fires": 0,
        "skipped_fires": 4,
    }


def test_counting_skipped_fires_stops_at_the_cap() -> None:
    now = utc(12)
    decision = decide(MINUTELY, due=now - timedelta(days=30), now=now, grace=timedelta(0))
    assert decision.skipped == SKIP_COUNT_CAP
    assert decision.skipped_at_least is True
    assert decision.fire_at == now  # the window (a minute: LATE_AFTER) ends at now's fire
    assert decision.coalesced == 1  # …and opens at 11:59's, folded into it
    assert decision.next_fire_at == now + timedelta(minutes=1)


def test_the_metadata_of_a_catch_up_run() -> None:
    decision = decide(
        EVERY_5, due=utc(11, 50), now=utc(12, 1, 2, 500_000), grace=timedelta(hours=1)
    )
    assert decision.metadata(utc(12, 1, 2, 500_000)) == {
        "fire_time": "2026-01-05T12:00:00Z",
        "late": True,
        "lag_seconds": 62.5,
        "coalesced_fires": 2,  # 11:50 and 11:55
        "skipped_fires": 0,
    }


def test_a_task_not_yet_due_is_not_decided() -> None:
    with pytest.raises(ValueError, match="due tasks"):
        decide(HOURLY, due=utc(13), now=utc(12), grace=timedelta(minutes=5))
