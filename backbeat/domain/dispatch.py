"""Building a run for a task: what it is asked to do, fixed at the moment it is created."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from backbeat import __version__
from backbeat.domain.clock import iso_utc
from backbeat.domain.ids import new_run_id
from backbeat.domain.models import Run, Task
from backbeat.domain.runs import TASK_IDENTIFIER, RunStatus, Trigger


@dataclass(frozen=True, slots=True)
class RunDefaults:
    default_model: str = "anthropic/claude-sonnet-4.6"
    max_attempts: int = 3  # a task's max_attempts overrides it
    allow_overlap: bool = False  # let two runs of one task execute at once


def run_payload(task: Task, fire_at: datetime | None, default_model: str) -> dict[str, Any]:
    """What a run is asked to do. Later edits of the task do not change a run's payload."""
    return {
        "task_id": str(task.id),
        "account_id": str(task.account_id),
        "artist_account_id": str(task.artist_account_id),
        "title": task.title,
        "prompt": task.prompt,
        "model": task.model or default_model,
        "schedule": task.schedule,
        "timezone": task.timezone,
        "fire_time": None if fire_at is None else iso_utc(fire_at),
    }


def new_run(
    task: Task,
    *,
    trigger: Trigger,
    created_at: datetime,
    defaults: RunDefaults,
    fire_at: datetime | None = None,
    is_test: bool = False,
    metadata: dict[str, Any] | None = None,
) -> Run:
    run_id = new_run_id()
    scheduled = fire_at is not None
    tags = ["scheduled"] if scheduled else ["manual"]
    if is_test:
        tags.append("test")
    return Run(
        id=run_id,
        task_id=task.id,
        account_id=task.account_id,
        artist_account_id=task.artist_account_id,
        task_identifier=TASK_IDENTIFIER,
        status=RunStatus.QUEUED,
        trigger=trigger,
        trigger_function="trigger",
        # Scheduled runs are keyed by their fire time (one per fire); a manual run by itself.
        idempotency_key=f"{task.id}:{iso_utc(fire_at)}" if fire_at else f"manual:{run_id}",
        scheduled_for=fire_at,
        is_test=is_test,
        created_at=created_at,
        updated_at=created_at,
        max_attempts=task.max_attempts or defaults.max_attempts,
        tags=tags,
        metadata=metadata,
        payload=run_payload(task, fire_at, defaults.default_model),
        available_at=created_at,
        version=__version__,
        concurrency_key=None if defaults.allow_overlap else str(task.id),
    )
