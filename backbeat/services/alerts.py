"""A failing task is never silent: when a run ends FAILED, CRASHED or SYSTEM_FAILURE its
task's owner is told, on the task's channels (its delivery emails and Slack) or, when it has
none, by email to the owner; once per run, through the outbox (purpose `alert`), in the
transaction that gave the run its final state.

Repeated failures do not flood: the first failure in a row alerts with the error and a link;
later ones are summarised, one short "still failing" when the streak reaches 2, 4, 8, 16 …
runs; the first success after a streak sends "recovered" with how many runs failed. Canceled
runs count neither way. A task with `pause_after_failures` is paused (in the same
transaction) by the failure that makes its streak that long, and the alert says so.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import datetime
from uuid import UUID

from backbeat.domain.deliveries import Purpose
from backbeat.domain.failures import FailureKind
from backbeat.domain.models import Run, Task
from backbeat.domain.ports import SecretBox, UnitOfWork
from backbeat.domain.runs import RunStatus
from backbeat.services.reporting import deliver, report_of
from backbeat.services.webhooks import RunEvents

log = logging.getLogger("backbeat.alerts")

FAILED = frozenset({RunStatus.FAILED, RunStatus.CRASHED, RunStatus.SYSTEM_FAILURE})
STREAK_WINDOW = 200  # runs looked at to count a streak (a longer one counts as 200)


def failures_before(uow: UnitOfWork, task_id: UUID, run: Run) -> int:
    """How many of the task's finished runs before `run` (just finished, in this
    transaction) failed in a row; canceled and unfinished runs are skipped."""
    streak = 0
    for run_id, status in uow.runs.recent_statuses(task_id, STREAK_WINDOW):
        if run_id == run.id:
            continue
        if status is RunStatus.COMPLETED:
            break
        if status in FAILED:
            streak += 1
    return streak


def _pauses(task: Task, run: Run, streak: int) -> bool:
    """Whether this failure pauses the task: its streak reached pause_after_failures while
    the task was enabled (a run now of a paused task that fails does not pause it again).
    A run stopped by a budget never pauses it: the task is not broken, and a monthly budget
    starts over on the first of the month, when a paused task would stay paused."""
    limit = task.pause_after_failures
    stopped_by_budget = (run.error or {}).get("kind") == FailureKind.BUDGET.value
    return limit is not None and task.is_active and streak >= limit and not stopped_by_budget


def _summarised(streak: int) -> bool:
    """Whether a failure that makes the streak this long is told: the first, then 2, 4, 8…"""
    return streak >= 1 and streak & (streak - 1) == 0


def record_alerts(
    uow: UnitOfWork,
    run: Run,
    task: Task | None,
    now: datetime,
    run_url: str | None,
    box: SecretBox | None,
    events: RunEvents | None = None,
) -> int:
    """The alert deliveries of a run of `task` that just reached a final state; how many.
    A pause it causes raises the task.paused webhook event through `events`."""
    if task is None or run.status not in FAILED | {RunStatus.COMPLETED}:
        return 0
    before = failures_before(uow, task.id, run)
    if run.status is RunStatus.COMPLETED:
        if before < 1:
            return 0
        note = f"The task succeeded again after {before} failed run(s)."
        report = report_of(uow, run, task, run_url)
        # The note first, then the report that succeeded.
        report = replace(report, kind="recovered", text=f"{note}\n\n{report.text}".strip())
    else:
        streak = before + 1
        if _pauses(task, run, streak):
            paused = replace(task, enabled=False, next_fire_at=None, updated_at=now)
            uow.tasks.update(paused)
            if events is not None:
                events.task_paused(uow, paused, run, streak, now)
            note = (
                f"{_error_text(run)}. The task was paused after {streak} failed run(s) in a "
                "row (its pause_after_failures); resume it once the cause is fixed."
            )
            log.warning(
                "task paused after %d failed runs in a row",
                streak,
                extra={"event": "task.paused_failing", "task_id": str(task.id), "run_id": run.id},
            )
        elif _summarised(streak):
            note = (
                _error_text(run)
                if streak == 1
                else f"Still failing: {streak} runs in a row. Latest error: {_error_text(run)}"
            )
        else:
            return 0
        report = replace(report_of(uow, run, task, run_url), kind="alert", error=note)
    settings = task.delivery
    slack_url = None if settings is None else settings.slack_url
    return deliver(uow, run, now, report, Purpose.ALERT, _alert_emails(uow, task), slack_url, box)


def _alert_emails(uow: UnitOfWork, task: Task) -> tuple[str, ...]:
    if task.delivery is not None and (task.delivery.email or task.delivery.slack_url):
        return task.delivery.email
    owner = uow.accounts.emails([task.account_id]).get(task.account_id)
    return () if owner is None else (owner.lower(),)


def _error_text(run: Run) -> str:
    error = run.error or {}
    name = str(error.get("name") or run.status.value)
    message = str(error.get("message") or "")
    return f"{name}: {message}"[:1000] if message else name
