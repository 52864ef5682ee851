"""Dispatching due fires with an injected clock, over SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from sqlalchemy import text

from backbeat.domain.models import Run
from backbeat.domain.runs import RunStatus, Trigger
from backbeat.services.keys import Caller
from backbeat.services.scheduler import Scheduler, SchedulerPolicy
from backbeat.services.tasks import TaskDraft, TaskPatch
from backbeat.testing import FakeClock
from backbeat.wiring import Backbeat
from tests.conftest import Tenant


def at(text_: str) -> datetime:
    return datetime.fromisoformat(text_.replace("Z", "+00:00"))


def new_task(backbeat: Backbeat, tenant: Tenant, schedule: str, **fields: Any) -> UUID:
    caller = Caller(tenant.account_id, tenant.key_id(backbeat))
    draft = TaskDraft(
        title="Pulse",
        prompt="Analyse genre trends",
        schedule=schedule,
        artist_account_id=tenant.artist_id,
        **fields,
    )
    return backbeat.tasks.create(caller, draft).task.id


def patch(backbeat: Backbeat, tenant: Tenant, task_id: UUID, **fields: Any) -> None:
    caller = Caller(tenant.account_id, tenant.key_id(backbeat))
    backbeat.tasks.update(caller, task_id, TaskPatch(**fields))


def all_runs(backbeat: Backbeat, task_id: UUID) -> list[Run]:
    """The task's runs, oldest fire first, in full."""
    with backbeat.engine.connect() as connection:
        ids = connection.scalars(
            text("SELECT id FROM runs WHERE task_id = :t ORDER BY scheduled_for"),
            {"t": task_id.hex if connection.dialect.name == "sqlite" else task_id},
        ).all()
    with backbeat.uow() as uow:
        found = [uow.runs.get(run_id) for run_id in ids]
    return [run for run in found if run is not None]


def tick_at(backbeat: Backbeat, clock: FakeClock, when: str) -> Any:
    clock.set(at(when))
    return backbeat.scheduler.tick(clock.now())


# The fake clock starts on Monday 2026-01-05 12:00 UTC.


def test_a_due_task_gets_exactly_one_queued_run(
    backbeat: Backbeat, clock: FakeClock, alice: Tenant
) -> None:
    task_id = new_task(backbeat, alice, "0 9 * * *", model="claude-sonnet-4-20250514")

    early = tick_at(backbeat, clock, "2026-01-06T08:59:59Z")
    assert early.runs_created == 0
    assert early.next_due == at("2026-01-06T09:00:00Z")

    report = tick_at(backbeat, clock, "2026-01-06T09:00:00.250Z")
    again = backbeat.scheduler.tick(clock.now())

    assert (report.runs_created, again.runs_created) == (1, 0)
    [run] = all_runs(backbeat, task_id)
    assert run.status is RunStatus.QUEUED
    assert run.trigger is Trigger.SCHEDULED
    assert run.trigger_function == "trigger"
    assert run.scheduled_for == at("2026-01-06T09:00:00Z")
    assert run.idempotency_key == f"{task_id}:2026-01-06T09:00:00.000Z"
    assert run.account_id == alice.account_id
    assert run.max_attempts == 3
    assert run.payload is not None
    assert run.payload["prompt"] == "Analyse genre trends"
    assert run.payload["model"] == "claude-sonnet-4-20250514"
    assert run.payload["fire_time"] == "2026-01-06T09:00:00.000Z"
    assert run.metadata is not None
    assert run.metadata["late"] is False
    assert run.metadata["lag_seconds"] == 0.25
    assert report.next_due == at("2026-01-07T09:00:00Z")


def test_the_default_model_is_used_when_a_task_has_none(
    backbeat: Backbeat, clock: FakeClock, alice: Tenant
) -> None:
    task_id = new_task(backbeat, alice, "0 9 * * *")
    tick_at(backbeat, clock, "2026-01-06T09:00:00Z")

    [run] = all_runs(backbeat, task_id)
    assert run.payload is not None
    assert run.payload["model"] == backbeat.settings.default_model


