"""Create, read, update and delete tasks; each in one transaction."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from enum import Enum
from uuid import UUID, uuid4

from backbeat.domain.agent_settings import NO_SETTINGS
from backbeat.domain.clock import Clock
from backbeat.domain.cron import Schedule
from backbeat.domain.errors import AccessDenied, NotFound
from backbeat.domain.metrics import NO_METRICS, Recorder
from backbeat.domain.models import Run, Task
from backbeat.domain.plans import PlanLimitReached, PlanRefusal, blocked_at_run_time, violation
from backbeat.domain.ports import SecretBox, UnitOfWork
from backbeat.services.access import Acting, check_artist, reach, resolve_account, resolve_acting
from backbeat.services.agent_settings import AGENT_FIELDS, agent_settings
from backbeat.services.cursors import encode_cursor, task_position
from backbeat.services.keys import Caller
from backbeat.services.runs import cancel_locked
from backbeat.services.task_delivery import DeliveryInput, settings_to_store, shown
from backbeat.services.webhooks import RunEvents

RECENT_RUNS = 5
UPCOMING = 5
# What a task does and to whom: changing them through a shared organization keeps the
# task within that organization's reach.
INSTRUCTIONS = ("title", "prompt", "artist_account_id", "agent")


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
    delivery: DeliveryInput | None = None
    pause_after_failures: int | None = None
    tools: list[str] | None = None
    max_run_cost_usd: float | None = None
    max_output_tokens: int | None = None
    model_timeout_seconds: float | None = None


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
    delivery: DeliveryInput | Unset | None = UNSET
    pause_after_failures: int | Unset | None = UNSET
    tools: list[str] | Unset | None = UNSET
    max_run_cost_usd: float | Unset | None = UNSET
    max_output_tokens: int | Unset | None = UNSET
    model_timeout_seconds: float | Unset | None = UNSET

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
    artist_name: str | None = None  # None when unknown
    # Read by id, an enabled task its owner's plan does not let run: why (else None).
    plan_block: PlanRefusal | None = None


@dataclass(frozen=True, slots=True)
class TaskPage:
    tasks: list[TaskView]
    next_cursor: str | None  # pass back as `cursor` for the next, older page


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
        billing_url: str | None = None,
        metrics: Recorder = NO_METRICS,
        events: RunEvents | None = None,
        box: SecretBox | None = None,
    ) -> None:
        self._uow = uow
        self._clock = clock
        self._box = box  # seals and opens the Slack URLs of delivery settings
        self._metrics = metrics
        self._events = events or RunEvents()
        self._on_schedule_change = on_schedule_change or (lambda: None)
        self._billing_url = billing_url  # `billingUrl` of the plan's refusals

    def list_tasks(
        self,
        caller: Caller,
        *,
        account_id: UUID | None = None,
        task_id: UUID | None = None,
        artist_account_id: UUID | None = None,
        enabled: bool | None = None,
    ) -> list[TaskView]:
        """All the tasks (Recoup's listing), newest first."""
        return self.page_tasks(
            caller,
            limit=None,
            account_id=account_id,
            task_id=task_id,
            artist_account_id=artist_account_id,
            enabled=enabled,
        ).tasks

    def page_tasks(
        self,
        caller: Caller,
        *,
        limit: int | None,
        cursor: str | None = None,
        account_id: UUID | None = None,
        task_id: UUID | None = None,
        artist_account_id: UUID | None = None,
        enabled: bool | None = None,
    ) -> TaskPage:
        """Up to `limit` tasks (None: all), newest first, after the page `cursor` ended."""
        before = None if cursor is None else task_position(cursor)
        with self._uow() as uow:
            owner = resolve_account(uow, caller, account_id)
            found = uow.tasks.list_for_account(
                owner,
                task_id=task_id,
                artist_account_id=artist_account_id,
                enabled=enabled,
                limit=None if limit is None else limit + 1,  # one more: is there a next page?
                before=before,
            )
            more = limit is not None and len(found) > limit
            views = self._views(uow, found[:limit])
            if task_id is not None and len(views) == 1 and views[0].task.is_active:
                views = [replace(views[0], plan_block=self._run_block(uow, views[0].task))]
        last = views[-1].task if more else None
        cursor = None if last is None else encode_cursor(last.created_at, str(last.id))
        return TaskPage(views, cursor)

    def create(self, caller: Caller, draft: TaskDraft) -> TaskView:
        now = self._clock.now()
        schedule = Schedule.parse(draft.schedule, draft.timezone)
        with self._uow(write=True) as uow:
            acting = resolve_acting(uow, caller, draft.account_id)
            owner = acting.account_id
            check_artist(uow, owner, draft.artist_account_id, acting.scope)
            self._check_plan(uow, owner, schedule=draft.schedule, takes_slot=True)
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
                pause_after_failures=draft.pause_after_failures,
                agent=agent_settings(
                    NO_SETTINGS,
                    {
                        "tools": draft.tools,
                        "max_run_cost_usd": draft.max_run_cost_usd,
                        "max_output_tokens": draft.max_output_tokens,
                        "model_timeout_seconds": draft.model_timeout_seconds,
                    },
                    uow,
                    owner,
                    acting.scope,
                ),
            )
            task = replace(
                task,
                delivery=settings_to_store(
                    uow, self._box, owner, acting.scope, draft.delivery, None
                ),
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
            task, acting = self._owned(uow, caller, task_id, account_id)
            if "delivery" in changes:
                changes["delivery"] = settings_to_store(
                    uow,
                    self._box,
                    task.account_id,
                    narrowed(task.scope_organization_ids, acting),
                    patch.delivery if isinstance(patch.delivery, DeliveryInput) else None,
                    task.delivery,
                )
            agent = {name: changes.pop(name) for name in AGENT_FIELDS if name in changes}
            if agent:
                scope = narrowed(task.scope_organization_ids, acting)
                changes["agent"] = agent_settings(task.agent, agent, uow, task.account_id, scope)
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
            # The plan: re-enabling takes a slot, a new schedule is cadence-checked; other
            # edits (title, prompt…) never consult it.
            takes_slot = updated.is_active and not task.is_active
            new_schedule = updated.schedule if updated.schedule != task.schedule else None
            if takes_slot or new_schedule is not None:
                self._check_plan(
                    uow,
                    task.account_id,
                    schedule=new_schedule,
                    takes_slot=takes_slot,
                    excluding=task.id,
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
            self._owned(uow, caller, task_id, account_id)
            canceled = [
                cancel_locked(
                    uow, run, now, "the task was deleted before it was delivered", self._events
                )
                for run in uow.work.unfinished_of_task(task_id)
            ]
            uow.tasks.delete(task_id)
            uow.commit()
        for cancellation in canceled:
            cancellation.count(self._metrics)
        self._on_schedule_change()

    @staticmethod
    def _owned(
        uow: UnitOfWork, caller: Caller, task_id: UUID, account_id: UUID | None
    ) -> tuple[Task, Acting]:
        """The task (locked), and how far the caller reaches in its owner's account.

        Recoup's owner rule: the caller may change a task whose owner it may act for, with
        or without `account_id`. An `account_id` is still checked first, and the owner must
        be one that account may act for too; the reach is never further than the caller's.
        """
        acting = resolve_acting(uow, caller, account_id)
        task = uow.tasks.get(task_id, for_update=True)
        if task is None:
            raise NotFound("Task not found")
        if task.account_id == acting.account_id:
            return task, acting
        denied = AccessDenied("Access denied to this task")
        acting_for_another = acting.account_id != caller.account_id
        if acting_for_another and reach(uow, acting.account_id, task.account_id) is None:
            raise denied
        owner = reach(uow, caller.account_id, task.account_id)
        if owner is None:
            raise denied
        return task, owner

    def _check_plan(
        self,
        uow: UnitOfWork,
        owner: UUID,
        *,
        schedule: str | None,
        takes_slot: bool,
        excluding: UUID | None = None,
    ) -> None:
        """PlanLimitReached when the owner's plan (if any) refuses a task taking a slot
        (`takes_slot`) or getting `schedule`. Before any write: a refusal changes nothing."""
        plan = uow.accounts.plan(owner, for_update=True)  # its checks take turns
        if plan is None:
            return
        count = uow.tasks.count_active(owner, excluding=excluding)
        limit = violation(plan, count, schedule=schedule, takes_slot=takes_slot)
        if limit is not None:
            raise PlanLimitReached(PlanRefusal(plan, limit, count, self._billing_url))

    def _run_block(self, uow: UnitOfWork, task: Task) -> PlanRefusal | None:
        """Why the owner's plan does not let this enabled task run, if it does not: it fires
        too often, or older enabled tasks fill the plan's slots."""
        plan = uow.accounts.plan(task.account_id)
        if plan is None:
            return None
        older = uow.tasks.active_before([task.id]).get(task.id, 0)
        limit = blocked_at_run_time(plan, task.schedule, older_enabled=older)
        if limit is None:
            return None
        count = uow.tasks.count_active(task.account_id, excluding=task.id)
        return PlanRefusal(plan, limit, count, self._billing_url)

    def _views(self, uow: UnitOfWork, tasks: list[Task]) -> list[TaskView]:
        """Views for tasks with a constant number of queries, however many tasks."""
        if not tasks:
            return []
        now = self._clock.now()
        emails = uow.accounts.emails({task.account_id for task in tasks})
        artists = uow.accounts.artist_names({task.artist_account_id for task in tasks})
        recent = uow.runs.recent_by_task([task.id for task in tasks], RECENT_RUNS)
        return [
            TaskView(
                task=replace(task, delivery=shown(self._box, task.delivery)),
                owner_email=emails.get(task.account_id),
                recent_runs=recent.get(task.id, []),
                upcoming=task.parsed_schedule().upcoming(now, UPCOMING) if task.is_active else [],
                artist_name=artists.get(task.artist_account_id),
            )
            for task in tasks
        ]
