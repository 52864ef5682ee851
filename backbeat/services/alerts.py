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
from urllib.parse import urlsplit
from uuid import UUID

from backbeat.domain.deliveries import Channel, Delivery, DeliveryStatus, Purpose
from backbeat.domain.ids import new_delivery_id
from backbeat.domain.models import Run, Task
from backbeat.domain.ports import SecretBox, UnitOfWork
from backbeat.domain.reports import email_subject
from backbeat.domain.runs import RunStatus
from backbeat.domain.task_delivery import SLACK
from backbeat.services.reporting import report_json, report_of

log = logging.getLogger("backbeat.alerts")

FAILED = frozenset({RunStatus.FAILED, RunStatus.CRASHED, RunStatus.SYSTEM_FAILURE})
STREAK_WINDOW = 200  # runs looked at to count a streak (a longer one counts as 200)


def failures_in_a_row(uow: UnitOfWork, task_id: UUID, run: Run) -> int:
    """How many of the task's latest finished runs failed in a row, `run` (just finished, in
    this transaction) included; canceled and unfinished runs are skipped."""
    runs = uow.runs.recent_by_task([task_id], STREAK_WINDOW).get(task_id, [])
    streak = 0
    for each in runs:
        status = run.status if each.id == run.id else each.status
        if status is RunStatus.COMPLETED:
            break
        if status in FAILED:
            streak += 1
    return streak


def _pauses(task: Task, streak: int) -> bool:
    """Whether this failure pauses the task: its streak reached pause_after_failures while
    the task was enabled (a run now of a paused task that fails does not pause it again)."""
    limit = task.pause_after_failures
    return limit is not None and task.is_active and streak >= limit


def _summarised(streak: int) -> bool:
    """Whether a failure that makes the streak this long is told: the first, then 2, 4, 8…"""
    return streak >= 1 and streak & (streak - 1) == 0


def record_alerts(
    uow: UnitOfWork, run: Run, now: datetime, run_url: str | None, box: SecretBox | None
) -> int:
    """The alert deliveries of a run that just reached a final state; how many."""
    if run.task_id is None or run.status not in FAILED | {RunStatus.COMPLETED}:
        return 0
    task = uow.tasks.get(run.task_id)
    if task is None:
        return 0
    streak = failures_in_a_row(uow, task.id, run)
    if run.status is RunStatus.COMPLETED:
        before = failures_in_a_row(uow, task.id, replace(run, status=RunStatus.FAILED)) - 1
        if before < 1:
            return 0
        kind, note = "recovered", f"The task succeeded again after {before} failed run(s)."
    elif _pauses(task, streak):
        uow.tasks.update(replace(task, enabled=False, next_fire_at=None, updated_at=now))
        kind = "alert"
        note = (
            f"{_error_text(run)}. The task was paused after {streak} failed run(s) in a row "
            "(its pause_after_failures); resume it once the cause is fixed."
        )
        log.warning(
            "task paused after %d failed runs in a row",
            streak,
            extra={"event": "task.paused_failing", "task_id": str(task.id), "run_id": run.id},
        )
    elif _summarised(streak):
        kind = "alert"
        note = (
            _error_text(run)
            if streak == 1
            else f"Still failing: {streak} runs in a row. Latest error: {_error_text(run)}"
        )
    else:
        return 0
    report = report_of(uow, run, task, run_url)
    if kind == "recovered":  # the note first, then the report that succeeded
        report = replace(report, kind="recovered", text=f"{note}\n\n{report.text}".strip())
    else:
        report = replace(report, kind="alert", error=note)
    body = report_json(report)
    subject = email_subject(report)
    rows = [
        _row(run, now, Channel.EMAIL, address, address, subject, body)
        for address in _alert_emails(uow, task)
    ]
    if task.delivery is not None and task.delivery.slack_url is not None and box is not None:
        host = urlsplit(box.open(task.delivery.slack_url)).hostname or "slack"
        rows.append(_row(run, now, Channel.SLACK, SLACK, host, None, body))
    for each in rows:
        uow.deliveries.add(each)
    return len(rows)


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


def _row(
    run: Run,
    now: datetime,
    channel: Channel,
    recipient: str,
    address: str,
    subject: str | None,
    body: str,
) -> Delivery:
    return Delivery(
        id=new_delivery_id(),
        run_id=run.id,
        channel=channel,
        recipient=recipient,
        address=address,
        subject=subject,
        body=body,
        status=DeliveryStatus.PENDING,
        created_at=now,
        updated_at=now,
        purpose=Purpose.ALERT,
    )
