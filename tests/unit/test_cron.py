"""Cron expressions evaluated in UTC: field forms, macros, calendars, validation, caching.

Daylight saving time is in test_cron_dst.py, random properties in test_cron_properties.py.
Every expected instant below is worked out by hand from a calendar; the comments say how.

2026 calendar used throughout: Jan 1 is a Thursday, Feb 1 and Mar 1 are Sundays,
Feb has 28 days (2028 is the next leap year).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import pytest

from backbeat.domain import cron
from backbeat.domain.cron import MACROS, Schedule, ScheduleError, is_valid_zone, normalize


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def chain(expression: str, after: datetime, count: int, zone: str = "UTC") -> list[datetime]:
    """`count` fire times after `after`, each from the previous one with next_after."""
    schedule = Schedule.parse(expression, zone)
    fires: list[datetime] = []
    current = after
    for _ in range(count):
        nxt = schedule.next_after(current)
        assert nxt is not None
        fires.append(nxt)
        current = nxt
    return fires


NEW_YEAR_2026 = utc(2026, 1, 1)  # a Thursday, at midnight


# --- field forms -------------------------------------------------------------------------


def test_list_of_hours() -> None:
    assert chain("0 9,17 * * *", NEW_YEAR_2026, 4) == [
        utc(2026, 1, 1, 9),
        utc(2026, 1, 1, 17),
        utc(2026, 1, 2, 9),
        utc(2026, 1, 2, 17),
    ]


def test_range_of_hours_is_inclusive() -> None:
    assert chain("0 9-11 * * *", NEW_YEAR_2026, 4) == [
        utc(2026, 1, 1, 9),
        utc(2026, 1, 1, 10),
        utc(2026, 1, 1, 11),
        utc(2026, 1, 2, 9),
    ]


def test_step_over_every_minute() -> None:
    # */20 is 0, 20, 40; "after" is exclusive, so 00:00 itself is not returned.
    assert chain("*/20 * * * *", NEW_YEAR_2026, 4) == [
        utc(2026, 1, 1, 0, 20),
        utc(2026, 1, 1, 0, 40),
        utc(2026, 1, 1, 1, 0),
        utc(2026, 1, 1, 1, 20),
    ]


def test_step_over_a_range() -> None:
    # 10-50/20 is 10, 30, 50.
    assert chain("10-50/20 * * * *", NEW_YEAR_2026, 4) == [
        utc(2026, 1, 1, 0, 10),
        utc(2026, 1, 1, 0, 30),
        utc(2026, 1, 1, 0, 50),
        utc(2026, 1, 1, 1, 10),
    ]


def test_day_of_month_step_restarts_every_month() -> None:
    # */10 over 1-31 is 1, 11, 21, 31: January 31 fires and so does February 1, one day later.
    # After Feb 21 the next is Mar 1 (Feb has no 31st).
    assert chain("0 0 */10 * *", NEW_YEAR_2026, 7) == [
        utc(2026, 1, 11),
        utc(2026, 1, 21),
        utc(2026, 1, 31),
        utc(2026, 2, 1),
        utc(2026, 2, 11),
        utc(2026, 2, 21),
        utc(2026, 3, 1),
    ]


def test_a_step_from_a_single_start_runs_to_the_end_of_the_field() -> None:
    # A cronsim extension (Vixie cron rejects it): "10/20" is 10-59/20, i.e. 10, 30, 50.
    assert chain("10/20 * * * *", NEW_YEAR_2026, 4) == [
        utc(2026, 1, 1, 0, 10),
        utc(2026, 1, 1, 0, 30),
        utc(2026, 1, 1, 0, 50),
        utc(2026, 1, 1, 1, 10),
    ]


@pytest.mark.parametrize(
    ("expression", "normalized"),
    [
        ("5-5/10 * * * *", "5 * * * *"),
        ("05-5/10 * * * *", "05 * * * *"),
        ("0 3-3/2 * * *", "0 3 * * *"),
        ("0 0 10-10/5,1-5/2 * *", "0 0 10,1-5/2 * *"),
        ("0 0 * jan-JAN/2 *", "0 0 * jan *"),
        ("0 0 * * MON-MON/2", "0 0 * * MON"),
    ],
)
def test_a_stepped_range_of_one_value_is_that_value(expression: str, normalized: str) -> None:
    # In cron "5-5/10" is the range 5..5 stepped by 10: just 5. cronsim reads it as "5/10"
    # (5, 15, ..., 55) and "MON-MON/2" as Mon, Wed, Fri, Sun; normalize() rewrites it.
    assert normalize(expression) == normalized


def test_a_stepped_range_of_one_value_fires_once_an_hour() -> None:
    assert chain("5-5/10 * * * *", NEW_YEAR_2026, 3) == [
        utc(2026, 1, 1, 0, 5),
        utc(2026, 1, 1, 1, 5),
        utc(2026, 1, 1, 2, 5),
    ]
    # Mondays only: Jan 5, 12.
    assert chain("0 0 * * MON-MON/2", NEW_YEAR_2026, 2) == [utc(2026, 1, 5), utc(2026, 1, 12)]


def test_a_stepped_range_of_one_value_still_rejects_a_zero_step() -> None:
    with pytest.raises(ScheduleError, match=r'invalid minute field "5-5/0"'):
        normalize("5-5/0 * * * *")


@pytest.mark.parametrize(
    "expression",
    ["0 9 * JAN,JUL MON-FRI", "0 9 * jan,jul mon-fri", "0 9 * Jan,Jul Mon-Fri", "0 9 * 1,7 1-5"],
)
def test_month_and_weekday_names_in_any_case(expression: str) -> None:
    # Weekdays of January 2026 start Thu 1, Fri 2, Mon 5; the last is Fri 30.
    # Then nothing until July: Wed 1, Thu 2.
    assert chain(expression, NEW_YEAR_2026, 3) == [
        utc(2026, 1, 1, 9),
        utc(2026, 1, 2, 9),
        utc(2026, 1, 5, 9),
    ]
    assert chain(expression, utc(2026, 1, 30, 9), 2) == [utc(2026, 7, 1, 9), utc(2026, 7, 2, 9)]


@pytest.mark.parametrize("sunday", ["0", "7", "SUN", "sun"])
def test_day_of_week_zero_and_seven_are_both_sunday(sunday: str) -> None:
    # Sundays of January 2026: 4, 11, 18.
    assert chain(f"0 0 * * {sunday}", NEW_YEAR_2026, 3) == [
        utc(2026, 1, 4),
        utc(2026, 1, 11),
        utc(2026, 1, 18),
    ]


def test_weekday_range_ending_in_seven() -> None:
    # 5-7 is Friday, Saturday, Sunday: Jan 2, 3, 4, then Jan 9.
    assert chain("0 0 * * 5-7", NEW_YEAR_2026, 4) == [
        utc(2026, 1, 2),
        utc(2026, 1, 3),
        utc(2026, 1, 4),
        utc(2026, 1, 9),
    ]


def test_day_of_month_and_day_of_week_both_restricted_means_either() -> None:
    # Vixie cron: "0 0 13 * FRI" fires on every 13th AND on every Friday.
    # Fridays in January 2026: 2, 9, 16, 23, 30; the 13th is a Tuesday; Feb 6 is a Friday and
    # Feb 13 is both (it fires once).
    assert chain("0 0 13 * FRI", NEW_YEAR_2026, 9) == [
        utc(2026, 1, 2),
        utc(2026, 1, 9),
        utc(2026, 1, 13),
        utc(2026, 1, 16),
        utc(2026, 1, 23),
        utc(2026, 1, 30),
        utc(2026, 2, 6),
        utc(2026, 2, 13),
        utc(2026, 2, 20),
    ]


def test_only_day_of_month_restricted() -> None:
    assert chain("0 0 13 * *", NEW_YEAR_2026, 3) == [
        utc(2026, 1, 13),
        utc(2026, 2, 13),
        utc(2026, 3, 13),
    ]


def test_only_day_of_week_restricted() -> None:
    assert chain("0 0 * * FRI", NEW_YEAR_2026, 3) == [
        utc(2026, 1, 2),
        utc(2026, 1, 9),
        utc(2026, 1, 16),
    ]


def test_a_day_of_week_field_starting_with_a_star_means_both() -> None:
    # Debian cron (and cronsim) decide AND vs OR by whether a field *starts* with "*":
    # "*/7" is {0, 7}, i.e. Sunday, but unlike "0" it makes the 29th AND Sunday.
    # February 29th falls on a Sunday in 2032 (then 2060).
    assert chain("0 0 29 2 */7", NEW_YEAR_2026, 2) == [utc(2032, 2, 29), utc(2060, 2, 29)]
    # "0" instead: the 29th of February OR any Sunday of February. Feb 1 2026 is a Sunday.
    assert chain("0 0 29 2 0", NEW_YEAR_2026, 2) == [utc(2026, 2, 1), utc(2026, 2, 8)]


# --- macros ------------------------------------------------------------------------------

MID_MARCH = utc(2026, 3, 15, 12, 30)  # a Sunday afternoon


@pytest.mark.parametrize(
    ("macro", "first", "second"),
    [
        ("@yearly", utc(2027, 1, 1), utc(2028, 1, 1)),
        ("@annually", utc(2027, 1, 1), utc(2028, 1, 1)),
        ("@monthly", utc(2026, 4, 1), utc(2026, 5, 1)),
        # Sunday midnights after Sunday 15 March noon: the 22nd and the 29th.
        ("@weekly", utc(2026, 3, 22), utc(2026, 3, 29)),
        ("@daily", utc(2026, 3, 16), utc(2026, 3, 17)),
        ("@midnight", utc(2026, 3, 16), utc(2026, 3, 17)),
        ("@hourly", utc(2026, 3, 15, 13), utc(2026, 3, 15, 14)),
    ],
)
def test_every_macro(macro: str, first: datetime, second: datetime) -> None:
    for spelling in (macro, macro.upper(), "@" + macro[1:].capitalize(), f"  {macro}\t"):
        assert chain(spelling, MID_MARCH, 2) == [first, second]
        assert Schedule.parse(spelling).expression == MACROS[macro]


def test_macro_table_is_complete() -> None:
    assert set(MACROS) == {
        "@yearly",
        "@annually",
        "@monthly",
        "@weekly",
        "@daily",
        "@midnight",
        "@hourly",
    }


# --- cronsim extensions: L, LW, nL, #n ---------------------------------------------------


def test_last_day_of_month() -> None:
    assert chain("0 0 L * *", NEW_YEAR_2026, 4) == [
        utc(2026, 1, 31),
        utc(2026, 2, 28),
        utc(2026, 3, 31),
        utc(2026, 4, 30),
    ]
    # In a leap year the last day of February is the 29th.
    assert chain("0 0 L 2 *", NEW_YEAR_2026, 3) == [
        utc(2026, 2, 28),
        utc(2027, 2, 28),
        utc(2028, 2, 29),
    ]


def test_last_weekday_of_month() -> None:
    # Jan 31 2026 is a Saturday -> Fri 30; Feb 28 is a Saturday -> Fri 27; Mar 31 is a
    # Tuesday; Apr 30 a Thursday; May 31 a Sunday -> Fri 29.
    assert chain("0 0 LW * *", NEW_YEAR_2026, 5) == [
        utc(2026, 1, 30),
        utc(2026, 2, 27),
        utc(2026, 3, 31),
        utc(2026, 4, 30),
        utc(2026, 5, 29),
    ]


@pytest.mark.parametrize("expression", ["0 0 * * 5L", "0 0 * * 5l"])
def test_last_friday_of_month(expression: str) -> None:
    assert chain(expression, NEW_YEAR_2026, 3) == [
        utc(2026, 1, 30),
        utc(2026, 2, 27),
        utc(2026, 3, 27),
    ]


def test_last_sunday_written_as_seven() -> None:
    # Last Sundays: Jan 25, Feb 22, Mar 29 (the European clocks change that day).
    assert chain("0 0 * * 7L", NEW_YEAR_2026, 3) == [
        utc(2026, 1, 25),
        utc(2026, 2, 22),
        utc(2026, 3, 29),
    ]


@pytest.mark.parametrize("expression", ["0 0 * * MON#1", "0 0 * * mon#1", "0 0 * * 1#1"])
def test_nth_weekday_of_month(expression: str) -> None:
    # First Mondays: Jan 5, Feb 2, Mar 2, Apr 6.
    assert chain(expression, NEW_YEAR_2026, 4) == [
        utc(2026, 1, 5),
        utc(2026, 2, 2),
        utc(2026, 3, 2),
        utc(2026, 4, 6),
    ]


# --- calendars: leap days, month ends, year ends ----------------------------------------


def test_leap_day() -> None:
    assert chain("0 0 29 2 *", NEW_YEAR_2026, 2) == [utc(2028, 2, 29), utc(2032, 2, 29)]


def test_leap_day_skips_2100_which_is_not_a_leap_year() -> None:
    assert chain("0 0 29 2 *", utc(2096, 3, 1), 1) == [utc(2104, 2, 29)]


def test_thirty_first_skips_shorter_months() -> None:
    # 2026 months with 31 days: Jan, Mar, May, Jul, Aug, Oct, Dec.
    assert chain("0 0 31 * *", NEW_YEAR_2026, 8) == [
        utc(2026, 1, 31),
        utc(2026, 3, 31),
        utc(2026, 5, 31),
        utc(2026, 7, 31),
        utc(2026, 8, 31),
        utc(2026, 10, 31),
        utc(2026, 12, 31),
        utc(2027, 1, 31),
    ]


def test_year_rollover() -> None:
    assert chain("59 23 31 12 *", NEW_YEAR_2026, 2) == [
        utc(2026, 12, 31, 23, 59),
        utc(2027, 12, 31, 23, 59),
    ]
    one_second_to_2027 = datetime(2026, 12, 31, 23, 59, 59, tzinfo=UTC)
    assert chain("@yearly", one_second_to_2027, 1) == [utc(2027, 1, 1)]
    assert chain("* * * * *", one_second_to_2027, 2) == [utc(2027, 1, 1), utc(2027, 1, 1, 0, 1)]


# --- rare and never-firing expressions ---------------------------------------------------


def test_fifth_monday_of_february_is_far_away() -> None:
    # A 5th Monday of February is a Monday 29 February: leap years 2028 (Tue), 2032 (Sun),
    # 2036 (Fri), 2040 (Wed), 2044 (Mon). Then 28 years on, 2072; then 2112 (2100 is not a
    # leap year, which breaks the 28-year cycle).
    assert chain("0 0 * 2 MON#5", NEW_YEAR_2026, 3) == [
        utc(2044, 2, 29),
        utc(2072, 2, 29),
        utc(2112, 2, 29),
    ]


@pytest.mark.parametrize(
    ("expression", "months"),
    [("0 0 31 2 *", "2"), ("0 0 30 2 *", "2"), ("0 0 31 4,6,9,11 *", "4,6,9,11")],
)
def test_impossible_dates_never_fire(expression: str, months: str) -> None:
    day = expression.split()[2]
    with pytest.raises(ScheduleError) as caught:
        Schedule.parse(expression, "Europe/London")
    assert caught.value.message == (
        f'schedule "{expression}" never fires: day-of-month {day} does not occur in month {months}'
    )
    assert str(caught.value) == caught.value.message


def test_day_of_week_star_makes_an_impossible_combination() -> None:
    # The last weekday of a month AND (because "*/6" starts with a star) a Saturday or Sunday:
    # cronsim accepts the syntax and then finds nothing in 50 years.
    with pytest.raises(ScheduleError, match=r'^schedule "0 0 LW \* \*/6" never fires$'):
        Schedule.parse("0 0 LW * */6")


def test_thirtieth_of_february_or_a_monday_is_fine() -> None:
    # With both day fields restricted it is OR: every Monday of February.
    assert chain("0 0 30 2 MON", NEW_YEAR_2026, 2) == [utc(2026, 2, 2), utc(2026, 2, 9)]


# --- validation messages -----------------------------------------------------------------

FIELDS_HINT = "schedule must have 5 fields (minute hour day-of-month month day-of-week)"


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("0 0 * *", f'{FIELDS_HINT}, got 4 in "0 0 * *"'),
        ("0 0 * * * *", f'{FIELDS_HINT}, got 6 in "0 0 * * * *"'),
        ("0", f'{FIELDS_HINT}, got 1 in "0"'),
        ("61 * * * *", 'schedule has an invalid minute field "61" in "61 * * * *"'),
        ("60 * * * *", 'schedule has an invalid minute field "60" in "60 * * * *"'),
        ("-1 * * * *", 'schedule has an invalid minute field "-1" in "-1 * * * *"'),
        ("0 24 * * *", 'schedule has an invalid hour field "24" in "0 24 * * *"'),
        ("0 0 32 * *", 'schedule has an invalid day-of-month field "32" in "0 0 32 * *"'),
        ("0 0 0 * *", 'schedule has an invalid day-of-month field "0" in "0 0 0 * *"'),
        ("0 0 * 13 *", 'schedule has an invalid month field "13" in "0 0 * 13 *"'),
        ("0 0 * 0 *", 'schedule has an invalid month field "0" in "0 0 * 0 *"'),
        ("0 0 * * 8", 'schedule has an invalid day-of-week field "8" in "0 0 * * 8"'),
        ("*/0 * * * *", 'schedule has an invalid minute field "*/0" in "*/0 * * * *"'),
        ("5-1 * * * *", 'schedule has an invalid minute field "5-1" in "5-1 * * * *"'),
        ("1,,2 * * * *", 'schedule has an invalid minute field "1,,2" in "1,,2 * * * *"'),
        ("a b c d e", 'schedule has an invalid minute field "a" in "a b c d e"'),
        ("0 0 * * ?", 'schedule has an invalid day-of-week field "?" in "0 0 * * ?"'),
        (
            "0 0 * * SUNDAY",
            'schedule has an invalid day-of-week field "SUNDAY" in "0 0 * * SUNDAY"',
        ),
        ("0 0 * * MON#6", 'schedule has an invalid day-of-week field "MON#6" in "0 0 * * MON#6"'),
        ("0 0 W * *", 'schedule has an invalid day-of-month field "W" in "0 0 W * *"'),
        ("", "schedule must be a cron expression, got an empty string"),
        (" \t ", "schedule must be a cron expression, got an empty string"),
        (
            "@reboot",
            'schedule uses an unknown macro "@reboot" '
            "(known: @annually, @daily, @hourly, @midnight, @monthly, @weekly, @yearly)",
        ),
        (
            "@daily 5",
            'schedule uses an unknown macro "@daily 5" '
            "(known: @annually, @daily, @hourly, @midnight, @monthly, @weekly, @yearly)",
        ),
    ],
)
def test_invalid_expressions_say_what_is_wrong(expression: str, message: str) -> None:
    for check in (normalize, lambda text: Schedule.parse(text, "Asia/Kolkata")):
        with pytest.raises(ScheduleError) as caught:
            check(expression)
        assert caught.value.message == message


@pytest.mark.parametrize("zone", ["Mars/Olympus", "america/new_york", "", "EST+5", "UTC "])
def test_unknown_time_zone(zone: str) -> None:
    assert not is_valid_zone(zone)
    with pytest.raises(ScheduleError, match=r"^timezone must be a valid IANA time zone$"):
        Schedule.parse("0 0 * * *", zone)


@pytest.mark.parametrize("zone", ["UTC", "Etc/UTC", "America/New_York", "Australia/Lord_Howe"])
def test_known_time_zone(zone: str) -> None:
    assert is_valid_zone(zone)
    assert Schedule.parse("0 0 * * *", zone).zone == zone


@pytest.mark.parametrize(
    ("expression", "normalized"),
    [
        ("  0  9 * *   1 ", "0 9 * * 1"),
        ("0\t9\t*\t*\t1", "0 9 * * 1"),
        ("\n*/15 * * * *\n", "*/15 * * * *"),
        (" @weekly ", "0 0 * * 0"),
    ],
)
def test_extra_whitespace_is_accepted(expression: str, normalized: str) -> None:
    assert normalize(expression) == normalized
    assert Schedule.parse(expression, "Europe/London").expression == normalized


def test_schedule_error_is_a_value_error() -> None:
    assert issubclass(ScheduleError, ValueError)


# --- next_after at the edges -------------------------------------------------------------


def test_next_after_is_strictly_after_a_fire_time() -> None:
    schedule = Schedule.parse("*/15 * * * *")
    assert schedule.next_after(utc(2026, 5, 1, 10, 15)) == utc(2026, 5, 1, 10, 30)


def test_next_after_with_sub_second_instants() -> None:
    schedule = Schedule.parse("* * * * *")
    just_before = datetime(2026, 5, 1, 9, 59, 59, 999_999, tzinfo=UTC)
    just_after = datetime(2026, 5, 1, 10, 0, 0, 1, tzinfo=UTC)
    assert schedule.next_after(just_before) == utc(2026, 5, 1, 10)
    assert schedule.next_after(just_after) == utc(2026, 5, 1, 10, 1)


def test_next_after_accepts_any_aware_datetime_and_answers_in_utc() -> None:
    from zoneinfo import ZoneInfo

    tokyo_morning = datetime(2026, 5, 1, 9, 0, tzinfo=ZoneInfo("Asia/Tokyo"))  # 00:00 UTC
    answer = Schedule.parse("30 * * * *").next_after(tokyo_morning)
    assert answer == utc(2026, 5, 1, 0, 30)
    assert answer is not None
    assert answer.tzinfo is UTC


# --- fires_through -----------------------------------------------------------------------


def test_fires_through_includes_first_and_now() -> None:
    schedule = Schedule.parse("*/15 * * * *")
    fires, capped = schedule.fires_through(utc(2026, 5, 1, 10), utc(2026, 5, 1, 11), cap=100)
    assert fires == [
        utc(2026, 5, 1, 10),
        utc(2026, 5, 1, 10, 15),
        utc(2026, 5, 1, 10, 30),
        utc(2026, 5, 1, 10, 45),
        utc(2026, 5, 1, 11),
    ]
    assert capped is False


def test_fires_through_stops_at_the_cap() -> None:
    schedule = Schedule.parse("* * * * *")
    # A month of downtime for an every-minute task: only `cap` fire times come back.
    fires, capped = schedule.fires_through(utc(2026, 5, 1), utc(2026, 6, 1), cap=3)
    assert fires == [utc(2026, 5, 1), utc(2026, 5, 1, 0, 1), utc(2026, 5, 1, 0, 2)]
    assert capped is True


def test_fires_through_exactly_cap_fires_is_not_capped() -> None:
    schedule = Schedule.parse("*/15 * * * *")
    fires, capped = schedule.fires_through(utc(2026, 5, 1, 10), utc(2026, 5, 1, 11), cap=5)
    assert len(fires) == 5
    assert capped is False
    fires, capped = schedule.fires_through(utc(2026, 5, 1, 10), utc(2026, 5, 1, 11), cap=4)
    assert fires[-1] == utc(2026, 5, 1, 10, 45)
    assert capped is True


def test_fires_through_with_first_after_now_is_empty() -> None:
    schedule = Schedule.parse("@hourly")
    assert schedule.fires_through(utc(2026, 5, 1, 11), utc(2026, 5, 1, 10), cap=10) == (
        [],
        False,
    )


def test_fires_through_just_before_the_next_fire() -> None:
    schedule = Schedule.parse("@hourly")
    now = datetime(2026, 5, 1, 11, 59, 59, 999_999, tzinfo=UTC)
    fires, capped = schedule.fires_through(utc(2026, 5, 1, 10), now, cap=10)
    assert fires == [utc(2026, 5, 1, 10), utc(2026, 5, 1, 11)]
    assert capped is False


# --- upcoming and its cache --------------------------------------------------------------


@pytest.fixture
def counted_next_after(monkeypatch: pytest.MonkeyPatch) -> list[datetime]:
    """A fresh upcoming cache, and the `after` of every next_after call made from now on."""
    monkeypatch.setattr(cron, "_upcoming_cache", cron._UpcomingCache())
    calls: list[datetime] = []
    original: Callable[[Schedule, datetime], datetime | None] = Schedule.next_after

    def counting(self: Schedule, after: datetime) -> datetime | None:
        calls.append(after)
        return original(self, after)

    monkeypatch.setattr(Schedule, "next_after", counting)
    return calls


def test_upcoming_is_the_next_fire_times(counted_next_after: list[datetime]) -> None:
    schedule = Schedule.parse("0 9,17 * * *")
    assert schedule.upcoming(utc(2026, 5, 1, 12), 3) == [
        utc(2026, 5, 1, 17),
        utc(2026, 5, 2, 9),
        utc(2026, 5, 2, 17),
    ]
    assert len(counted_next_after) == 3


def test_upcoming_is_reused_until_its_first_fire_passes(
    counted_next_after: list[datetime],
) -> None:
    schedule = Schedule.parse("0 9,17 * * *", "Europe/Berlin")  # 17:00 CEST is 15:00 UTC
    expected = [utc(2026, 5, 1, 15), utc(2026, 5, 2, 7), utc(2026, 5, 2, 15)]
    assert schedule.upcoming(utc(2026, 5, 1, 12), 3) == expected
    assert len(counted_next_after) == 3

    # Any `now` from the first computation up to (not including) the first fire: same list,
    # no cron evaluation.
    assert schedule.upcoming(utc(2026, 5, 1, 12), 3) == expected
    assert schedule.upcoming(datetime(2026, 5, 1, 14, 59, 59, tzinfo=UTC), 3) == expected
    assert len(counted_next_after) == 3

    # The returned list is a copy: changing it does not change the cache.
    schedule.upcoming(utc(2026, 5, 1, 13), 3).clear()
    assert schedule.upcoming(utc(2026, 5, 1, 13), 3) == expected

    # At the first fire time it has passed ("upcoming" is strictly after now): move on.
    assert schedule.upcoming(utc(2026, 5, 1, 15), 3) == [
        utc(2026, 5, 2, 7),
        utc(2026, 5, 2, 15),
        utc(2026, 5, 3, 7),
    ]
    assert len(counted_next_after) == 6


def test_upcoming_before_the_cached_start_recomputes(counted_next_after: list[datetime]) -> None:
    schedule = Schedule.parse("0 9,17 * * *")
    assert schedule.upcoming(utc(2026, 5, 1, 12), 2) == [utc(2026, 5, 1, 17), utc(2026, 5, 2, 9)]
    # An earlier `now` (a clock that went back, a test clock) is not served from the cache.
    assert schedule.upcoming(utc(2026, 5, 1, 8), 2) == [utc(2026, 5, 1, 9), utc(2026, 5, 1, 17)]


def test_upcoming_counts_are_cached_separately(counted_next_after: list[datetime]) -> None:
    schedule = Schedule.parse("@daily")
    assert schedule.upcoming(utc(2026, 5, 1, 12), 1) == [utc(2026, 5, 2)]
    assert schedule.upcoming(utc(2026, 5, 1, 12), 2) == [utc(2026, 5, 2), utc(2026, 5, 3)]
