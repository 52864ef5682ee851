"""The composition root: settings in, a wired Backbeat out. Nothing else constructs services."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy import Engine

from backbeat.config import Settings
from backbeat.domain.clock import Clock, SystemClock
from backbeat.services.admin import AdminService
from backbeat.services.runs import RunService
from backbeat.services.scheduler import Scheduler, SchedulerPolicy
from backbeat.services.tasks import TaskService
from backbeat.store.engine import make_engine
from backbeat.store.uow import SqlUnitOfWork


@dataclass
class Backbeat:
    settings: Settings
    engine: Engine
    clock: Clock
    tasks: TaskService
    runs: RunService
    admin: AdminService
    scheduler: Scheduler
    # Set when a task's timing changes, so an in-process scheduler wakes before its nap ends.
    schedule_changed: threading.Event = field(default_factory=threading.Event)

    def uow(self, write: bool = False) -> SqlUnitOfWork:
        return SqlUnitOfWork(self.engine, write=write)

    def close(self) -> None:
        self.engine.dispose()


def scheduler_policy(settings: Settings) -> SchedulerPolicy:
    return SchedulerPolicy(
        grace=timedelta(seconds=settings.misfire_grace_seconds),
        max_attempts=settings.max_attempts,
        default_model=settings.default_model,
        allow_overlap=settings.allow_task_overlap,
    )


def build(
    settings: Settings, *, clock: Clock | None = None, engine: Engine | None = None
) -> Backbeat:
    clock = clock or SystemClock(settings.clock_start)
    engine = engine or make_engine(settings.database_url, pool_size=settings.db_pool_size)
    schedule_changed = threading.Event()

    def uow(write: bool = False) -> SqlUnitOfWork:
        return SqlUnitOfWork(engine, write=write)

    return Backbeat(
        settings=settings,
        engine=engine,
        clock=clock,
        tasks=TaskService(uow, clock, on_schedule_change=schedule_changed.set),
        runs=RunService(uow),
        admin=AdminService(uow, clock, lambda: settings.secret),
        scheduler=Scheduler(uow, clock, scheduler_policy(settings)),
        schedule_changed=schedule_changed,
    )
