"""Create, read, update and delete tasks; each in one transaction."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from enum import Enum
from uuid import UUID, uuid4

from backbeat import metrics
from backbeat.domain.clock import Clock
from backbeat.domain.cron import Schedule
from backbeat.domain.errors import AccessDenied, NotFound
from backbeat.domain.models import Run, Task
from backbeat.domain.ports import UnitOfWork
from backbeat.services.access import Acting, check_artist, resolve_account, resolve_acting
from backbeat.services.keys import Caller
from backbeat.services.runs import cancel_locked

RECENT_RUNS = 5
UPCOMING = 5
# What a task does and to whom: changing them through a shared organization keeps the
# task within that organization's reach.
INSTRUCTIONS = ("title", "prompt", "artist_account_id")


class Unset(Enum):
    UNSET = "UNSET"


UNSET = Unset.UNSET


@dataclass(frozen=True, slots=True)
class TaskDraft:
    """A validated create request."""

    title: str
    prompt: str
    schedule: str
    artist_account_id: UUID
    account_id: UUID | None = None
    timezone: str = "UTC"
    model: str | None = None
    misfire_grace_seconds: int | None = None
    max_attempts: int | None = None


@dataclass(frozen=True, slots=True)
class TaskPatch:
    """A validated update request: only the fields given are changed."""

    title: str | Unset = UNSET
    prompt: str | Unset = UNSET
    schedule: str | Unset = UNSET
    timezone: str | Unset = UNSET
    artist_account_id: UUID | Unset = UNSET
    enabled: bool | Unset | None = UNSET
    model: str | Unset = UNSET
    misfire_grace_seconds: int | Unset | None = UNSET
    max_attempts: int | Unset | None = UNSET

    def given(self) -> dict[str, object]:
        return {
            name: getattr(self, name)
            for name in self.__dataclass_fields__
            if getattr(self, name) is not UNSET
        }


@dataclass(frozen=True, slots=True)
class TaskView:
    """A task as the API shows it."""

    task: Task
    owner_email: str | None
    recent_runs: list[Run]
    upcoming: list[datetime]


UnitOfWorkFactory = Callable[..., UnitOfWork]


def next_fire(task: Task, now: datetime) -> datetime | None:
    """Where the scheduler's cursor goes after an edit: the first fire after now, if active."""
    if not task.is_active:
        return None
    return task.parsed_schedule().next_after(now)


def narrowed(scope: tuple[UUID, ...] | None, acting: Acting) -> tuple[UUID, ...] | None:
    """A task's scope once `acting` changed what it does: never wider than either."""
    if acting.scope is None:
        return scope
    if scope is None:
        return acting.scope
    return tuple(organization for organization in scope if organization in acting.scope)


