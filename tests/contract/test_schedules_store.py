"""ScheduleRepository contracts (the scheduler's cursors), on every backend."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, timedelta
from uuid import uuid4
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine

from backbeat.domain.models import Task
from backbeat.store.uow import SqlUnitOfWork
from tests.contract.builders import T0, UowFactory, World, at, task
from tests.databases import engine_with

LIMA = ZoneInfo("America/Lima")


def add_tasks(uow: UowFactory, *tasks: Task) -> None:
    with uow(write=True) as u:
        for item in tasks:
            u.tasks.add(item)
        u.commit()


def test_claim_due_answers_active_due_tasks_earliest_first(uow: UowFactory, world: World) -> None:
    def make(fire: float | None, enabled: bool | None = None) -> Task:
        next_fire_at = None if fire is None else at(fire)
        return task(world.account.id, world.artist.id, next_fire_at=next_fire_at, enabled=enabled)

    late, early, exactly_now, unset = make(-5), make(-60), make(0), make(-30, enabled=None)
    enabled_true = make(-10, enabled=True)
    paused, never, future = make(-90, enabled=False), make(None), make(0.000001)
    add_tasks(uow, late, early, exactly_now, unset, enabled_true, paused, never, future)

    with uow(write=True) as u:
        due = u.schedules.claim_due(T0.astimezone(LIMA), 100)
        assert u.schedules.claim_due(T0, 2) == [early, unset]
        assert u.schedules.claim_due(T0 - timedelta(days=1), 100) == []

    assert due == [early, unset, enabled_true, late, exactly_now]


def test_claim_due_skips_tasks_another_transaction_holds(
    backend: str, uow: UowFactory, world: World, request: pytest.FixtureRequest
) -> None:
    tasks = [task(world.account.id, world.artist.id, next_fire_at=at(-n)) for n in (3, 2, 1)]
    add_tasks(uow, *tasks)

    with uow(write=True) as holder:
        assert holder.schedules.claim_due(T0, 2) == tasks[:2]
        if backend == "postgresql":  # SQLite and the memory store serialize writers instead
            # Should it wait for the held rows after all, it fails after a second, not never.
            engine: Engine = request.getfixturevalue("engine")
            with (
                engine_with(engine, "SET lock_timeout = '1s'") as waits_1s,
                SqlUnitOfWork(waits_1s, write=True) as other,
            ):
                assert other.schedules.claim_due(T0, 10) == tasks[2:]  # no waiting

    with uow(write=True) as u:  # released when the holder's transaction ended
        assert u.schedules.claim_due(T0, 10) == tasks


def test_advance_moves_only_cursors_that_still_read_from(uow: UowFactory, world: World) -> None:
    first, second, third = (
        task(world.account.id, world.artist.id, next_fire_at=at(n)) for n in (0, 10, 20)
    )
    add_tasks(uow, first, second, third)

    with uow(write=True) as u:
        moved = u.schedules.advance(
            [
                (first.id, at(0).astimezone(LIMA), at(3600)),  # same instant, another zone
                (second.id, at(9), at(3600)),  # stale: someone moved it already
                (third.id, at(20), None),  # the cron never fires again
                (uuid4(), at(0), at(1)),  # gone
            ]
        )
        assert u.schedules.advance([]) == 0
        u.commit()

    assert moved == 2
    with uow() as u:
        assert u.tasks.get(first.id) == replace(first, next_fire_at=at(3600))
        assert u.tasks.get(second.id) == second
        assert u.tasks.get(third.id) == replace(third, next_fire_at=None)


def test_earliest_due(uow: UowFactory, world: World) -> None:
    with uow() as u:
        assert u.schedules.earliest_due() is None

    add_tasks(
        uow,
        task(world.account.id, world.artist.id, next_fire_at=at(-100), enabled=False),  # paused
        task(world.account.id, world.artist.id, next_fire_at=None),
        task(world.account.id, world.artist.id, next_fire_at=at(50)),
        task(world.account.id, world.artist.id, next_fire_at=at(7).astimezone(LIMA), enabled=True),
    )
    with uow() as u:
        earliest = u.schedules.earliest_due()

    assert earliest == at(7)
    assert earliest is not None
    assert earliest.tzinfo is UTC
