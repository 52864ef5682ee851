"""WorkRepository contracts (the worker's view of runs), on every backend."""

from __future__ import annotations

from dataclasses import replace
from typing import Any
from uuid import UUID

import pytest
from sqlalchemy import Engine, event

from backbeat.domain.errors import ConcurrentChange
from backbeat.domain.models import Run
from backbeat.domain.runs import AttemptStatus, QueueDepth, RunStatus
from tests.contract.builders import (
    T0,
    UowFactory,
    World,
    at,
    insert_attempt,
    run,
    sql_only,
    task,
)


def add_task(uow: UowFactory, world: World) -> UUID:
    item = task(world.account.id, world.artist.id)
    with uow(write=True) as u:
        u.tasks.add(item)
        u.commit()
    return item.id


def add_runs(uow: UowFactory, *runs: Run) -> None:
    with uow(write=True) as u:
        for item in runs:
            assert u.runs.add(item)
        u.commit()


def waiting(world: World, *, available: float | None, created: float = 0, **fields: Any) -> Run:
    available_at = None if available is None else at(available)
    return run(world.account.id, None, created=created, available_at=available_at, **fields)


def test_claimable_answers_due_waiting_runs_oldest_available_first(
    uow: UowFactory, world: World
) -> None:
    late = waiting(world, available=-10)
    early = waiting(world, available=-60, status=RunStatus.REATTEMPTING)
    now = waiting(world, available=0)
    skipped = waiting(world, available=-30)
    future = waiting(world, available=0.000001)
    never = waiting(world, available=None)
    executing = waiting(world, available=-90, status=RunStatus.EXECUTING)
    done = waiting(world, available=-90, status=RunStatus.COMPLETED)
    add_runs(uow, late, early, now, skipped, future, never, executing, done)

    with uow(write=True) as u:
        found = u.work.claimable(T0, 10, skip=[skipped.id])
        assert [r.id for r in u.work.claimable(T0, 2)] == [early.id, skipped.id]

    assert found == [early, late, now]  # in full: payload and the worker's bookkeeping


def test_claimable_keeps_each_concurrency_key_in_line(uow: UowFactory, world: World) -> None:
    busy = waiting(world, available=-90, status=RunStatus.EXECUTING, concurrency_key="busy")
    behind_busy = waiting(world, available=-80, concurrency_key="busy")
    first = waiting(world, available=5, created=1, concurrency_key="k")  # not due yet
    second = waiting(world, available=-70, created=2, concurrency_key="k")
    third = waiting(world, available=-60, created=3, concurrency_key="other")
    fourth = waiting(world, available=-50, created=4, concurrency_key="other")
    free = waiting(world, available=-40)
    add_runs(uow, busy, behind_busy, first, second, third, fourth, free)

    with uow(write=True) as u:
        found = u.work.claimable(T0, 10)

    # A later run waits for an earlier one of its key, even one that is not due yet.
    assert [r.id for r in found] == [third.id, free.id]


def test_claimable_breaks_ties_by_id(uow: UowFactory, world: World) -> None:
    """A scheduler tick queues a burst with one available_at and one created_at: claims take
    them in id order, and among runs of one key the lowest id is first in line."""
    b, c, a = (waiting(world, available=-5, run_id=f"run_{name}") for name in "bca")
    key_b, key_a = (
        waiting(world, available=-5, run_id=f"run_k{name}", concurrency_key="k") for name in "ba"
    )
    add_runs(uow, b, c, key_b, a, key_a)

    with uow(write=True) as u:
        assert [r.id for r in u.work.claimable(T0, 2)] == ["run_a", "run_b"]
        assert [r.id for r in u.work.claimable(T0, 10)] == ["run_a", "run_b", "run_c", "run_ka"]
        # The first in line skipped (this worker still holds it): the next one waits anyway.
        assert [r.id for r in u.work.claimable(T0, 10, skip=["run_ka"])] == [a.id, b.id, c.id]


def test_runs_kept_waiting_do_not_count_against_the_limit(uow: UowFactory, world: World) -> None:
    busy = waiting(world, available=-90, status=RunStatus.EXECUTING, concurrency_key="busy")
    blocked = [
        waiting(world, available=-80 + n, created=n, concurrency_key="busy") for n in range(5)
    ]
    retrying = waiting(world, available=30, status=RunStatus.REATTEMPTING, concurrency_key="r")
    behind_retry = waiting(world, available=-70, created=1, concurrency_key="r")
    free = [waiting(world, available=-60 + n) for n in range(3)]
    add_runs(uow, busy, *blocked, retrying, behind_retry, *free)

    with uow(write=True) as u:
        assert [r.id for r in u.work.claimable(T0, 2)] == [free[0].id, free[1].id]
        assert [r.id for r in u.work.claimable(T0, 10)] == [r.id for r in free]