class TaskService:
    def __init__(
        self,
        uow: UnitOfWorkFactory,
        clock: Clock,
        *,
        on_schedule_change: Callable[[], None] | None = None,
    ) -> None:
        self._uow = uow
        self._clock = clock
        self._on_schedule_change = on_schedule_change or (lambda: None)

    def list_tasks(
        self,
        caller: Caller,
        *,
        account_id: UUID | None = None,
        task_id: UUID | None = None,
        artist_account_id: UUID | None = None,
        enabled: bool | None = None,
    ) -> list[TaskView]:
        with self._uow() as uow:
            owner = resolve_account(uow, caller, account_id)
            found = uow.tasks.list_for_account(
                owner, task_id=task_id, artist_account_id=artist_account_id, enabled=enabled
            )
            return self._views(uow, found)

    def create(self, caller: Caller, draft: TaskDraft) -> TaskView:
        now = self._clock.now()
        schedule = Schedule.parse(draft.schedule, draft.timezone)
        with self._uow(write=True) as uow:
            acting = resolve_acting(uow, caller, draft.account_id)
            owner = acting.account_id
            check_artist(uow, owner, draft.artist_account_id, acting.scope)
            task = Task(
                id=uuid4(),
                account_id=owner,
                artist_account_id=draft.artist_account_id,
                title=draft.title,
                prompt=draft.prompt,
                schedule=draft.schedule,
                timezone=draft.timezone,
                enabled=True,
                model=draft.model,
                created_at=now,
                updated_at=now,
                next_fire_at=schedule.next_after(now),
                misfire_grace_seconds=draft.misfire_grace_seconds,
                max_attempts=draft.max_attempts,
                scope_organization_ids=acting.scope,
            )
            uow.tasks.add(task)
            view = self._views(uow, [task])[0]
            uow.commit()
        self._on_schedule_change()
        return view

    def update(
        self, caller: Caller, task_id: UUID, patch: TaskPatch, *, account_id: UUID | None = None
    ) -> TaskView:
        now = self._clock.now()
        changes = patch.given()
        with self._uow(write=True) as uow:
            acting = resolve_acting(uow, caller, account_id)
            task = self._task_of(uow, acting.account_id, task_id)
            updated: Task = replace(task, **changes)  # type: ignore[arg-type]
            rewrites = acting.scope is not None and any(
                getattr(updated, name) != getattr(task, name) for name in INSTRUCTIONS
            )
            if isinstance(patch.artist_account_id, UUID) or rewrites:
                check_artist(uow, task.account_id, updated.artist_account_id, acting.scope)
            if rewrites:
                updated = replace(
                    updated, scope_organization_ids=narrowed(task.scope_organization_ids, acting)
                )
            timing_changed = any(
                name in changes for name in ("schedule", "timezone", "enabled")
            ) and (
                updated.schedule != task.schedule
                or updated.timezone != task.timezone
                or updated.is_active != task.is_active
            )
            if timing_changed:
                updated = replace(updated, next_fire_at=next_fire(updated, now))
            if changes:
                updated = replace(updated, updated_at=now)
                uow.tasks.update(updated)
            view = self._views(uow, [updated])[0]
            uow.commit()
        if timing_changed:
            self._on_schedule_change()
        return view

    def delete(self, caller: Caller, task_id: UUID, *, account_id: UUID | None = None) -> None:
        """Delete the task and, in the same transaction, cancel its unfinished runs (they stay
        readable): a run queued or executing before the delete runs, and sends, nothing more."""
        now = self._clock.now()
        with self._uow(write=True) as uow:
            self._owned_task(uow, caller, task_id, account_id)
            canceled = [
                cancel_locked(uow, run, now, "the task was deleted before it was delivered")
                for run in uow.work.unfinished_of_task(task_id)
            ]
            uow.tasks.delete(task_id)
            uow.commit()
        for run in canceled:
            metrics.current().run_finished(run.status)
        self._on_schedule_change()

    def _owned_task(
        self, uow: UnitOfWork, caller: Caller, task_id: UUID, account_id: UUID | None
    ) -> Task:
        return self._task_of(uow, resolve_account(uow, caller, account_id), task_id)

    @staticmethod
    def _task_of(uow: UnitOfWork, owner: UUID, task_id: UUID) -> Task:
        task = uow.tasks.get(task_id, for_update=True)
        if task is None:
            raise NotFound("Task not found")
        if task.account_id != owner:
            raise AccessDenied("Access denied to this task")
        return task

    def _views(self, uow: UnitOfWork, tasks: list[Task]) -> list[TaskView]:
        """Views for tasks with a constant number of queries, however many tasks."""
        if not tasks:
            return []
        now = self._clock.now()
        emails = uow.accounts.emails({task.account_id for task in tasks})
        recent = uow.runs.recent_by_task([task.id for task in tasks], RECENT_RUNS)
        return [
            TaskView(
                task=task,
                owner_email=emails.get(task.account_id),
                recent_runs=recent.get(task.id, []),
                upcoming=task.parsed_schedule().upcoming(now, UPCOMING) if task.is_active else [],
            )
            for task in tasks
        ]
