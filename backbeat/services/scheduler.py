"""Dispatching due fires into runs: the scheduler's one step, `tick(now)`.

Each batch is one short transaction: claim due tasks (locked, skipping rows another
scheduler holds), decide each one (domain.scheduling), insert the runs (the unique key on
task and fire time refuses a second one), move the cursors, commit. A scheduler that dies
mid-batch loses its transaction and its locks with it; the next one picks the tasks up.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from uuid import UUID

from backbeat.domain.clock import Clock, iso_utc
from backbeat.domain.cron import ScheduleError
from backbeat.domain.dispatch import RunDefaults, new_run
from backbeat.domain.metrics import NO_METRICS, Recorder
from backbeat.domain.models import Run, Task
from backbeat.domain.plans import blocked_at_run_time
from backbeat.domain.ports import UnitOfWork
from backbeat.domain.runs import Trigger
from backbeat.domain.scheduling import FireDecision, decide

log = logging.getLogger("backbeat.scheduler")

UnitOfWorkFactory = Callable[..., UnitOfWork]


@dataclass(frozen=True, slots=True)
class SchedulerPolicy:
    grace: timedelta = timedelta(hours=1)  # a task's misfire_grace_seconds overrides it
    runs: RunDefaults = field(default_factory=RunDefaults)
    batch_size: int = 2000  # measured: larger batches cost less per run; small bursts unaffected
    max_sleep: timedelta = timedelta(seconds=5)  # catch changes made by other processes


@dataclass
class TickReport:
    tasks: int = 0  # due tasks handled
    runs_created: int = 0
    late_runs: int = 0
    coalesced: int = 0
    skipped: int = 0
    duplicates: int = 0  # runs the unique key refused (another scheduler got there first)
    over_plan: int = 0  # fires not run: the owner's plan does not allow the task
    lags: list[float] = field(default_factory=list)  # seconds from fire time to commit
    next_due: datetime | None = None

    def add(self, other: TickReport) -> None:
        self.tasks += other.tasks
        self.runs_created += other.runs_created
        self.late_runs += other.late_runs
        self.coalesced += other.coalesced
        self.skipped += other.skipped
        self.duplicates += other.duplicates
        self.over_plan += other.over_plan
        self.lags += other.lags


def scheduled_run(
    task: Task, decision: FireDecision, created_at: datetime, policy: SchedulerPolicy
) -> Run:
    assert decision.fire_at is not None
    return new_run(
        task,
        trigger=Trigger.CATCH_UP if decision.late else Trigger.SCHEDULED,
        created_at=created_at,
        defaults=policy.runs,
        fire_at=decision.fire_at,
        metadata=decision.metadata(created_at),
    )


class Scheduler:
    def __init__(
        self,
        uow: UnitOfWorkFactory,
        clock: Clock,
        policy: SchedulerPolicy,
        *,
        metrics: Recorder = NO_METRICS,
    ) -> None:
        self._uow = uow
        self._clock = clock
        self._metrics = metrics
        self.policy = policy

    def tick(self, now: datetime) -> TickReport:
        """Dispatch everything due at `now`, in batches; report, with when the next fire is due."""
        started = time.perf_counter()
        report = TickReport()
        while True:
            batch = self.dispatch_batch(now)
            report.add(batch)
            if batch.tasks < self.policy.batch_size:
                break
        with self._uow() as uow:
            report.next_due = uow.schedules.earliest_due()
        self._metrics.tick(time.perf_counter() - started)
        return report

    def next_wake(self, report: TickReport, now: datetime) -> datetime:
        """Sleep until the next fire, but not longer than max_sleep (other processes edit)."""
        latest = now + self.policy.max_sleep
        return latest if report.next_due is None else max(now, min(report.next_due, latest))

    def dispatch_batch(self, now: datetime) -> TickReport:
        report = TickReport()
        with self._uow(write=True) as uow:
            due = uow.schedules.claim_due(now, self.policy.batch_size)
            if not due:
                return report
            created_at = max(now, self._clock.now())
            over_plan = self._over_plan(uow, due)
            runs: list[Run] = []
            moves: list[tuple[UUID, datetime, datetime | None]] = []
            for task in due:
                decision = self._decide(task, now)
                assert task.next_fire_at is not None
                moves.append((task.id, task.next_fire_at, decision.next_fire_at))
                report.coalesced += decision.coalesced
                report.skipped += decision.skipped
                if decision.fire_at is not None and task.id in over_plan:
                    report.over_plan += 1  # nothing is recorded for this fire
                    log.info(
                        "fire not run: over the owner's plan",
                        extra={
                            "event": "fire.over_plan",
                            "task_id": str(task.id),
                            "fire_time": iso_utc(decision.fire_at),
                        },
                    )
                elif decision.fire_at is not None:
                    runs.append(scheduled_run(task, decision, created_at, self.policy))
                if decision.skipped:
                    log.warning(
                        "missed fires skipped",
                        extra={
                            "event": "fire.skipped",
                            "task_id": str(task.id),
                            "skipped": decision.skipped,
                        },
                    )
            inserted = uow.runs.add_many(runs)
            moved = uow.schedules.advance(moves)
            uow.commit()
        if moved != len(moves):  # cannot happen while the claim holds the rows; say so if it does
            log.error(
                "some cursors did not move",
                extra={
                    "event": "scheduler.cursor_conflict",
                    "expected": len(moves),
                    "moved": moved,
                },
            )
        committed = self._clock.now()
        report.tasks = len(due)
        report.runs_created = len(inserted)
        report.duplicates = len(runs) - len(inserted)
        logging_runs = log.isEnabledFor(logging.INFO)  # 100,000 records cost, even unseen
        for run in runs:
            if run.id in inserted:
                assert run.scheduled_for is not None
                report.lags.append((committed - run.scheduled_for).total_seconds())
                report.late_runs += run.trigger is Trigger.CATCH_UP
                if logging_runs:
                    log.info(
                        "fire dispatched",
                        extra={
                            "event": "fire.dispatched",
                            "task_id": str(run.task_id),
                            "run_id": run.id,
                            "fire_time": iso_utc(run.scheduled_for),
                            "late": run.trigger is Trigger.CATCH_UP,
                        },
                    )
        recorder = self._metrics
        recorder.run_created(Trigger.SCHEDULED, report.runs_created - report.late_runs)
        recorder.run_created(Trigger.CATCH_UP, report.late_runs)
        recorder.fires_dispatched(report.lags, report.skipped, report.over_plan)
        return report

    @staticmethod
    def _over_plan(uow: UnitOfWork, due: list[Task]) -> set[UUID]:
        """The due tasks their owner's plan does not let run: too frequent for it, or past
        its task limit (the oldest enabled tasks keep the slots). One query without plans."""
        plans = uow.accounts.plans({task.account_id for task in due})
        if not plans:
            return set()
        limited = [task for task in due if task.account_id in plans]
        older = uow.tasks.active_before([task.id for task in limited])
        return {
            task.id
            for task in limited
            if blocked_at_run_time(
                plans[task.account_id], task.schedule, older_enabled=older.get(task.id, 0)
            )
            is not None
        }

    def _decide(self, task: Task, now: datetime) -> FireDecision:
        assert task.next_fire_at is not None
        grace = (
            self.policy.grace
            if task.misfire_grace_seconds is None
            else timedelta(seconds=task.misfire_grace_seconds)
        )
        try:
            schedule = task.parsed_schedule()
        except ScheduleError:
            # Only possible if the stored row was edited by hand or tzdata dropped a zone:
            # park the task rather than fail every tick.
            log.error(
                "task has an unusable schedule; parked",
                extra={"event": "task.parked", "task_id": str(task.id)},
            )
            return FireDecision(None, False, 0, 0, False, None)
        return decide(schedule, task.next_fire_at, now, grace)
