"""Daylight saving time: the rule in decisions.md, zone by zone, with exact UTC instants.

The rule (backbeat/domain/cron.py's docstring):
* a wall time that does not exist (spring forward) fires once, at the first instant after
  the gap;
* at fall back an expression naming a specific minute and hour fires once, at the first
  occurrence; one with a wildcard or step in its minute or hour field fires in both copies
  of the repeated hour (they are distinct real instants).
What decides "wildcard or step" is cronsim's test: does the minute or the hour field *start*
with "*" (see TestWorthDocumenting).

2026 transitions, checked against zoneinfo in test_transitions_are_where_we_think:
  America/New_York     Mar 8  07:00Z  02:00 EST -> 03:00 EDT (gap 02:00-02:59)
                       Nov 1  06:00Z  02:00 EDT -> 01:00 EST (01:00-01:59 twice)
  Europe/London        Mar 29 01:00Z  01:00 GMT -> 02:00 BST (gap 01:00-01:59)
                       Oct 25 01:00Z  02:00 BST -> 01:00 GMT (01:00-01:59 twice)
  Australia/Lord_Howe  Apr 5  (Apr 4 15:00Z)  02:00 +11 -> 01:30 +1030 (01:30-01:59 twice)
                       Oct 4  (Oct 3 15:30Z)  02:00 +1030 -> 02:30 +11 (gap 02:00-02:29)
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from backbeat.domain.cron import Schedule
from tests.unit.cron_oracle import Oracle

NEW_YORK = "America/New_York"
LONDON = "Europe/London"
LORD_HOWE = "Australia/Lord_Howe"


def utc(month: int, day: int, hour: int, minute: int = 0, year: int = 2026) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def fires_between(expression: str, zone: str, start: datetime, end: datetime) -> list[datetime]:
    """Every fire time in [start, end], the way the scheduler lists them (fires_through)."""
    schedule = Schedule.parse(expression, zone)
    first = schedule.next_after(start - timedelta(microseconds=1))
    assert first is not None
    fires, capped = schedule.fires_through(first, end, cap=10_000)
    assert not capped
    return fires


def chain(expression: str, zone: str, after: datetime, count: int) -> list[datetime]:
    schedule = Schedule.parse(expression, zone)
    fires: list[datetime] = []
    for _ in range(count):
        nxt = schedule.next_after(after)
        assert nxt is not None
        fires.append(nxt)
        after = nxt
    return fires


def walls(fires: list[datetime], zone: str) -> list[str]:
    """Fire times as wall clocks in `zone`, e.g. "01:30 EDT"; makes failures readable."""
    return [fire.astimezone(ZoneInfo(zone)).strftime("%H:%M %Z") for fire in fires]


def every(step_minutes: int, start: datetime, end: datetime) -> list[datetime]:
    count = (end - start) // timedelta(minutes=step_minutes)
    return [start + timedelta(minutes=step_minutes * i) for i in range(count + 1)]


@pytest.mark.parametrize(
    ("zone", "last_before", "first_after"),
    [
        (NEW_YORK, "2026-03-08 01:59 EST", "2026-03-08 03:00 EDT"),
        (NEW_YORK, "2026-11-01 01:59 EDT", "2026-11-01 01:00 EST"),
        (LONDON, "2026-03-29 00:59 GMT", "2026-03-29 02:00 BST"),
        (LONDON, "2026-10-25 01:59 BST", "2026-10-25 01:00 GMT"),
        (LORD_HOWE, "2026-04-05 01:59 +11", "2026-04-05 01:30 +1030"),
        (LORD_HOWE, "2026-10-04 01:59 +1030", "2026-10-04 02:30 +11"),
    ],
)
def test_transitions_are_where_we_think(zone: str, last_before: str, first_after: str) -> None:
    # If tzdata moves a transition these tests' hand-computed instants are wrong, not the code.
    transitions = {
        (NEW_YORK, "2026-03-08"): utc(3, 8, 7),
        (NEW_YORK, "2026-11-01"): utc(11, 1, 6),
        (LONDON, "2026-03-29"): utc(3, 29, 1),
        (LONDON, "2026-10-25"): utc(10, 25, 1),
        (LORD_HOWE, "2026-04-05"): utc(4, 4, 15),
        (LORD_HOWE, "2026-10-04"): utc(10, 3, 15, 30),
    }
    at = transitions[(zone, last_before[:10])]
    shown = "%Y-%m-%d %H:%M %Z"
    tz = ZoneInfo(zone)
    assert (at - timedelta(minutes=1)).astimezone(tz).strftime(shown) == last_before
    assert at.astimezone(tz).strftime(shown) == first_after


class TestNewYork:
    def test_specific_time_in_the_gap_fires_once_when_the_gap_ends(self) -> None:
        # 02:30 does not exist on Mar 8: it fires at 03:00 EDT = 07:00Z. The day before and
        # after are ordinary: 02:30 EST = 07:30Z, 02:30 EDT = 06:30Z.
        fires = chain("30 2 * * *", NEW_YORK, utc(3, 6, 12), 3)
        assert fires == [utc(3, 7, 7, 30), utc(3, 8, 7), utc(3, 9, 6, 30)]
        assert walls(fires, NEW_YORK) == ["02:30 EST", "03:00 EDT", "02:30 EDT"]

    def test_specific_time_in_the_overlap_fires_once_at_the_first(self) -> None:
        # 01:30 happens at 05:30Z (EDT) and again at 06:30Z (EST): only the first fires.
        fires = chain("30 1 * * *", NEW_YORK, utc(10, 31, 12), 2)
        assert fires == [utc(11, 1, 5, 30), utc(11, 2, 6, 30)]
        assert walls(fires, NEW_YORK) == ["01:30 EDT", "01:30 EST"]

    def test_specific_time_over_days_around_the_overlap(self) -> None:
        # What the scheduler sees after downtime across the change: one fire a day.
        fires = fires_between("30 1 * * *", NEW_YORK, utc(10, 31, 0), utc(11, 2, 12))
        assert fires == [utc(10, 31, 5, 30), utc(11, 1, 5, 30), utc(11, 2, 6, 30)]

    @pytest.mark.parametrize(
        "after",
        [
            utc(11, 1, 5, 30),  # the first 01:30 itself
            utc(11, 1, 6, 10),  # 01:10 EST, in the second copy: cronsim answers 01:30 EDT
            utc(11, 1, 6, 30),  # the second 01:30, which does not fire
            datetime(2026, 11, 1, 6, 29, 59, 999_999, tzinfo=UTC),
        ],
    )
    def test_after_in_the_repeated_hour_the_answer_is_still_later(self, after: datetime) -> None:
        # Without the guard in _next_fire, cronsim would answer 05:30Z (< after) for 06:10Z.
        assert Schedule.parse("30 1 * * *", NEW_YORK).next_after(after) == utc(11, 2, 6, 30)

    def test_wildcard_across_the_overlap_fires_in_both_copies(self) -> None:
        fires = fires_between("*/30 * * * *", NEW_YORK, utc(11, 1, 4), utc(11, 1, 7, 30))
        # Every half hour of real time, 8 fire times; wall clocks 01:00 and 01:30 twice.
        assert fires == every(30, utc(11, 1, 4), utc(11, 1, 7, 30))
        assert walls(fires, NEW_YORK) == [
            "00:00 EDT",
            "00:30 EDT",
            "01:00 EDT",
            "01:30 EDT",
            "01:00 EST",
            "01:30 EST",
            "02:00 EST",
            "02:30 EST",
        ]

    def test_hourly_across_the_overlap_fires_at_both_one_oclocks(self) -> None:
        fires = fires_between("0 * * * *", NEW_YORK, utc(11, 1, 4), utc(11, 1, 8))
        assert fires == every(60, utc(11, 1, 4), utc(11, 1, 8))
        assert walls(fires, NEW_YORK) == [
            "00:00 EDT",
            "01:00 EDT",
            "01:00 EST",
            "02:00 EST",
            "03:00 EST",
        ]

    def test_wildcard_across_the_gap_skips_it(self) -> None:
        fires = fires_between("*/30 * * * *", NEW_YORK, utc(3, 8, 6), utc(3, 8, 8))
        # Real time runs on without a hole; only the wall clock jumps from 01:59 to 03:00.
        assert fires == every(30, utc(3, 8, 6), utc(3, 8, 8))
        assert walls(fires, NEW_YORK) == [
            "01:00 EST",
            "01:30 EST",
            "03:00 EDT",
            "03:30 EDT",
            "04:00 EDT",
        ]

    def test_hourly_across_the_gap(self) -> None:
        fires = fires_between("0 * * * *", NEW_YORK, utc(3, 8, 5), utc(3, 8, 8))
        assert fires == [utc(3, 8, 5), utc(3, 8, 6), utc(3, 8, 7), utc(3, 8, 8)]
        assert walls(fires, NEW_YORK) == ["00:00 EST", "01:00 EST", "03:00 EDT", "04:00 EDT"]


class TestLondon:
    def test_specific_time_in_the_gap_fires_once_when_the_gap_ends(self) -> None:
        # 01:30 does not exist on Mar 29 (01:00 GMT -> 02:00 BST at 01:00Z).
        fires = chain("30 1 * * *", LONDON, utc(3, 27, 12), 3)
        assert fires == [utc(3, 28, 1, 30), utc(3, 29, 1), utc(3, 30, 0, 30)]
        assert walls(fires, LONDON) == ["01:30 GMT", "02:00 BST", "01:30 BST"]

    def test_specific_time_in_the_overlap_fires_once_at_the_first(self) -> None:
        # 01:30 BST = 00:30Z; 01:30 GMT an hour later does not fire; Oct 26 01:30 GMT = 01:30Z.
        fires = chain("30 1 * * *", LONDON, utc(10, 24, 12), 2)
        assert fires == [utc(10, 25, 0, 30), utc(10, 26, 1, 30)]
        assert walls(fires, LONDON) == ["01:30 BST", "01:30 GMT"]

    @pytest.mark.parametrize("after", [utc(10, 25, 0, 30), utc(10, 25, 1, 10), utc(10, 25, 1, 30)])
    def test_after_in_the_repeated_hour_the_answer_is_still_later(self, after: datetime) -> None:
        assert Schedule.parse("30 1 * * *", LONDON).next_after(after) == utc(10, 26, 1, 30)

    def test_wildcard_across_the_overlap_fires_in_both_copies(self) -> None:
        fires = fires_between("*/30 * * * *", LONDON, utc(10, 24, 23, 30), utc(10, 25, 2))
        assert fires == every(30, utc(10, 24, 23, 30), utc(10, 25, 2))
        assert walls(fires, LONDON) == [
            "00:30 BST",
            "01:00 BST",
            "01:30 BST",
            "01:00 GMT",
            "01:30 GMT",
            "02:00 GMT",
        ]

    def test_wildcard_across_the_gap_skips_it(self) -> None:
        fires = fires_between("*/30 * * * *", LONDON, utc(3, 29, 0), utc(3, 29, 2))
        assert fires == every(30, utc(3, 29, 0), utc(3, 29, 2))
        assert walls(fires, LONDON) == [
            "00:00 GMT",
            "00:30 GMT",
            "02:00 BST",
            "02:30 BST",
            "03:00 BST",
        ]

    def test_the_berlin_case_from_decisions(self) -> None:
        # decisions.md: croniter fired "30 2 * * *" twice on Europe/Berlin's 2026 fall back
        # (03:00 CEST -> 02:00 CET at 01:00Z). We fire once: 02:30 CEST = 00:30Z.
        fires = fires_between("30 2 * * *", "Europe/Berlin", utc(10, 24, 12), utc(10, 26, 12))
        assert fires == [utc(10, 25, 0, 30), utc(10, 26, 1, 30)]


class TestLordHowe:
    """A 30-minute shift: only half an hour repeats or is skipped."""

    def test_specific_time_in_the_gap_fires_once_when_the_gap_ends(self) -> None:
        # 02:15 does not exist on Oct 4: it fires at 02:30 +11 = Oct 3 15:30Z.
        # Oct 3 02:15 +1030 = Oct 2 15:45Z; Oct 5 02:15 +11 = Oct 4 15:15Z.
        fires = chain("15 2 * * *", LORD_HOWE, utc(10, 2, 0), 3)
        assert fires == [utc(10, 2, 15, 45), utc(10, 3, 15, 30), utc(10, 4, 15, 15)]
        assert walls(fires, LORD_HOWE) == ["02:15 +1030", "02:30 +11", "02:15 +11"]

    def test_two_times_in_the_gap_fire_once_together(self) -> None:
        fires = fires_between("0,15 2 * * *", LORD_HOWE, utc(10, 3, 0), utc(10, 3, 23))
        assert fires == [utc(10, 3, 15, 30)]

    def test_specific_time_in_the_overlap_fires_once_at_the_first(self) -> None:
        # 01:45 +11 = Apr 4 14:45Z; 01:45 +1030 half an hour later does not fire; Apr 6
        # 01:45 +1030 = Apr 5 15:15Z.
        fires = chain("45 1 * * *", LORD_HOWE, utc(4, 4, 0), 2)
        assert fires == [utc(4, 4, 14, 45), utc(4, 5, 15, 15)]
        assert walls(fires, LORD_HOWE) == ["01:45 +11", "01:45 +1030"]

    def test_specific_time_just_before_the_overlap_fires_once(self) -> None:
        # 01:15 occurs once (the clock goes back to 01:30, not 01:00): 01:15 +11 = 14:15Z.
        fires = fires_between("15 1 * * *", LORD_HOWE, utc(4, 4, 0), utc(4, 4, 23))
        assert fires == [utc(4, 4, 14, 15)]

    @pytest.mark.parametrize("after", [utc(4, 4, 14, 45), utc(4, 4, 15, 5), utc(4, 4, 15, 15)])
    def test_after_in_the_repeated_half_hour_the_answer_is_still_later(
        self, after: datetime
    ) -> None:
        assert Schedule.parse("45 1 * * *", LORD_HOWE).next_after(after) == utc(4, 5, 15, 15)

    def test_wildcard_across_the_overlap_fires_in_both_copies(self) -> None:
        fires = fires_between("*/15 * * * *", LORD_HOWE, utc(4, 4, 14), utc(4, 4, 16))
        assert fires == every(15, utc(4, 4, 14), utc(4, 4, 16))
        assert walls(fires, LORD_HOWE) == [
            "01:00 +11",
            "01:15 +11",
            "01:30 +11",
            "01:45 +11",
            "01:30 +1030",
            "01:45 +1030",
            "02:00 +1030",
            "02:15 +1030",
            "02:30 +1030",
        ]

    def test_wildcard_across_the_gap_skips_it(self) -> None:
        fires = fires_between("*/15 * * * *", LORD_HOWE, utc(10, 3, 14, 30), utc(10, 3, 16))
        assert fires == every(15, utc(10, 3, 14, 30), utc(10, 3, 16))
        assert walls(fires, LORD_HOWE) == [
            "01:00 +1030",
            "01:15 +1030",
            "01:30 +1030",
            "01:45 +1030",
            "02:30 +11",
            "02:45 +11",
            "03:00 +11",
        ]

    # cronsim alone gets the next four wrong: it steps minutes and hours by their length in
    # UTC, which across a 30-minute change leaves the wall clock's grid (cron.py works around
    # it by evaluating each stretch of constant offset separately).

    def test_minute_thirty_of_every_hour_fires_in_both_copies(self) -> None:
        # cronsim alone skipped 15:00Z (the second 01:30).
        fires = fires_between("30 * * * *", LORD_HOWE, utc(4, 4, 13), utc(4, 4, 17))
        assert fires == [
            utc(4, 4, 13, 30),
            utc(4, 4, 14, 30),
            utc(4, 4, 15),
            utc(4, 4, 16),
            utc(4, 4, 17),
        ]
        assert walls(fires, LORD_HOWE) == [
            "00:30 +11",
            "01:30 +11",
            "01:30 +1030",
            "02:30 +1030",
            "03:30 +1030",
        ]

    def test_hourly_across_the_overlap(self) -> None:
        # 01:00 is not repeated (the clock goes back to 01:30), so hourly fire times are
        # 90 minutes apart across the change: 01:00 +11 = 14:00Z, 02:00 +1030 = 15:30Z.
        fires = fires_between("0 * * * *", LORD_HOWE, utc(4, 4, 13), utc(4, 4, 16, 30))
        assert fires == [utc(4, 4, 13), utc(4, 4, 14), utc(4, 4, 15, 30), utc(4, 4, 16, 30)]
        assert walls(fires, LORD_HOWE) == ["00:00 +11", "01:00 +11", "02:00 +1030", "03:00 +1030"]

    def test_every_two_hours_across_the_overlap(self) -> None:
        # cronsim alone skipped 02:00 +1030 = 15:30Z.
        fires = fires_between("0 */2 * * *", LORD_HOWE, utc(4, 4, 13), utc(4, 4, 17, 30))
        assert fires == [utc(4, 4, 13), utc(4, 4, 15, 30), utc(4, 4, 17, 30)]

    def test_hourly_across_the_gap(self) -> None:
        # 02:00 does not exist and "0 * * * *" follows real time: 01:00 +1030, then 03:00 +11.
        fires = fires_between("0 * * * *", LORD_HOWE, utc(10, 3, 14), utc(10, 3, 16))
        assert fires == [utc(10, 3, 14, 30), utc(10, 3, 16)]

    @pytest.mark.parametrize(
        ("after", "expected"),
        [
            # After Apr 5 00:40 +11: Apr 6 00:00, 00:20, 00:40 +1030 = Apr 5 13:30Z, 13:50Z,
            # 14:10Z. cronsim alone crossed the change in 1-hour steps, reached 00:30 and
            # skipped 00:00 and 00:20 on an ordinary day.
            (utc(4, 4, 13, 40), [utc(4, 5, 13, 30), utc(4, 5, 13, 50), utc(4, 5, 14, 10)]),
            # After Oct 4 00:40 +1030: Oct 5 00:00, 00:20, 00:40 +11 = Oct 4 13:00Z, ...
            (utc(10, 3, 14, 10), [utc(10, 4, 13), utc(10, 4, 13, 20), utc(10, 4, 13, 40)]),
        ],
    )
    def test_the_day_after_the_change_is_complete(
        self, after: datetime, expected: list[datetime]
    ) -> None:
        assert chain("*/20 0 * * *", LORD_HOWE, after, 3) == expected


class TestWorthDocumenting:
    """Consequences of the rule (Debian cron's, via cronsim) that surprise people.

    What counts as "wildcard or step" is whether the minute or hour field starts with "*".
    """

    def test_every_two_hours_skips_the_gap_instead_of_firing_after_it(self) -> None:
        # "0 */2" follows real time: 02:00 does not exist on Mar 8 and nothing replaces it,
        # 00:00 EST then 04:00 EDT, three real hours apart.
        fires = fires_between("0 */2 * * *", NEW_YORK, utc(3, 8, 5), utc(3, 8, 8))
        assert walls(fires, NEW_YORK) == ["00:00 EST", "04:00 EDT"]
        assert fires == [utc(3, 8, 5), utc(3, 8, 8)]
        # The same hours written as a range name wall times: 02:00 fires at 03:00 EDT.
        fires = fires_between("0 0-23/2 * * *", NEW_YORK, utc(3, 8, 5), utc(3, 8, 8))
        assert walls(fires, NEW_YORK) == ["00:00 EST", "03:00 EDT", "04:00 EDT"]
        assert fires == [utc(3, 8, 5), utc(3, 8, 7), utc(3, 8, 8)]

    def test_every_two_hours_in_new_york_has_no_repeat_at_fall_back(self) -> None:
        # Only 01:00-01:59 repeats and */2 has no 1: 00:00 EDT, 02:00 EST.
        fires = fires_between("0 */2 * * *", NEW_YORK, utc(11, 1, 4), utc(11, 1, 8))
        assert fires == [utc(11, 1, 4), utc(11, 1, 7)]

    def test_every_two_hours_repeats_midnight_in_havana(self) -> None:
        # Cuba goes back from 01:00 CDT to 00:00 CST (05:00Z): midnight happens twice.
        fires = fires_between("0 */2 * * *", "America/Havana", utc(11, 1, 3), utc(11, 1, 7))
        assert walls(fires, "America/Havana") == ["00:00 CDT", "00:00 CST", "02:00 CST"]
        assert fires == [utc(11, 1, 4), utc(11, 1, 5), utc(11, 1, 7)]

    def test_a_range_of_hours_fires_each_hour_once(self) -> None:
        # "30 1-3" names wall times: 01:30 once (EDT), then 02:30 and 03:30 EST.
        fires = fires_between("30 1-3 * * *", NEW_YORK, utc(11, 1, 4), utc(11, 1, 9))
        assert fires == [utc(11, 1, 5, 30), utc(11, 1, 7, 30), utc(11, 1, 8, 30)]
        # At spring forward 02:30 becomes 03:00 EDT, half an hour before 03:30 EDT.
        fires = fires_between("30 1-3 * * *", NEW_YORK, utc(3, 8, 5), utc(3, 8, 9))
        assert walls(fires, NEW_YORK) == ["01:30 EST", "03:00 EDT", "03:30 EDT"]
        assert fires == [utc(3, 8, 6, 30), utc(3, 8, 7), utc(3, 8, 7, 30)]

    def test_wall_times_in_the_same_gap_merge(self) -> None:
        # 02:00 and 03:00 both land on 03:00 EDT: one fire.
        fires = fires_between("0 2,3 * * *", NEW_YORK, utc(3, 8, 0), utc(3, 8, 23))
        assert fires == [utc(3, 8, 7)]

    def test_a_star_minute_in_a_fixed_hour_fires_in_both_copies(self) -> None:
        # "*/15 1" fires eight times on Nov 1: 01:00-01:45 EDT and again EST.
        fires = fires_between("*/15 1 * * *", NEW_YORK, utc(11, 1, 0), utc(11, 1, 23))
        assert fires == every(15, utc(11, 1, 5), utc(11, 1, 6, 45))

    def test_the_same_times_spelled_without_a_star_fire_once(self) -> None:
        # "0-59/15 0-23" means the same minutes as "*/15 *", but neither field starts with
        # "*", so it names wall times: the repeated hour fires once and real time has a
        # 75-minute hole (05:45Z to 07:00Z).
        spelled_out = fires_between("0-59/15 0-23 * * *", NEW_YORK, utc(11, 1, 5), utc(11, 1, 7))
        assert spelled_out == [*every(15, utc(11, 1, 5), utc(11, 1, 5, 45)), utc(11, 1, 7)]
        starred = fires_between("*/15 * * * *", NEW_YORK, utc(11, 1, 5), utc(11, 1, 7))
        assert starred == every(15, utc(11, 1, 5), utc(11, 1, 7))
        # A list in the minute field with "*" hours still follows real time.
        listed = fires_between("0,15,30,45 * * * *", NEW_YORK, utc(11, 1, 5), utc(11, 1, 7))
        assert listed == starred
        # And "0 0-23" (every hour, spelled out) fires 01:00 once where "0 *" fires twice.
        assert fires_between("0 0-23 * * *", NEW_YORK, utc(11, 1, 4), utc(11, 1, 8)) == [
            utc(11, 1, 4),
            utc(11, 1, 5),
            utc(11, 1, 7),
            utc(11, 1, 8),
        ]


# --- against a brute-force model ---------------------------------------------------------

TRANSITIONS_2026 = [
    (NEW_YORK, utc(3, 8, 7)),
    (NEW_YORK, utc(11, 1, 6)),
    (LONDON, utc(3, 29, 1)),
    (LONDON, utc(10, 25, 1)),
    (LORD_HOWE, utc(4, 4, 15)),
    (LORD_HOWE, utc(10, 3, 15, 30)),
    ("America/St_Johns", utc(3, 8, 5, 30)),  # -03:30 / -02:30
    ("America/St_Johns", utc(11, 1, 4, 30)),
    ("America/Havana", utc(3, 8, 5)),  # the change is at midnight
    ("America/Havana", utc(11, 1, 5)),
    ("America/Santiago", utc(4, 5, 3)),  # southern hemisphere, at midnight
    ("America/Santiago", utc(9, 6, 4)),
]

MODELLED_EXPRESSIONS = [
    "*/15 * * * *",
    "*/7 * * * *",
    "0 * * * *",
    "30 * * * *",
    "5-55/10 * * * *",
    "0 */2 * * *",
    "30 */3 * * *",
    "*/20 0 * * *",
    "*/10 1 * * *",
    "0 0-23/2 * * *",
    "0-59/15 0-23 * * *",
    "0 0 * * *",
    "30 0 * * *",
    "30 1 * * *",
    "0 2 * * *",
    "15 2 * * *",
    "0,30 2 * * *",
    "30 1-3 * * *",
    "45 1,2 * * *",
    "0 23 * * *",
]


@pytest.mark.parametrize(("zone", "change"), TRANSITIONS_2026)
def test_every_fire_time_around_a_change_matches_the_model(zone: str, change: datetime) -> None:
    # From 6 hours before the change to 30 hours after (the whole next local day).
    start, end = change - timedelta(hours=6), change + timedelta(hours=30)
    wrong = {}
    for expression in MODELLED_EXPRESSIONS:
        expected = Oracle(expression, zone).fires(start, end)
        actual = fires_between(expression, zone, start + timedelta(microseconds=1), end)
        if actual != expected:
            wrong[expression] = (
                f"missing {walls(sorted(set(expected) - set(actual)), zone)}, "
                f"extra {walls(sorted(set(actual) - set(expected)), zone)}"
            )
    assert wrong == {}
