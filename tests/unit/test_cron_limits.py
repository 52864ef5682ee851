"""The cron module's own guards: over-long expressions and zones are refused before any
parsing, only accepted expressions are cached, and only IANA zone names are zones."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from zoneinfo import available_timezones

import pytest

from backbeat.domain import cron
from backbeat.domain.cron import (
    MAX_SCHEDULE_LENGTH,
    MAX_TIMEZONE_LENGTH,
    Schedule,
    ScheduleError,
    is_valid_zone,
)

HUGE = "0 9 * * " + "1," * 290_000 + "1"  # 580 kB that cronsim would accept


@pytest.fixture(autouse=True)
def empty_caches() -> None:
    cron._parse.cache_clear()
    cron._next_fire.cache_clear()


def cached() -> tuple[int, int]:
    return cron._parse.cache_info().currsize, cron._next_fire.cache_info().currsize


def test_the_caps() -> None:
    assert (MAX_SCHEDULE_LENGTH, MAX_TIMEZONE_LENGTH) == (256, 64)


def test_an_over_long_expression_is_refused_at_once_and_not_cached() -> None:
    # CPU time of this process, not the wall clock: other test processes share the machine.
    started = time.process_time()
    with pytest.raises(ScheduleError, match=r"^schedule must be at most 256 characters$"):
        Schedule.parse(HUGE)
    assert time.process_time() - started < 0.05
    assert cached() == (0, 0)


def test_an_expression_at_the_cap_is_parsed() -> None:
    expression = "0 9 * * 4".ljust(MAX_SCHEDULE_LENGTH)

    assert Schedule.parse(expression).expression == "0 9 * * 4"
    with pytest.raises(ScheduleError, match="at most 256"):
        Schedule.parse(expression + " ")


def test_an_over_long_zone_is_refused() -> None:
    assert not is_valid_zone("A" * (MAX_TIMEZONE_LENGTH + 1))
    with pytest.raises(ScheduleError, match=r"^timezone must be a valid IANA time zone$"):
        Schedule.parse("0 9 * * 4", "Europe/" + "x" * 100)


@pytest.mark.parametrize(
    "expression", ["0 0 30 2 *", "61 * * * *", "* * *", "@sometimes", "0 0 LW * */6"]
)
def test_refused_expressions_leave_nothing_in_the_caches(expression: str) -> None:
    with pytest.raises(ScheduleError):
        Schedule.parse(expression, "Europe/Berlin")

    assert cached() == (0, 0)


def test_accepted_expressions_are_cached_and_the_caches_are_bounded() -> None:
    schedule = Schedule.parse("0 9 * * 4", "Europe/Berlin")
    schedule.next_after(datetime(2026, 1, 5, tzinfo=UTC))

    assert cached() == (1, 1)
    assert cron._parse.cache_info().maxsize is not None
    assert cron._next_fire.cache_info().maxsize is not None


@pytest.mark.parametrize(
    "zone",
    [
        "localtime",
        "posixrules",
        "Factory",
        "posix/Europe/Berlin",
        "right/UTC",
        "/etc/localtime",
        "/usr/share/zoneinfo/UTC",
        "Europe/../UTC",
        "zone.tab",
        "zone1970.tab",
        "tzdata.zi",
        "leapseconds",
        "iso3166.tab",
    ],
)
def test_host_dependent_names_are_not_zones(zone: str) -> None:
    assert not is_valid_zone(zone)


@pytest.mark.parametrize("zone", ["/etc/localtime", "Europe/../UTC", "zone.tab", "Mars/Base"])
def test_names_no_zoneinfo_answers_to_are_not_evaluated(zone: str) -> None:
    with pytest.raises(ScheduleError, match=r"^timezone must be a valid IANA time zone$"):
        Schedule.parse("0 9 * * 4", zone)


def test_a_saved_task_with_a_zone_of_this_host_still_evaluates() -> None:
    """Refused for new input, but a task saved with one before keeps working (no 500)."""
    for zone in {"localtime", "Factory"} & available_timezones():
        assert Schedule.parse("0 9 * * 4", zone).next_after(datetime(2026, 1, 5, tzinfo=UTC))


def test_the_zone_list_does_not_depend_on_the_host() -> None:
    """The names come from the tzdata package (a pinned dependency), not the host's files."""
    names = cron._zone_names()
    assert {"UTC", "Etc/UTC", "Europe/Berlin", "US/Eastern"} <= names
    assert not any(name.startswith(("posix/", "right/", "/")) for name in names)
    assert {"localtime", "posixrules", "Factory"}.isdisjoint(names)