@sql_only
def test_the_claim_reads_runs_through_its_indexes(
    uow: UowFactory, world: World, engine: Engine
) -> None:
    """The claim's plan: the waiting runs in claim order from ix_runs_claimable, each key
    looked up in the partial indexes; no scan of the runs table, no sort. (On PostgreSQL a
    tiny table is best read whole, so scans are priced out here; benchmarks/worker.py prints
    both plans with 10,000 runs waiting.)"""
    add_runs(uow, waiting(world, available=-5), waiting(world, available=-5, concurrency_key="k"))
    statements: list[tuple[str, Any]] = []

    def capture(_c: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        statements.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", capture)
    try:
        with uow(write=True) as u:
            assert len(u.work.claimable(T0, 10)) == 2
    finally:
        event.remove(engine, "before_cursor_execute", capture)
    statement, parameters = next(item for item in statements if "busy" in item[0])

    with engine.connect() as connection:
        if engine.dialect.name == "sqlite":
            rows = connection.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters)
            plan = [str(row[-1]) for row in rows]
        else:
            connection.exec_driver_sql("SET LOCAL enable_seqscan = off")
            connection.exec_driver_sql("SET LOCAL enable_bitmapscan = off")
            connection.exec_driver_sql("SET LOCAL enable_sort = off")
            rows = connection.exec_driver_sql("EXPLAIN " + statement, parameters)
            plan = [str(row[0]) for row in rows]
    text = "\n".join(plan)
    # (The executing run of a key: from either partial index on EXECUTING.)
    for index in ("ix_runs_claimable", "ix_runs_waiting_per_key"):
        assert index in text, text
    for step in ("SCAN runs", "SCAN busy", "SCAN older", "TEMP B-TREE", "Seq Scan", "Sort"):
        assert step not in text, text


def test_one_executing_run_per_concurrency_key(uow: UowFactory, world: World) -> None:
    executing = waiting(world, available=-9, status=RunStatus.EXECUTING, concurrency_key="k")
    queued = waiting(world, available=-5, concurrency_key="k")
    add_runs(uow, executing, queued)

    with uow(write=True) as u:
        twin = waiting(world, available=-1, status=RunStatus.EXECUTING, concurrency_key="k")
        assert u.runs.add(twin) is False
        with pytest.raises(ConcurrentChange):
            u.work.save(replace(queued, status=RunStatus.EXECUTING))
    with uow() as u:
        assert u.work.get_for_update(queued.id) == queued
        assert u.runs.get(twin.id) is None

    with uow(write=True) as u:  # once the first is done, the next may execute
        u.work.save(replace(executing, status=RunStatus.COMPLETED))
        u.work.save(replace(queued, status=RunStatus.EXECUTING))
        u.commit()
    with uow() as u:
        assert u.work.get_for_update(queued.id) == replace(queued, status=RunStatus.EXECUTING)


def test_leases_are_renewed_by_token_and_expire(uow: UowFactory, world: World) -> None:
    def executing(token: str, expires: float) -> Run:
        return waiting(
            world,
            available=-100,
            status=RunStatus.EXECUTING,
            lease_owner="w-1",
            lease_token=token,
            lease_expires_at=at(expires),
        )

    soonest, later, live = executing("t-1", -20), executing("t-2", -10), executing("t-3", 30)
    ended = replace(executing("t-4", -30), status=RunStatus.COMPLETED)
    add_runs(uow, later, soonest, live, ended)

    with uow(write=True) as u:
        assert u.work.expired(T0, 10) == [soonest, later]
        assert u.work.expired(T0, 1) == [soonest]
        assert u.work.expired(T0, 10, keep=["t-1"]) == [later]
        assert u.work.renew(["t-2", "t-4", "t-unknown"], at(60)) == {"t-2"}
        assert u.work.renew([], at(60)) == set()
        u.commit()
    with uow() as u:
        assert u.work.expired(T0, 10) == [soonest]
        assert u.work.get_for_update(later.id) == replace(later, lease_expires_at=at(60))
        assert u.work.get_for_update(ended.id) == ended