def test_pausing_stops_fires_and_resuming_does_not_replay(
    backbeat: Backbeat, clock: FakeClock, alice: Tenant
) -> None:
    task_id = new_task(backbeat, alice, "0 9 * * *")
    patch(backbeat, alice, task_id, enabled=False)

    assert tick_at(backbeat, clock, "2026-01-06T09:00:01Z").runs_created == 0
    assert tick_at(backbeat, clock, "2026-01-07T09:00:01Z").runs_created == 0

    clock.set(at("2026-01-07T12:00:00Z"))
    patch(backbeat, alice, task_id, enabled=True)
    assert backbeat.scheduler.tick(clock.now()).runs_created == 0  # nothing replayed

    assert tick_at(backbeat, clock, "2026-01-08T09:00:00Z").runs_created == 1
    assert [r.scheduled_for for r in all_runs(backbeat, task_id)] == [at("2026-01-08T09:00:00Z")]


def test_enabled_null_counts_as_enabled(
    backbeat: Backbeat, clock: FakeClock, alice: Tenant
) -> None:
    task_id = new_task(backbeat, alice, "0 9 * * *")
    patch(backbeat, alice, task_id, enabled=False)
    patch(backbeat, alice, task_id, enabled=None)

    assert tick_at(backbeat, clock, "2026-01-06T09:00:00Z").runs_created == 1


def test_editing_the_schedule_or_zone_moves_the_next_fire_at_once(
    backbeat: Backbeat, clock: FakeClock, alice: Tenant
) -> None:
    task_id = new_task(backbeat, alice, "0 9 * * *")
    clock.set(at("2026-01-06T08:00:00Z"))
    patch(backbeat, alice, task_id, schedule="30 9 * * *")

    assert tick_at(backbeat, clock, "2026-01-06T09:00:00Z").runs_created == 0
    assert tick_at(backbeat, clock, "2026-01-06T09:30:00Z").runs_created == 1

    patch(backbeat, alice, task_id, timezone="America/New_York")  # 09:30 EST is 14:30 UTC
    assert tick_at(backbeat, clock, "2026-01-07T09:30:00Z").runs_created == 0
    assert tick_at(backbeat, clock, "2026-01-07T14:30:00Z").runs_created == 1


def test_editing_other_fields_keeps_the_pending_fire(
    backbeat: Backbeat, clock: FakeClock, alice: Tenant
) -> None:
    task_id = new_task(backbeat, alice, "0 9 * * *")
    clock.set(at("2026-01-06T08:59:00Z"))
    patch(backbeat, alice, task_id, title="Renamed", prompt="New prompt")

    assert tick_at(backbeat, clock, "2026-01-06T09:00:00Z").runs_created == 1
    [run] = all_runs(backbeat, task_id)
    assert run.payload is not None
    assert run.payload["prompt"] == "New prompt"


def test_deleting_stops_for_good_and_keeps_past_runs(
    backbeat: Backbeat, clock: FakeClock, alice: Tenant
) -> None:
    task_id = new_task(backbeat, alice, "0 9 * * *")
    tick_at(backbeat, clock, "2026-01-06T09:00:00Z")
    [run] = all_runs(backbeat, task_id)

    caller = Caller(alice.account_id, alice.key_id(backbeat))
    backbeat.tasks.delete(caller, task_id)

    assert tick_at(backbeat, clock, "2026-01-07T09:00:00Z").runs_created == 0
    kept = backbeat.runs.get(caller, run.id)
    assert kept.task_id is None
    assert kept.scheduled_for == at("2026-01-06T09:00:00Z")


