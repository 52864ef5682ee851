"""Reading runs, with the same tenancy rules as tasks."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any
from uuid import UUID

from backbeat.domain import attempts
from backbeat.domain.clock import Clock
from backbeat.domain.deliveries import Delivery
from backbeat.domain.dispatch import RunDefaults, new_run
from backbeat.domain.errors import AccessDenied, Conflict, NotFound
from backbeat.domain.metrics import NO_METRICS, Recorder
from backbeat.domain.models import Run
from backbeat.domain.ports import UnitOfWork
from backbeat.domain.runs import RunStatus, Trigger
from backbeat.services.access import resolve_account
from backbeat.services.cursors import decode_cursor, encode_cursor
from backbeat.services.keys import Caller
from backbeat.services.outbox import CANCELED_BEFORE_DELIVERY, abandon_pending, count_delivery
from backbeat.services.webhooks import RunEvents

UnitOfWorkFactory = Callable[..., UnitOfWork]


@dataclass(frozen=True, slots=True)
class RunPage:
    runs: list[Run]
    next_cursor: str | None  # pass back as `cursor` for the next, older page


@dataclass(frozen=True)
class Cancellation:
    """A run canceled in a transaction, and the deliveries it abandoned: counted once the
    transaction has committed (`count`), never before."""

    run: Run
    abandoned: list[Delivery]

    def count(self, metrics: Recorder) -> None:
        metrics.run_finished(self.run.status)
        for delivery in self.abandoned:
            count_delivery(metrics, delivery)


def cancel_locked(
    uow: UnitOfWork, run: Run, now: datetime, reason: str, events: RunEvents
) -> Cancellation:
    """Cancel a run whose row this transaction has locked: its attempt ends, its lease token
    dies (so the attempt may neither record nor send anything more once this commits), its
    pending deliveries are abandoned with `reason`, and its run.canceled event is raised."""
    attempt = uow.work.current_attempt(run.id)
    canceled, ended = attempts.cancel(run, attempt, now)
    uow.work.save(canceled)
    if ended is not None:
        uow.work.save_attempt(ended)
    abandoned = abandon_pending(uow, run.id, now, reason)
    events.record(uow, canceled, now)
    return Cancellation(canceled, abandoned)


def named(uow: UnitOfWork, runs: list[Run]) -> list[Run]:
    """The runs with their task's title and their deliveries (for `title` and
    `email_subject`): two queries however many runs."""
    titles = uow.tasks.titles(run.task_id for run in runs if run.task_id is not None)
    deliveries = uow.deliveries.of_runs([run.id for run in runs])
    return [
        replace(
            run,
            task_title=None if run.task_id is None else titles.get(run.task_id),
            deliveries=deliveries.get(run.id, []),
        )
        for run in runs
    ]


class RunService:
    def __init__(
        self,
        uow: UnitOfWorkFactory,
        clock: Clock,
        defaults: RunDefaults,
        *,
        on_queued: Callable[[], None] | None = None,
        metrics: Recorder = NO_METRICS,
        events: RunEvents | None = None,
    ) -> None:
        self._uow = uow
        self._clock = clock
        self._metrics = metrics
        self._events = events or RunEvents()
        self._defaults = defaults
        self._on_queued = on_queued or (lambda: None)

    def trigger(
        self,
        caller: Caller,
        task_id: UUID,
        *,
        account_id: UUID | None = None,
        is_test: bool = False,
    ) -> Run:
        """Run a task now (paused tasks too: running on demand is not the schedule)."""
        now = self._clock.now()
        with self._uow(write=True) as uow:
            owner = resolve_account(uow, caller, account_id)
            task = uow.tasks.get(task_id)
            if task is None:
                raise NotFound("Task not found")
            if task.account_id != owner:
                raise AccessDenied("Access denied to this task")
            run = new_run(
                task,
                trigger=Trigger.MANUAL,
                created_at=now,
                defaults=self._defaults,
                is_test=is_test,
            )
            uow.runs.add(run)
            uow.commit()
        self._metrics.run_created(Trigger.MANUAL)
        self._on_queued()
        return replace(run, task_title=task.title)

    def cancel(self, caller: Caller, run_id: str) -> Run:
        """Cancel a queued, waiting or executing run; a finished one answers Conflict."""
        now = self._clock.now()
        with self._uow(write=True) as uow:
            run = uow.work.get_for_update(run_id)
            if run is None or not self._may_see(uow, caller, run):
                raise NotFound("Task run not found")
            if run.status.is_final:
                raise Conflict(f"the run has already finished ({run.status.value})")
            cancellation = cancel_locked(uow, run, now, CANCELED_BEFORE_DELIVERY, self._events)
            [run] = named(uow, [cancellation.run])
            uow.commit()
        cancellation.count(self._metrics)
        return run

    @staticmethod
    def _may_see(uow: UnitOfWork, caller: Caller, run: Run) -> bool:
        try:
            resolve_account(uow, caller, run.account_id)
        except AccessDenied:
            return False
        return True

    def get(self, caller: Caller, run_id: str) -> Run:
        """The run in full, if the caller may act for its account; else "Task run not found"."""
        with self._uow() as uow:
            run = uow.runs.get(run_id)
            if run is None or not self._may_see(uow, caller, run):
                raise NotFound("Task run not found")
            [run] = named(uow, [run])
            return run

    def previous_report(self, caller: Caller, run: Run) -> dict[str, Any] | None:
        """The report of the task's last completed run before `run` (its `run_id`,
        `created_at` and `output` text), for comparing; None when there is none."""
        if run.task_id is None:
            return None
        with self._uow() as uow:
            if not self._may_see(uow, caller, run):
                raise NotFound("Task run not found")
            found = uow.work.previous_outputs(run.task_id, run.created_at, 1)
        return found[0] if found else None

    def list_runs(
        self,
        caller: Caller,
        *,
        limit: int,
        account_id: UUID | None = None,
        task_id: UUID | None = None,
        status: RunStatus | None = None,
        cursor: str | None = None,
    ) -> RunPage:
        before = None if cursor is None else decode_cursor(cursor)
        with self._uow() as uow:
            owner = resolve_account(uow, caller, account_id)
            found = uow.runs.list_for_account(
                owner, limit=limit + 1, task_id=task_id, status=status, before=before
            )
            page, more = named(uow, found[:limit]), len(found) > limit
        last = page[-1] if more else None
        return RunPage(page, None if last is None else encode_cursor(last.created_at, last.id))
