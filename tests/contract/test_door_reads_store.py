"""Contracts of the reads the doors ask of services (the queue gauges, `serve`'s "no API keys
yet"), on every backend."""

from __future__ import annotations

from datetime import timedelta

from backbeat.domain.runs import QueueDepth, RunStatus
from tests.contract.builders import T0, UowFactory, World, api_key, at, run


def test_no_key_issued_until_one_is_even_revoked(uow: UowFactory, world: World) -> None:
    with uow() as u:
        assert u.keys.any_issued() is False
    with uow(write=True) as u:
        u.keys.add(api_key(world.account.id, revoked_at=at(1)), "a" * 64)
        u.commit()
    with uow() as u:
        assert u.keys.any_issued() is True


def test_queue_depth_counts_due_waiting_runs_and_executing_ones(
    uow: UowFactory, world: World
) -> None:
    now = at(100)
    with uow() as u:
        assert u.work.queue_depth(now) == QueueDepth(0, None, 0)
    owner = world.account.id
    with uow(write=True) as u:
        for status, available in [
            (RunStatus.QUEUED, at(40)),  # due: the oldest
            (RunStatus.REATTEMPTING, at(70)),  # due
            (RunStatus.QUEUED, now),  # due just now
            (RunStatus.QUEUED, at(101)),  # not yet due
            (RunStatus.REATTEMPTING, at(500)),  # not yet due
            (RunStatus.EXECUTING, at(10)),
            (RunStatus.COMPLETED, at(0)),
            (RunStatus.CANCELED, at(0)),
        ]:
            assert u.runs.add(run(owner, None, status=status, available_at=available))
        u.commit()
    with uow() as u:
        depth = u.work.queue_depth(now)
    assert depth == QueueDepth(queued=3, oldest_due_at=at(40), executing=1)
    assert depth.oldest_wait_seconds(now) == 60
    assert depth.oldest_wait_seconds(at(20)) == 0  # never negative
    assert QueueDepth(0, None, 0).oldest_wait_seconds(T0 + timedelta(days=1)) == 0
