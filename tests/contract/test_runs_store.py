"""RunRepository contracts, on every backend."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from uuid import UUID, uuid4
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, select

from backbeat.domain.models import Run
from backbeat.domain.runs import AttemptStatus, RunStatus, Trigger
from backbeat.store.tables import runs
from tests.contract.builders import (
    T0,
    UowFactory,
    World,
    account,
    assert_utc,
    at,
    count_rows,
    insert_attempt,
    run,
    sql_only,
    task,
)

BERLIN = ZoneInfo("Europe/Berlin")


def full_run(world: World, task_id: UUID | None, **fields: Any) -> Run:
    """A run with every optional field set, and instants in other zones."""
    values: dict[str, Any] = {
        "artist_account_id": world.artist.id,
        "task_identifier": "weekly-genre-pulse",
        "status": RunStatus.EXECUTING,
        "trigger": Trigger.SCHEDULED,
        "trigger_function": "schedule",
        "idempotency_key": "fire-2026-01-05",
        "scheduled_for": datetime_in(BERLIN, 0),
        "is_test": True,
        "created_at": datetime_in(BERLIN, 1),
        "updated_at": datetime_in(timezone(timedelta(hours=-7)), 2),
        "max_attempts": 5,
        "attempt_count": 2,
        "tags": ["weekly", "ünïcode", "日本"],
        "metadata": {"source": "api", "nested": {"list": [1, 2.5, None, True, "x"]}},
        "payload": {"prompt": "Summarise.", "options": {"temperature": 0.5}},
        "output": {"text": "All good.", "tokens": 1234},
        "error": {"message": "boom", "retryable": False},
        "available_at": datetime_in(BERLIN, 3),
        "delayed_until": datetime_in(BERLIN, 4),
        "started_at": datetime_in(BERLIN, 5),
        "finished_at": datetime_in(BERLIN, 6),
        "duration_ms": 98765,
        "cost_in_cents": 12.375,
        "version": "2026.1",
        "lease_owner": "worker-7",
        "lease_expires_at": datetime_in(BERLIN, 7),
    }
    values.update(fields)
    return run(world.account.id, task_id, **values)


def datetime_in(zone: timezone | ZoneInfo, seconds: float) -> datetime:
    return (at(seconds) + timedelta(microseconds=1)).astimezone(zone)


def light(item: Run) -> Run:
    """What listings carry: no payload, output, error or attempts."""
    return dataclasses.replace(item, payload=None, output=None, error=None, attempts=[])


def recent(item: Run) -> Run:
    """What a task's recent runs carry: a listing without the worker's bookkeeping."""
    return dataclasses.replace(
        light(item),
        available_at=None,
        lease_owner=None,
        lease_expires_at=None,
        concurrency_key=None,
    )


def count_runs(uow: UowFactory) -> int:
    return count_rows(uow, runs)


def add_task(uow: UowFactory, world: World, **fields: Any) -> UUID:
    item = task(world.account.id, world.artist.id, **fields)
    with uow(write=True) as u:
        u.tasks.add(item)
        u.commit()
    return item.id


# Round trips


def test_run_round_trips_every_field(uow: UowFactory, world: World) -> None:
    task_id = add_task(uow, world)
    full = full_run(world, task_id)
    with uow(write=True) as u:
        assert u.runs.add(full) is True
        u.commit()
    with uow() as u:
        got = u.runs.get(full.id)

    assert got == full
    assert got is not None
    assert got.created_at == at(1) + timedelta(microseconds=1)
    assert_utc(got)


@sql_only  # SQL NULL against JSON `null`: a difference only a database has
def test_run_round_trips_nulls_as_sql_nulls(uow: UowFactory, engine: Engine, world: World) -> None:
    bare = run(world.account.id, None)  # no task, every nullable field NULL
    with uow(write=True) as u:
        assert u.runs.add(bare) is True
        u.commit()
    with uow() as u:
        assert u.runs.get(bare.id) == bare
    with engine.connect() as connection:
        nulls = connection.execute(
            select(
                runs.c.metadata.is_(None),
                runs.c.payload.is_(None),
                runs.c.output.is_(None),
                runs.c.error.is_(None),
            ).where(runs.c.id == bare.id)
        ).one()
    assert tuple(nulls) == (True, True, True, True)  # not JSON `null`


def test_get_unknown_run(uow: UowFactory) -> None:
    with uow() as u:
        assert u.runs.get("run_nothing") is None


def test_get_returns_the_attempts_ordered_by_number(uow: UowFactory, world: World) -> None:
    item = run(world.account.id, None, attempt_count=3)
    other = run(world.account.id, None)
    with uow(write=True) as u:
        u.runs.add(item)
        u.runs.add(other)
        third = insert_attempt(u, item.id, 3, status=AttemptStatus.EXECUTING, worker_id="w-1")
        first = insert_attempt(
            u,
            item.id,
            1,
            error={"message": "timeout", "details": [1, None]},
            started_at=at(1.5).astimezone(BERLIN),
            completed_at=at(1.75),
        )
        second = insert_attempt(u, item.id, 2, status=AttemptStatus.CANCELED)
        insert_attempt(u, other.id, 1)
        u.commit()
    with uow() as u:
        got = u.runs.get(item.id)

    assert got is not None
    assert got.attempts == [first, second, third]
    for attempt in got.attempts:
        assert_utc(attempt)
    assert got == dataclasses.replace(item, attempts=[first, second, third])


# Never two runs for one fire time or one idempotency key


def test_add_refuses_a_second_run_for_the_same_fire_time(uow: UowFactory, world: World) -> None:
    task_id, other_task_id = add_task(uow, world), add_task(uow, world)
    fire = at(3600)
    first = run(world.account.id, task_id, scheduled_for=fire, trigger=Trigger.SCHEDULED)
    with uow(write=True) as u:
        assert u.runs.add(first) is True
        u.commit()

    again = run(
        world.account.id,
        task_id,
        scheduled_for=fire.astimezone(BERLIN),  # the same instant, written differently
        trigger=Trigger.CATCH_UP,
        status=RunStatus.EXECUTING,
    )
    elsewhere = run(world.account.id, other_task_id, scheduled_for=fire)
    with uow(write=True) as u:
        assert u.runs.add(again) is False
        assert u.runs.add(elsewhere) is True  # another task may fire at the same time
        u.commit()
    with uow() as u:
        assert u.runs.get(again.id) is None
        assert u.runs.get(first.id) == first
    assert count_runs(uow) == 2


def test_runs_without_a_fire_time_do_not_collide(uow: UowFactory, world: World) -> None:
    task_id = add_task(uow, world)
    manual = [run(world.account.id, task_id, trigger=Trigger.MANUAL) for _ in range(3)]
    with uow(write=True) as u:
        assert [u.runs.add(item) for item in manual] == [True, True, True]
        u.commit()
    assert count_runs(uow) == 3


def test_add_refuses_a_second_run_for_the_same_idempotency_key(
    uow: UowFactory, world: World
) -> None:
    task_id = add_task(uow, world)
    first = run(world.account.id, task_id, idempotency_key="client-key-1")
    with uow(write=True) as u:
        assert u.runs.add(first) is True
        u.commit()

    again = run(world.account.id, None, idempotency_key="client-key-1", tags=["different"])
    with uow(write=True) as u:
        assert u.runs.add(again) is False
        # the transaction is still usable after the refusal
        assert u.runs.add(run(world.account.id, task_id, idempotency_key="client-key-2"))
        u.commit()
    with uow() as u:
        assert u.runs.get(again.id) is None
        assert u.runs.get(first.id) == first
    assert count_runs(uow) == 2


def test_add_refuses_the_same_run_twice(uow: UowFactory, world: World) -> None:
    item = run(world.account.id, None)
    with uow(write=True) as u:
        assert u.runs.add(item) is True
        assert u.runs.add(dataclasses.replace(item, status=RunStatus.FAILED)) is False
        u.commit()
    with uow() as u:
        assert u.runs.get(item.id) == item


def test_add_many_inserts_what_does_not_collide(uow: UowFactory, world: World) -> None:
    task_id, other_task_id = add_task(uow, world), add_task(uow, world)
    existing = run(world.account.id, task_id, scheduled_for=at(0), idempotency_key="k-0")
    with uow(write=True) as u:
        assert u.runs.add(existing)
        u.commit()

    fresh = full_run(world, task_id, scheduled_for=at(60), idempotency_key="k-1")
    same_fire = run(world.account.id, task_id, scheduled_for=at(0).astimezone(BERLIN))
    same_key = run(world.account.id, other_task_id, idempotency_key="k-0")
    twin = run(world.account.id, task_id, scheduled_for=at(120))
    twin_in_batch = run(world.account.id, task_id, scheduled_for=at(120))  # collides with twin
    elsewhere = run(world.account.id, other_task_id, scheduled_for=at(0))
    with uow(write=True) as u:
        added = u.runs.add_many([fresh, same_fire, same_key, twin, twin_in_batch, elsewhere])
        assert u.runs.add_many([]) == set()
        assert u.runs.add_many([fresh]) == set()  # the same run again
        u.commit()

    assert added == {fresh.id, twin.id, elsewhere.id}
    with uow() as u:
        assert u.runs.get(fresh.id) == fresh
        assert u.runs.get(existing.id) == existing
        assert u.runs.get(twin.id) == twin
        assert u.runs.get(elsewhere.id) == elsewhere
        assert u.runs.get(same_fire.id) is None
        assert u.runs.get(same_key.id) is None
        assert u.runs.get(twin_in_batch.id) is None
    assert count_runs(uow) == 4


# recent_by_task


def test_recent_by_task(uow: UowFactory, world: World) -> None:
    busy, quiet, idle = (add_task(uow, world) for _ in range(3))
    # busy: five runs, two of them at the same instant (the id breaks the tie)
    busy_runs = [full_run(world, busy, idempotency_key=f"k{n}") for n in range(5)]
    busy_runs = [
        dataclasses.replace(item, created_at=at(seconds), scheduled_for=None)
        for item, seconds in zip(busy_runs, (1, 4, 4, 2, 3), strict=True)
    ]
    quiet_run = run(world.account.id, quiet, created=9)
    with uow(write=True) as u:
        for item in [*busy_runs, quiet_run]:
            assert u.runs.add(item)
        insert_attempt(u, busy_runs[1].id, 1)
        u.commit()

    stranger = uuid4()
    with uow() as u:
        found = u.runs.recent_by_task([busy, quiet, idle, stranger], 3)
        assert u.runs.recent_by_task([], 3) == {}

    newest_first = sorted(busy_runs, key=lambda item: (item.created_at, item.id), reverse=True)
    assert found == {
        busy: [recent(item) for item in newest_first[:3]],
        quiet: [recent(quiet_run)],
        idle: [],
        stranger: [],
    }
    for item in found[busy]:
        assert_utc(item)


def test_recent_statuses_newest_first_of_that_task_only(uow: UowFactory, world: World) -> None:
    mine, other = add_task(uow, world), add_task(uow, world)
    statuses = (RunStatus.COMPLETED, RunStatus.FAILED, RunStatus.CANCELED, RunStatus.CRASHED)
    items = [
        dataclasses.replace(run(world.account.id, mine, created=seconds), status=status)
        for seconds, status in zip((1, 4, 4, 2), statuses, strict=True)
    ]
    with uow(write=True) as u:
        for item in [*items, run(world.account.id, other, created=9)]:
            assert u.runs.add(item)
        u.commit()

    with uow() as u:
        found = u.runs.recent_statuses(mine, 3)
        assert u.runs.recent_statuses(uuid4(), 3) == []

    newest_first = sorted(items, key=lambda item: (item.created_at, item.id), reverse=True)
    assert found == [(item.id, item.status) for item in newest_first[:3]]


def test_recent_by_task_takes_more_than_500_tasks(uow: UowFactory, world: World) -> None:
    real = [add_task(uow, world) for _ in range(4)]
    added = {task_id: run(world.account.id, task_id) for task_id in real}
    with uow(write=True) as u:
        for item in added.values():
            u.runs.add(item)
        u.commit()

    wanted = [uuid4() for _ in range(1100)]
    for position, task_id in zip((0, 499, 500, 1099), real, strict=True):
        wanted[position] = task_id  # at both edges of the first and last chunks
    wanted.append(real[0])  # and once more: a task asked for twice is listed once
    with uow() as u:
        found = u.runs.recent_by_task(wanted, 2)

    assert set(found) == set(wanted)
    assert {task_id: runs for task_id, runs in found.items() if runs} == {
        task_id: [item] for task_id, item in added.items()
    }


# list_for_account


def test_list_for_account_filters_and_limit(uow: UowFactory, world: World) -> None:
    first_task, second_task = add_task(uow, world), add_task(uow, world)
    stranger = account("stranger@example.com")
    mine = [
        full_run(world, first_task, idempotency_key=None, scheduled_for=None, created_at=at(1)),
        run(world.account.id, first_task, created=2, status=RunStatus.COMPLETED),
        run(world.account.id, second_task, created=3, status=RunStatus.COMPLETED),
        run(world.account.id, None, created=4, status=RunStatus.FAILED),
        run(world.account.id, second_task, created=5),
    ]
    with uow(write=True) as u:
        u.accounts.add(stranger)
        for item in mine:
            u.runs.add(item)
        u.runs.add(run(stranger.id, None, created=6))
        insert_attempt(u, mine[0].id, 1)
        u.commit()

    newest = [light(item) for item in reversed(mine)]
    owner = world.account.id
    with uow() as u:
        assert u.runs.list_for_account(owner, limit=100) == newest
        assert u.runs.list_for_account(owner, limit=2) == newest[:2]
        assert u.runs.list_for_account(owner, limit=100, task_id=first_task) == [
            light(mine[1]),
            light(mine[0]),
        ]
        completed = u.runs.list_for_account(owner, limit=100, status=RunStatus.COMPLETED)
        assert completed == [light(mine[2]), light(mine[1])]
        assert u.runs.list_for_account(
            owner, limit=100, task_id=second_task, status=RunStatus.COMPLETED
        ) == [light(mine[2])]
        assert u.runs.list_for_account(owner, limit=100, status=RunStatus.CANCELED) == []
        assert u.runs.list_for_account(uuid4(), limit=100) == []


def test_list_for_account_pages_with_the_cursor(uow: UowFactory, world: World) -> None:
    task_id = add_task(uow, world)
    # Many runs share a created_at, so only the id keeps the pages apart.
    created = [0, 5, 5, 5, 5, 5, 7, 7, 9, 9, 9, 12]
    items = [run(world.account.id, task_id, created=seconds) for seconds in created]
    with uow(write=True) as u:
        for item in items:
            u.runs.add(item)
        u.commit()

    expected = sorted(items, key=lambda item: (item.created_at, item.id), reverse=True)
    for page_size in (1, 2, 5):
        seen: list[Run] = []
        before = None
        with uow() as u:
            while True:
                page = u.runs.list_for_account(world.account.id, limit=page_size, before=before)
                seen.extend(page)
                if len(page) < page_size:
                    break
                last = page[-1]
                before = (last.created_at.astimezone(BERLIN), last.id)  # any zone will do
        assert seen == expected, f"page size {page_size}"


def test_list_for_account_cursor_is_strict(uow: UowFactory, world: World) -> None:
    items = [run(world.account.id, None, created=1) for _ in range(3)]
    with uow(write=True) as u:
        for item in items:
            u.runs.add(item)
        u.commit()

    ordered = sorted(items, key=lambda item: item.id, reverse=True)
    with uow() as u:
        listed = u.runs.list_for_account(world.account.id, limit=10, before=(at(1), ordered[0].id))
        assert listed == ordered[1:]
        assert u.runs.list_for_account(world.account.id, limit=10, before=(at(1), "")) == []
        later = (at(1) + timedelta(microseconds=1)).astimezone(UTC)
        assert u.runs.list_for_account(world.account.id, limit=10, before=(later, "")) == ordered
        assert (
            u.runs.list_for_account(
                world.account.id, limit=10, before=(T0 - timedelta(days=1), "~")
            )
            == []
        )
