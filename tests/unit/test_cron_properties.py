"""Properties of fire times for random expressions, zones and instants (hypothesis)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import product

from hypothesis import given, settings
from hypothesis import strategies as st

from backbeat.domain.cron import Schedule
from tests.unit.cron_oracle import Oracle

ZONES = [
    "UTC",
    "America/New_York",
    "Europe/London",
    "Australia/Lord_Howe",  # 30-minute DST shift
    "Asia/Kolkata",  # +05:30, no DST
    "America/St_Johns",  # -03:30 / -02:30
]


def _number(low: int, high: int) -> st.SearchStrategy[str]:
    return st.integers(low, high).map(str)


def _range(low: int, high: int) -> st.SearchStrategy[str]:
    return st.tuples(st.integers(low, high), st.integers(low, high)).map(
        lambda pair: f"{min(pair)}-{max(pair)}"
    )


def _time_field(high: int, steps: list[int]) -> st.SearchStrategy[str]:
    """A minute (high=59) or hour (high=23) field: every form that the oracle models."""
    return st.one_of(
        st.just("*"),
        st.sampled_from(steps).map(lambda step: f"*/{step}"),
        _number(0, high),
        _range(0, high),
        st.tuples(_range(0, high), st.sampled_from(steps)).map(lambda rs: f"{rs[0]}/{rs[1]}"),
        st.lists(st.integers(0, high), min_size=2, max_size=4, unique=True).map(
            lambda values: ",".join(map(str, sorted(values)))
        ),
    )


MINUTES = _time_field(59, [1, 2, 5, 7, 15, 20, 30, 45])
HOURS = _time_field(23, [1, 2, 3, 5, 7, 12])
# Day fields whose every combination fires. Careful: a day-of-month starting with "*" ANDs
# with the day of week, and "*/10" (1, 11, 21, 31) with "5L" in November never fires, but
# "*/7" (1, 8, 15, 22, 29) meets every day-of-week choice below in every month choice.
DAY_OF_MONTH_CHOICES = ["*", "1", "15", "28", "1,15", "10-20", "*/7", "L", "LW"]
MONTH_CHOICES = ["*", "1-6", "*/3", "JAN,JUL", "mar-oct", "11"]
DAY_OF_WEEK_CHOICES = ["*", "1-5", "0", "7", "SAT,SUN", "MON#2", "5L", "fri"]
# "*" twice as often as any other choice.
DAYS_OF_MONTH = st.sampled_from(["*", *DAY_OF_MONTH_CHOICES])
MONTHS = st.sampled_from(["*", *MONTH_CHOICES])
DAYS_OF_WEEK = st.sampled_from(["*", *DAY_OF_WEEK_CHOICES])

EXPRESSIONS = st.one_of(
    st.tuples(MINUTES, HOURS, DAYS_OF_MONTH, MONTHS, DAYS_OF_WEEK).map(" ".join),
    st.sampled_from(["@hourly", "@daily", "@weekly", "@monthly", "@yearly"]),
)
INSTANTS = st.datetimes(
    min_value=datetime(2025, 1, 1), max_value=datetime(2030, 12, 31), timezones=st.just(UTC)
)


def test_every_combination_of_day_fields_fires() -> None:
    # Otherwise the property below would fail on a "never fires" draw, not on a bug.
    for day_of_month, month, day_of_week in product(
        DAY_OF_MONTH_CHOICES, MONTH_CHOICES, DAY_OF_WEEK_CHOICES
    ):
        Schedule.parse(f"0 0 {day_of_month} {month} {day_of_week}")


@settings(max_examples=300, deadline=None)
@given(expression=EXPRESSIONS, zone=st.sampled_from(ZONES), now=INSTANTS)
def test_fire_times_move_strictly_forward(expression: str, zone: str, now: datetime) -> None:
    schedule = Schedule.parse(expression, zone)
    chained: list[datetime] = []
    after = now
    for _ in range(5):
        nxt = schedule.next_after(after)
        assert nxt is not None
        assert nxt > after
        assert nxt.tzinfo is UTC
        assert nxt.second == 0
        assert nxt.microsecond == 0
        chained.append(nxt)
        after = nxt
    assert chained == sorted(set(chained))  # strictly increasing: nothing twice
    assert schedule.upcoming(now, 5) == chained
    # The scheduler's view agrees: from the first fire through the last, the same times.
    assert schedule.fires_through(chained[0], chained[-1], cap=5) == (chained, False)


# Around the 2025-2030 changes of the zones with DST, where mistakes happen.
_DST_ZONES = ["America/New_York", "Europe/London", "Australia/Lord_Howe", "America/St_Johns"]


def _changes(zone: str) -> list[datetime]:
    from zoneinfo import ZoneInfo

    tz, found = ZoneInfo(zone), []

    def offset(moment: datetime) -> timedelta | None:
        return moment.astimezone(tz).utcoffset()

    day = datetime(2025, 1, 1, tzinfo=UTC)
    while day.year < 2031:
        following = day + timedelta(days=1)
        if offset(following) != offset(day):  # one change that day (never two)
            # Every change in these zones is on a half hour: the first half hour at the new
            # offset, by bisection over the day's 48.
            low, high = 0, 48  # offset(day + low slots) is the old one, at high the new
            while high - low > 1:
                middle = (low + high) // 2
                if offset(day + timedelta(minutes=30 * middle)) == offset(day):
                    low = middle
                else:
                    high = middle
            found.append(day + timedelta(minutes=30 * high))
        day = following
    return found


CHANGES = [(zone, change) for zone in _DST_ZONES for change in _changes(zone)]


def test_the_changes_were_found() -> None:
    # Two a year for six years in each zone.
    assert len(CHANGES) == 4 * 2 * 6


@settings(max_examples=300, deadline=None)
@given(
    minute=MINUTES,
    hour=HOURS,
    where=st.sampled_from(CHANGES),
    offset_minutes=st.integers(-36 * 60, 36 * 60),
    seconds=st.integers(0, 59),
)
def test_next_after_matches_the_model_near_changes(
    minute: str, hour: str, where: tuple[str, datetime], offset_minutes: int, seconds: int
) -> None:
    zone, change = where
    after = change + timedelta(minutes=offset_minutes, seconds=seconds)
    expression = f"{minute} {hour} * * *"
    assert Schedule.parse(expression, zone).next_after(after) == Oracle(
        expression, zone
    ).next_after(after)