def test_downtime_inside_the_grace_window_is_caught_up_once(
    backbeat: Backbeat, clock: FakeClock, alice: Tenant
) -> None:
    task_id = new_task(backbeat, alice, "*/15 * * * *")
    # Down from 12:00 until 12:50: 12:15, 12:30 and 12:45 were missed (12:00 was not due yet
    # when the task was created at 12:00 exactly).
    report = tick_at(backbeat, clock, "2026-01-05T12:50:00Z")

    assert (report.runs_created, report.coalesced, report.skipped) == (1, 2, 0)
    [run] = all_runs(backbeat, task_id)
    assert run.scheduled_for == at("2026-01-05T12:45:00Z")
    assert run.trigger is Trigger.CATCH_UP
    assert run.metadata == {
        "fire_time": "2026-01-05T12:45:00Z",
        "late": True,
        "lag_seconds": 300.0,
        "coalesced_fires": 2,
        "skipped_fires": 0,
    }
    assert report.next_due == at("2026-01-05T13:00:00Z")
    assert backbeat.scheduler.tick(clock.now()).runs_created == 0


def test_downtime_beyond_the_grace_window_skips_and_counts(
    backbeat: Backbeat, clock: FakeClock, alice: Tenant
) -> None:
    task_id = new_task(backbeat, alice, "0 * * * *")  # hourly; grace is 1 hour
    # Down from 12:00 to 15:30: 13:00 and 14:00 are older than the window, 15:00 is inside.
    report = tick_at(backbeat, clock, "2026-01-05T15:30:00Z")

    assert (report.runs_created, report.skipped, report.coalesced) == (1, 2, 0)
    [run] = all_runs(backbeat, task_id)
    assert run.scheduled_for == at("2026-01-05T15:00:00Z")
    assert run.metadata is not None
    assert run.metadata["skipped_fires"] == 2


def test_a_miss_entirely_outside_the_window_runs_nothing(
    backbeat: Backbeat, clock: FakeClock, alice: Tenant
) -> None:
    task_id = new_task(backbeat, alice, "0 9 * * *")
    report = tick_at(backbeat, clock, "2026-01-06T11:00:00Z")

    assert (report.runs_created, report.skipped) == (0, 1)
    assert all_runs(backbeat, task_id) == []
    assert report.next_due == at("2026-01-07T09:00:00Z")


def test_an_on_time_fire_after_long_downtime_is_not_late(
    backbeat: Backbeat, clock: FakeClock, alice: Tenant
) -> None:
    task_id = new_task(backbeat, alice, "0 9 * * *")
    report = tick_at(backbeat, clock, "2026-01-07T09:00:02Z")  # Tuesday's fire was missed

    assert (report.runs_created, report.skipped) == (1, 1)
    [run] = all_runs(backbeat, task_id)
    assert run.trigger is Trigger.SCHEDULED
    assert run.metadata is not None
    assert run.metadata["skipped_fires"] == 1


def test_a_per_task_grace_overrides_the_default(
    backbeat: Backbeat, clock: FakeClock, alice: Tenant
) -> None:
    strict = new_task(backbeat, alice, "0 9 * * *", misfire_grace_seconds=0)
    lenient = new_task(backbeat, alice, "0 9 * * *", misfire_grace_seconds=6 * 3600)

    tick_at(backbeat, clock, "2026-01-06T11:00:00Z")  # two hours late

    assert all_runs(backbeat, strict) == []
    [run] = all_runs(backbeat, lenient)
    assert run.trigger is Trigger.CATCH_UP


def test_ordinary_lag_never_counts_as_a_miss(
    backbeat: Backbeat, clock: FakeClock, alice: Tenant
) -> None:
    task_id = new_task(backbeat, alice, "0 9 * * *", misfire_grace_seconds=0)

    tick_at(backbeat, clock, "2026-01-06T09:00:30Z")

    [run] = all_runs(backbeat, task_id)
    assert run.trigger is Trigger.SCHEDULED


def test_two_schedulers_and_a_replayed_tick_never_duplicate(
    backbeat: Backbeat, clock: FakeClock, alice: Tenant
) -> None:
    task_id = new_task(backbeat, alice, "0 9 * * *")
    other = Scheduler(backbeat.uow, clock, SchedulerPolicy())
    clock.set(at("2026-01-06T09:00:00Z"))

    first = backbeat.scheduler.tick(clock.now())
    second = other.tick(clock.now())
    # A crash after the run was committed but before the cursor moved cannot happen (one
    # transaction), but if the cursor were ever put back, the unique key still holds.
    with backbeat.uow(write=True) as uow:
        uow.schedules.advance([(task_id, at("2026-01-07T09:00:00Z"), at("2026-01-06T09:00:00Z"))])
        uow.commit()
    replay = other.tick(clock.now())

    assert (first.runs_created, second.runs_created, replay.runs_created) == (1, 0, 0)
    assert replay.duplicates == 1
    assert len(all_runs(backbeat, task_id)) == 1


