"""Plans: what an account may schedule, as Recoup's autumn-2026 gate decides it. Pure.

Plans are off by default on a self-hosted Backbeat: an account without a plan has no limit
and is never refused. An operator gives an account one of Recoup's plans, optionally with
its own limits. With a plan:

* Creating a task, or enabling a disabled one, takes a slot: refused (`task_count`) when the
  owner's enabled tasks, not counting the task itself, already fill the plan.
* A new schedule must not fire more often than the plan allows (`min_cadence`). Cadence is
  Recoup's measure: the shortest gap between consecutive fires of the cron in UTC (the
  task's zone is ignored), walking at most 50 fires from 2026-01-01T00:00Z within 400 days.
  A cron that does not parse is schedule validation's business, never a plan violation.
* Over the cap (the plan changed under existing tasks), the oldest enabled tasks keep their
  slots; the others, and tasks firing too often for the plan, do not run.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from functools import lru_cache
from typing import Any

from backbeat.domain.cron import Schedule, ScheduleError
from backbeat.domain.errors import BackbeatError

HOUR = 60
DAY = 24 * HOUR
WEEK = 7 * DAY

# Recoup's walk: a fixed Thursday, so the answer never depends on when it is asked.
_EPOCH = datetime(2026, 1, 1, tzinfo=UTC)
_MAX_FIRES = 50
WINDOW_MINUTES = 400 * DAY  # what a cron firing fewer than twice in the walk measures


class Plan(StrEnum):
    FREE = "free"
    STARTER = "starter"
    PRO = "pro"


class PlanLimit(StrEnum):
    TASK_COUNT = "task_count"
    MIN_CADENCE = "min_cadence"


@dataclass(frozen=True, slots=True)
class Entitlements:
    """An account's plan and its limits."""

    plan: Plan
    task_limit: int | None  # enabled tasks at most; None: no limit
    min_cadence_minutes: int  # the shortest gap between fires a task may have

    @property
    def is_custom(self) -> bool:
        """Limits other than the plan's own (an operator's choice)."""
        return self != DEFAULTS[self.plan]


DEFAULTS: dict[Plan, Entitlements] = {
    Plan.FREE: Entitlements(Plan.FREE, task_limit=1, min_cadence_minutes=WEEK),
    Plan.STARTER: Entitlements(Plan.STARTER, task_limit=3, min_cadence_minutes=DAY),
    Plan.PRO: Entitlements(Plan.PRO, task_limit=None, min_cadence_minutes=HOUR),
}


def entitlements(
    plan: Plan, *, task_limit: int | None = None, min_cadence_minutes: int | None = None
) -> Entitlements:
    """The plan's entitlements, with either limit replaced when given."""
    found = DEFAULTS[plan]
    if task_limit is not None:
        found = replace(found, task_limit=task_limit)
    if min_cadence_minutes is not None:
        found = replace(found, min_cadence_minutes=min_cadence_minutes)
    return found


@lru_cache(maxsize=4096)
def cadence_minutes(expression: str) -> int | None:
    """The shortest gap, in minutes, between consecutive fires of the cron (Recoup's walk),
    or None when it does not parse."""
    try:
        schedule = Schedule.parse(expression, "UTC")
    except ScheduleError:
        return None
    end = _EPOCH + timedelta(minutes=WINDOW_MINUTES)
    shortest = WINDOW_MINUTES
    previous: datetime | None = None
    fire = schedule.next_after(_EPOCH - timedelta(seconds=1))  # the epoch itself may fire
    fires = 0
    while fire is not None and fire < end and fires < _MAX_FIRES:
        if previous is not None:
            shortest = min(shortest, int((fire - previous).total_seconds()) // 60)
        previous, fires = fire, fires + 1
        fire = schedule.next_after(fire)
    return shortest


def violation(
    found: Entitlements, enabled_count: int, *, schedule: str | None, takes_slot: bool
) -> PlanLimit | None:
    """What the plan refuses in a create or an edit, if anything: the count first (only when
    the task takes a slot; `enabled_count` leaves the task itself out), then the cadence of
    the schedule being set (None: the schedule is not being set)."""
    limit = found.task_limit
    if takes_slot and limit is not None and enabled_count >= limit:
        return PlanLimit.TASK_COUNT
    if schedule is not None:
        gap = cadence_minutes(schedule)
        if gap is not None and gap < found.min_cadence_minutes:
            return PlanLimit.MIN_CADENCE
    return None


def blocked_at_run_time(
    found: Entitlements, schedule: str, *, older_enabled: int
) -> PlanLimit | None:
    """Why an enabled task may not run under the plan, if it may not: it fires too often,
    or `older_enabled` older enabled tasks of its owner already fill the plan's slots."""
    gap = cadence_minutes(schedule)
    if gap is not None and gap < found.min_cadence_minutes:
        return PlanLimit.MIN_CADENCE
    if found.task_limit is not None and older_enabled >= found.task_limit:
        return PlanLimit.TASK_COUNT
    return None


_MESSAGES: dict[PlanLimit, dict[Plan, str]] = {  # Recoup's sentences, word for word
    PlanLimit.TASK_COUNT: {
        Plan.FREE: "Free includes 1 task. Starter includes 3, Pro is unlimited.",
        Plan.STARTER: "Starter includes 3 tasks. Pro is unlimited.",
        Plan.PRO: "Pro has no task limit.",
    },
    PlanLimit.MIN_CADENCE: {
        Plan.FREE: "Free runs tasks weekly at most. Starter runs daily, Pro runs hourly.",
        Plan.STARTER: "Starter runs tasks daily at most. Pro runs hourly.",
        Plan.PRO: "Pro runs tasks hourly at most.",
    },
}


def _span(minutes: int) -> str:
    """`week`, `day`, `hour`, or a number of them (or of minutes)."""
    for size, unit in ((WEEK, "week"), (DAY, "day"), (HOUR, "hour"), (1, "minute")):
        if minutes % size == 0:
            count = minutes // size
            return unit if count == 1 else f"{count} {unit}s"
    raise AssertionError("unreachable: every number of minutes is whole minutes")


def message(found: Entitlements, limit: PlanLimit) -> str:
    """Recoup's message for the plan; for custom limits, one saying what they are."""
    if not found.is_custom:
        return _MESSAGES[limit][found.plan]
    name = f"This account's {found.plan.value.capitalize()} plan"
    if limit is PlanLimit.TASK_COUNT:
        count = found.task_limit or 0
        return f"{name} includes {count} {'task' if count == 1 else 'tasks'}."
    return f"{name} runs tasks every {_span(found.min_cadence_minutes)} at most."


@dataclass(frozen=True, slots=True)
class PlanRefusal:
    """A plan's refusal, as Recoup answers it (HTTP 402)."""

    entitlements: Entitlements
    limit: PlanLimit
    current_task_count: int  # the owner's enabled tasks, the task in question left out
    billing_url: str | None

    @property
    def message(self) -> str:
        return message(self.entitlements, self.limit)

    def body(self) -> dict[str, Any]:
        return {
            "status": "error",
            "error": "plan_limit",
            "limit": self.limit.value,
            "message": self.message,
            "plan": self.entitlements.plan.value,
            "task_limit": self.entitlements.task_limit,
            "min_cadence_minutes": self.entitlements.min_cadence_minutes,
            "current_task_count": self.current_task_count,
            "billingUrl": self.billing_url,
        }


class PlanLimitReached(BackbeatError):
    """The owner's plan does not allow this; `refusal` says how (the API answers 402)."""

    def __init__(self, refusal: PlanRefusal) -> None:
        super().__init__(refusal.message)
        self.refusal = refusal
