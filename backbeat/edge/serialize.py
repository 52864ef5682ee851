"""Tasks and runs as the contract shows them (`Task`, `TaskRunResponse`)."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from backbeat import __version__
from backbeat.domain.clock import iso_utc
from backbeat.domain.deliveries import email_subject, run_output
from backbeat.domain.models import Attempt, Run, Task
from backbeat.edge.delivery import delivery_json
from backbeat.services.tasks import TaskPage, TaskView

ENVIRONMENT = {"id": "backbeat", "name": "production", "user": None}


def schedule_id(task_id: UUID) -> str:
    """The task's schedule, named as Trigger.dev names schedules; stable for the task's life."""
    return f"sched_{task_id.hex}"


def _iso(value: datetime | None) -> str | None:
    return None if value is None else iso_utc(value)


def task_json(view: TaskView) -> dict[str, Any]:
    task: Task = view.task
    return {
        "id": str(task.id),
        "title": task.title,
        "prompt": task.prompt,
        "schedule": task.schedule,
        "account_id": str(task.account_id),
        "artist_account_id": str(task.artist_account_id),
        "enabled": task.enabled,
        "trigger_schedule_id": schedule_id(task.id),
        "recent_runs": [run_json(run, full=False, named=False) for run in view.recent_runs],
        "upcoming": [iso_utc(at) for at in view.upcoming],
        "owner_email": view.owner_email,
        "artist_name": view.artist_name,
        "model": task.model,
        "timezone": task.timezone,
        "created_at": iso_utc(task.created_at),
        "updated_at": iso_utc(task.updated_at),
        "misfire_grace_seconds": task.misfire_grace_seconds,
        "max_attempts": task.max_attempts,
        "delivery": delivery_json(task.delivery),
        "pause_after_failures": task.pause_after_failures,
        "tools": None if task.agent.tools is None else list(task.agent.tools),
        "max_run_cost_usd": task.agent.max_run_cost_usd,
        "max_output_tokens": task.agent.max_output_tokens,
        "model_timeout_seconds": task.agent.model_timeout_seconds,
    }


def tasks_body(views: list[TaskView]) -> dict[str, Any]:
    return {"status": "success", "tasks": [task_json(view) for view in views]}


def task_page_body(page: TaskPage, *, paged: bool) -> dict[str, Any]:
    """A listing's answer: with `next_cursor` when the request asked for a page."""
    body = tasks_body(page.tasks)
    return {**body, "next_cursor": page.next_cursor} if paged else body


def run_json(run: Run, *, full: bool, named: bool = True) -> dict[str, Any]:
    """The run; `named` adds `title` and `email_subject` (not in a task's recent_runs, whose
    runs are read without their deliveries)."""
    body: dict[str, Any] = {
        "id": run.id,
        "status": run.status.value,
        "taskIdentifier": run.task_identifier,
        "idempotencyKey": run.idempotency_key,
        "version": run.version or __version__,
        "isTest": run.is_test,
        "createdAt": iso_utc(run.created_at),
        "updatedAt": iso_utc(run.updated_at),
        "startedAt": _iso(run.started_at),
        "finishedAt": _iso(run.finished_at),
        "delayedUntil": _iso(run.delayed_until),
        "ttl": None,
        "expiredAt": None,
        "tags": run.tags,
        "metadata": run.metadata,
        "costInCents": run.cost_in_cents,
        "baseCostInCents": 0,
        "durationMs": run.duration_ms,
        "env": ENVIRONMENT,
        "depth": 0,
        "batchId": None,
        "triggerFunction": run.trigger_function,
        "taskId": None if run.task_id is None else str(run.task_id),
        "trigger": run.trigger.value,
        "attemptCount": run.attempt_count,
    }
    if named:
        body["title"] = run.task_title
        body["email_subject"] = email_subject(run.deliveries)
    if full:
        body["payload"] = run.payload
        body["output"] = run_output(run.output, run.deliveries)
        body["error"] = run.error
        body["attempts"] = [attempt_json(attempt) for attempt in run.attempts]
        body["schedule"] = _schedule_info(run)
        body["relatedRuns"] = None
    return body


def attempt_json(attempt: Attempt) -> dict[str, Any]:
    return {
        "id": attempt.id,
        "number": attempt.number,
        "status": attempt.status.value,
        "createdAt": iso_utc(attempt.created_at),
        "updatedAt": iso_utc(attempt.updated_at),
        "startedAt": _iso(attempt.started_at),
        "completedAt": _iso(attempt.completed_at),
        "error": attempt.error,
    }


def _schedule_info(run: Run) -> dict[str, Any] | None:
    if run.scheduled_for is None or run.task_id is None:
        return None
    payload = run.payload or {}
    return {
        "id": schedule_id(run.task_id),
        "externalId": str(run.task_id),
        "timestamp": iso_utc(run.scheduled_for),
        "generator": {
            "type": "CRON",
            "expression": payload.get("schedule"),
            "timezone": payload.get("timezone"),
        },
    }
