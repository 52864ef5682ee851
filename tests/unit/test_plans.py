"""Plans: Recoup's entitlements, its cadence measure, its gate and its run-time block. Pure.

Cadence cases are worked out from the walk Recoup does: fires of the cron in UTC from
2026-01-01T00:00Z (a Thursday), at most 50 of them within 400 days, the shortest gap wins.
"""

from __future__ import annotations

import pytest

from backbeat.domain.plans import (
    DEFAULTS,
    Entitlements,
    Plan,
    PlanLimit,
    PlanRefusal,
    blocked_at_run_time,
    cadence_minutes,
    entitlements,
    message,
    violation,
)

FREE, STARTER, PRO = (DEFAULTS[plan] for plan in Plan)
WEEK, DAY, HOUR = 10_080, 1_440, 60
WINDOW = 400 * DAY


def test_recoups_entitlements_are_the_defaults() -> None:
    assert tuple(DEFAULTS.values()) == (
        Entitlements(Plan.FREE, task_limit=1, min_cadence_minutes=WEEK),
        Entitlements(Plan.STARTER, task_limit=3, min_cadence_minutes=DAY),
        Entitlements(Plan.PRO, task_limit=None, min_cadence_minutes=HOUR),
    )


def test_custom_limits_override_one_entitlement_each() -> None:
    assert entitlements(Plan.STARTER, task_limit=5) == Entitlements(Plan.STARTER, 5, DAY)
    assert entitlements(Plan.FREE, min_cadence_minutes=DAY) == Entitlements(Plan.FREE, 1, DAY)
    assert entitlements(Plan.PRO) == PRO
    assert not PRO.is_custom
    assert entitlements(Plan.PRO, task_limit=10).is_custom


@pytest.mark.parametrize(
    ("cron", "minutes"),
    [
        ("* * * * *", 1),
        ("*/15 * * * *", 15),
        ("0 * * * *", HOUR),
        ("0 9 * * *", DAY),
        ("0 9,17 * * *", 8 * HOUR),  # 09:00 and 17:00: the 8-hour gap is the shortest
        ("0 9 * * 1", WEEK),
        ("0 9 * * 7", WEEK),  # 7 is Sunday, as 0 is
        ("0 9 * * 1-5", DAY),  # Friday to Monday is longer; Monday to Tuesday a day
        ("0 0 1 * *", 28 * DAY),  # February is the shortest month within the walk
        # Both day fields restricted: either matches (cron's OR rule). The 1st of
        # January 2026 is a Thursday, so day 1 and Friday the 2nd are a day apart.
        ("0 0 1 * 5", DAY),
        ("0 0 1 1 *", 365 * DAY),  # 400 days: a yearly cron fires twice
        ("0 0 29 2 *", WINDOW),  # never in the walk: the window, which no plan exceeds
        ("@daily", DAY),  # Backbeat's macros and names count too
        ("0 9 * * MON", WEEK),
        ("0 12 * * 1", WEEK),  # the zone is ignored: the same answer in any zone
    ],
)
def test_cadence_is_the_shortest_gap_between_fires(cron: str, minutes: int) -> None:
    assert cadence_minutes(cron) == minutes


@pytest.mark.parametrize("cron", ["", "nonsense", "* * * *", "61 * * * *", "@sometimes"])
def test_a_cron_that_does_not_parse_has_no_cadence(cron: str) -> None:
    assert cadence_minutes(cron) is None


def test_the_count_is_checked_first_and_only_when_the_task_takes_a_slot() -> None:
    assert violation(FREE, 1, schedule="* * * * *", takes_slot=True) is PlanLimit.TASK_COUNT
    assert violation(FREE, 1, schedule="* * * * *", takes_slot=False) is PlanLimit.MIN_CADENCE
    assert violation(FREE, 1, schedule=None, takes_slot=False) is None
    assert violation(FREE, 0, schedule="0 9 * * 1", takes_slot=True) is None
    assert violation(STARTER, 2, schedule="0 9 * * *", takes_slot=True) is None
    assert violation(STARTER, 3, schedule=None, takes_slot=True) is PlanLimit.TASK_COUNT
    assert violation(PRO, 10_000, schedule="0 * * * *", takes_slot=True) is None
    assert violation(PRO, 0, schedule="*/30 * * * *", takes_slot=True) is PlanLimit.MIN_CADENCE


def test_an_unparsable_cron_is_not_a_violation() -> None:
    assert violation(FREE, 0, schedule="not a cron", takes_slot=True) is None


def test_at_run_time_cadence_then_the_oldest_tasks_keep_their_slots() -> None:
    assert blocked_at_run_time(STARTER, "0 9 * * *", older_enabled=2) is None
    assert blocked_at_run_time(STARTER, "0 9 * * *", older_enabled=3) is PlanLimit.TASK_COUNT
    assert blocked_at_run_time(STARTER, "0 * * * *", older_enabled=0) is PlanLimit.MIN_CADENCE
    assert blocked_at_run_time(PRO, "0 * * * *", older_enabled=500) is None


def test_recoups_messages() -> None:
    assert message(FREE, PlanLimit.TASK_COUNT) == (
        "Free includes 1 task. Starter includes 3, Pro is unlimited."
    )
    assert message(STARTER, PlanLimit.TASK_COUNT) == "Starter includes 3 tasks. Pro is unlimited."
    assert message(PRO, PlanLimit.TASK_COUNT) == "Pro has no task limit."
    assert message(FREE, PlanLimit.MIN_CADENCE) == (
        "Free runs tasks weekly at most. Starter runs daily, Pro runs hourly."
    )
    assert message(STARTER, PlanLimit.MIN_CADENCE) == (
        "Starter runs tasks daily at most. Pro runs hourly."
    )
    assert message(PRO, PlanLimit.MIN_CADENCE) == "Pro runs tasks hourly at most."


def test_custom_limits_say_what_they_are() -> None:
    five = entitlements(Plan.STARTER, task_limit=5)
    assert message(five, PlanLimit.TASK_COUNT) == "This account's Starter plan includes 5 tasks."
    one = entitlements(Plan.PRO, task_limit=1)
    assert message(one, PlanLimit.TASK_COUNT) == "This account's Pro plan includes 1 task."
    two_hours = entitlements(Plan.FREE, min_cadence_minutes=120)
    assert message(two_hours, PlanLimit.MIN_CADENCE) == (
        "This account's Free plan runs tasks every 2 hours at most."
    )
    daily = entitlements(Plan.FREE, min_cadence_minutes=DAY)
    assert message(daily, PlanLimit.MIN_CADENCE) == (
        "This account's Free plan runs tasks every day at most."
    )
    odd = entitlements(Plan.FREE, min_cadence_minutes=90)
    assert message(odd, PlanLimit.MIN_CADENCE) == (
        "This account's Free plan runs tasks every 90 minutes at most."
    )


def test_the_refusal_body_is_recoups() -> None:
    refusal = PlanRefusal(STARTER, PlanLimit.TASK_COUNT, current_task_count=3, billing_url=None)

    assert refusal.body() == {
        "status": "error",
        "error": "plan_limit",
        "limit": "task_count",
        "message": "Starter includes 3 tasks. Pro is unlimited.",
        "plan": "starter",
        "task_limit": 3,
        "min_cadence_minutes": DAY,
        "current_task_count": 3,
        "billingUrl": None,
    }