def test_a_run_claimed_without_a_token_is_never_kept_from_the_reaper(
    uow: UowFactory, world: World
) -> None:
    """An older release claims runs without a lease token (a rolling upgrade): its dead
    worker's runs must still be reaped by a new worker that keeps its own attempts."""
    untokened = waiting(
        world,
        available=-100,
        status=RunStatus.EXECUTING,
        lease_owner="old-worker",
        lease_token=None,
        lease_expires_at=at(-5),
    )
    add_runs(uow, untokened)
    with uow() as u:
        assert u.work.expired(T0, 10, keep=["t-mine"]) == [untokened]


def test_attempts_current_and_failed(
    uow: UowFactory, world: World, refused: type[Exception]
) -> None:
    item, other = waiting(world, available=0), waiting(world, available=0)
    add_runs(uow, item, other)
    with uow(write=True) as u:
        assert u.work.current_attempt(item.id) is None
        assert u.work.failed_attempts(item.id) == 0
        insert_attempt(u, item.id, 1)
        insert_attempt(u, item.id, 2, status=AttemptStatus.CANCELED)
        third = insert_attempt(u, item.id, 3, status=AttemptStatus.EXECUTING, worker_id="w-1")
        insert_attempt(u, other.id, 1)
        u.commit()

    ended = replace(third, status=AttemptStatus.FAILED, completed_at=at(4), error={"m": "x"})
    with uow(write=True) as u:
        assert u.work.current_attempt(item.id) == third
        assert u.work.failed_attempts(item.id) == 1
        u.work.save_attempt(ended)
        u.commit()
    with uow() as u:
        assert u.work.current_attempt(item.id) == ended
        assert u.work.failed_attempts(item.id) == 2
    with uow(write=True) as u, pytest.raises(refused):
        insert_attempt(u, item.id, 3)  # one attempt per number


def test_next_available_and_queue_depth(uow: UowFactory, world: World) -> None:
    with uow() as u:
        assert u.work.next_available() is None
        assert u.work.queue_depth(T0) == QueueDepth(0, None, 0)

    add_runs(
        uow,
        waiting(world, available=-30),
        waiting(world, available=-10, status=RunStatus.REATTEMPTING),
        waiting(world, available=20),
        waiting(world, available=-90, status=RunStatus.EXECUTING),
        waiting(world, available=-99, status=RunStatus.FAILED),
        waiting(world, available=None),
    )
    with uow() as u:
        assert u.work.next_available() == at(-30)
        assert u.work.queue_depth(T0) == QueueDepth(2, at(-30), 1)
        assert u.work.queue_depth(at(20)) == QueueDepth(3, at(-30), 1)


def test_unfinished_of_task(uow: UowFactory, world: World) -> None:
    task_id, other_task = add_task(uow, world), add_task(uow, world)
    statuses = [
        RunStatus.COMPLETED,
        RunStatus.EXECUTING,
        RunStatus.QUEUED,
        RunStatus.CANCELED,
        RunStatus.REATTEMPTING,
    ]
    mine = [
        run(world.account.id, task_id, created=5 - n, status=status, payload={"n": n})
        for n, status in enumerate(statuses)
    ]
    add_runs(uow, *mine, run(world.account.id, other_task))
    with uow(write=True) as u:
        assert u.work.unfinished_of_task(task_id) == [mine[4], mine[2], mine[1]]


def test_previous_outputs(uow: UowFactory, world: World) -> None:
    task_id, other_task = add_task(uow, world), add_task(uow, world)

    def completed(created: float, text: str | None, **fields: Any) -> Run:
        output = None if text is None else {"text": text, "tokens": 3}
        return run(
            world.account.id,
            task_id,
            created=created,
            status=RunStatus.COMPLETED,
            output=output,
            **fields,
        )

    oldest = completed(1, "first", scheduled_for=at(0))
    silent = completed(2, None)
    newest = completed(3, "third")
    add_runs(
        uow,
        oldest,
        silent,
        newest,
        completed(10, "after"),
        run(world.account.id, task_id, created=4, status=RunStatus.FAILED, output={"text": "x"}),
        run(world.account.id, other_task, created=5, status=RunStatus.COMPLETED, output={}),
    )
    with uow() as u:
        found = u.work.previous_outputs(task_id, at(10), 10)
        assert u.work.previous_outputs(task_id, at(10), 1) == found[:1]

    assert found == [
        {
            "run_id": newest.id,
            "fire_time": None,
            "created_at": at(3).isoformat(),
            "output": "third",
        },
        {"run_id": silent.id, "fire_time": None, "created_at": at(2).isoformat(), "output": ""},
        {
            "run_id": oldest.id,
            "fire_time": at(0).isoformat(),
            "created_at": at(1).isoformat(),
            "output": "first",
        },
    ]