def test_dst_spring_forward_fires_once_after_the_gap(
    backbeat: Backbeat, clock: FakeClock, alice: Tenant
) -> None:
    clock.set(at("2026-03-07T12:00:00Z"))
    task_id = new_task(backbeat, alice, "30 2 * * *", timezone="America/New_York")

    tick_at(backbeat, clock, "2026-03-08T07:00:00Z")  # 03:00 EDT, first instant after the gap
    tick_at(backbeat, clock, "2026-03-08T08:00:00Z")

    assert [r.scheduled_for for r in all_runs(backbeat, task_id)] == [at("2026-03-08T07:00:00Z")]


def test_dst_fall_back_fires_a_specific_time_once(
    backbeat: Backbeat, clock: FakeClock, alice: Tenant
) -> None:
    clock.set(at("2026-10-31T12:00:00Z"))
    task_id = new_task(backbeat, alice, "30 1 * * *", timezone="America/New_York")

    tick_at(backbeat, clock, "2026-11-01T05:30:00Z")  # 01:30 EDT
    tick_at(backbeat, clock, "2026-11-01T06:30:00Z")  # 01:30 EST, the second copy

    assert [r.scheduled_for for r in all_runs(backbeat, task_id)] == [at("2026-11-01T05:30:00Z")]


def test_dst_fall_back_fires_a_step_schedule_in_both_copies(
    backbeat: Backbeat, clock: FakeClock, alice: Tenant
) -> None:
    clock.set(at("2026-11-01T04:59:00Z"))
    task_id = new_task(backbeat, alice, "*/30 * * * *", timezone="America/New_York")

    for minute in range(0, 150, 30):  # 05:00 … 07:00 UTC, one tick per fire
        tick_at(
            backbeat, clock, (at("2026-11-01T05:00:00Z") + timedelta(minutes=minute)).isoformat()
        )

    assert [r.scheduled_for for r in all_runs(backbeat, task_id)] == [
        at("2026-11-01T05:00:00Z"),  # 01:00 EDT
        at("2026-11-01T05:30:00Z"),  # 01:30 EDT
        at("2026-11-01T06:00:00Z"),  # 01:00 EST
        at("2026-11-01T06:30:00Z"),  # 01:30 EST
        at("2026-11-01T07:00:00Z"),  # 02:00 EST
    ]


def test_next_wake_is_the_next_fire_capped(
    backbeat: Backbeat, clock: FakeClock, alice: Tenant
) -> None:
    now = clock.now()
    empty = backbeat.scheduler.tick(now)
    assert backbeat.scheduler.next_wake(empty, now) == now + timedelta(seconds=5)

    new_task(backbeat, alice, "1 12 * * *")  # 12:01 today
    report = backbeat.scheduler.tick(now)
    assert backbeat.scheduler.next_wake(report, now) == now + timedelta(seconds=5)
    soon = now + timedelta(seconds=58)
    assert backbeat.scheduler.next_wake(report, soon) == at("2026-01-05T12:01:00Z")


def test_many_due_tasks_are_dispatched_in_batches(
    backbeat: Backbeat, clock: FakeClock, alice: Tenant
) -> None:
    small = Scheduler(backbeat.uow, clock, SchedulerPolicy(batch_size=7))
    ids = [new_task(backbeat, alice, "0 9 * * *") for _ in range(30)]

    clock.set(at("2026-01-06T09:00:00Z"))
    report = small.tick(clock.now())

    assert report.runs_created == 30
    assert all(len(all_runs(backbeat, task_id)) == 1 for task_id in ids)
    assert report.next_due == at("2026-01-07T09:00:00Z")
