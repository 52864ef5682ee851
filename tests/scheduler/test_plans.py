"""Tasks over their owner's plan do not fire: the scheduler records nothing for their fire
times, moves their cursors on, and counts them (backbeat_fires_over_plan_total)."""

from __future__ import annotations

from backbeat.domain.plans import Plan
from backbeat.testing import FakeClock
from backbeat.wiring import Backbeat
from tests.conftest import Tenant
from tests.scheduler.test_dispatch import all_runs, at, new_task, patch, tick_at


def over_plan(backbeat: Backbeat) -> float:
    value = backbeat.metrics.registry.get_sample_value("backbeat_fires_over_plan_total")
    return value or 0.0


def test_the_oldest_tasks_keep_their_slots(
    backbeat: Backbeat, clock: FakeClock, alice: Tenant, bob: Tenant
) -> None:
    oldest = new_task(backbeat, alice, "0 9 * * 2")
    clock.advance(seconds=1)
    middle = new_task(backbeat, alice, "0 9 * * 2")
    clock.advance(seconds=1)
    newest = new_task(backbeat, alice, "0 9 * * 2")
    bobs = new_task(backbeat, bob, "0 9 * * 2")  # Bob has no plan
    backbeat.admin.set_plan(alice.account_id, Plan.STARTER, task_limit=2)

    report = tick_at(backbeat, clock, "2026-01-06T09:00:00Z")

    assert report.runs_created == 3
    assert report.over_plan == 1
    counts = [len(all_runs(backbeat, task)) for task in (oldest, middle, newest, bobs)]
    assert counts == [1, 1, 0, 1]
    assert over_plan(backbeat) == 1
    with backbeat.uow() as uow:  # the cursor moved on: the fire is not kept for later
        task = uow.tasks.get(newest)
    assert task is not None
    assert task.next_fire_at == at("2026-01-13T09:00:00Z")

    patch(backbeat, alice, oldest, enabled=False)  # a slot comes free
    assert tick_at(backbeat, clock, "2026-01-13T09:00:00Z").runs_created == 3
    assert len(all_runs(backbeat, newest)) == 1
    assert over_plan(backbeat) == 1


def test_a_task_too_frequent_for_the_plan_does_not_fire(
    backbeat: Backbeat, clock: FakeClock, alice: Tenant
) -> None:
    task = new_task(backbeat, alice, "0 9 * * *")
    backbeat.admin.set_plan(alice.account_id, Plan.FREE)

    report = tick_at(backbeat, clock, "2026-01-06T09:00:00Z")

    assert (report.runs_created, report.over_plan) == (0, 1)
    assert all_runs(backbeat, task) == []

    backbeat.admin.set_plan(alice.account_id, None)
    assert tick_at(backbeat, clock, "2026-01-07T09:00:00Z").runs_created == 1
