"""The worker loop's own behaviour: cancel, timeouts, shutdown, leases (in process)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import timedelta

from backbeat.domain.runs import AttemptStatus, RunStatus
from backbeat.services.keys import Caller
from backbeat.testing import FakeClock
from backbeat.testing.fake_provider import ScriptedProvider, Slow, reply
from backbeat.wiring import Backbeat
from tests.conftest import Tenant
from tests.worker.harness import Harness, make_harness, run


async def eventually(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not await asyncio.to_thread(condition):
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.02)


def status_is(h: Harness, run_id: str, status: RunStatus) -> Callable[[], bool]:
    return lambda: h.get(run_id).status is status


def test_canceling_an_executing_run_stops_the_attempt(
    backbeat: Backbeat, clock: FakeClock, alice: Tenant
) -> None:
    provider = ScriptedProvider(Slow(30))
    h = make_harness(backbeat, clock, provider, lease=timedelta(seconds=0.3))
    queued = h.run_now(alice, h.new_task(alice))

    async def scenario() -> None:
        loop = asyncio.create_task(h.worker.run())
        await eventually(status_is(h, queued.id, RunStatus.EXECUTING))
        caller = Caller(alice.account_id, alice.key_id(backbeat))
        await asyncio.to_thread(backbeat.runs.cancel, caller, queued.id)
        # The lease renewal notices within a third of a lease and drops the attempt.
        await eventually(lambda: h.worker.running == 0)
        h.worker.stop()
        await loop

    run(scenario())

    canceled = h.get(queued.id)
    assert canceled.status is RunStatus.CANCELED
    assert [a.status for a in canceled.attempts] == [AttemptStatus.CANCELED]
    assert canceled.output is None
    assert len(provider.requests) == 1  # nothing more was asked of the model


def test_an_attempt_over_the_time_limit_fails_and_is_retried(
    backbeat: Backbeat, clock: FakeClock, alice: Tenant
) -> None:
    h = make_harness(
        backbeat, clock, ScriptedProvider(Slow(10), reply("fast")), run_timeout_seconds=1.0
    )
    queued = h.run_now(alice, h.new_task(alice))

    run(h.work())

    timed_out = h.get(queued.id)
    assert timed_out.status is RunStatus.REATTEMPTING
    assert timed_out.error is not None
    assert timed_out.error["name"] == "AttemptTimeout"
    assert "BACKBEAT_RUN_TIMEOUT_SECONDS" in timed_out.error["message"]
    assert timed_out.delayed_until is not None
    clock.set(timed_out.delayed_until)
    run(h.work())
    assert h.get(queued.id).status is RunStatus.COMPLETED


async def stop_once_executing(h: Harness, run_id: str) -> None:
    """Run the worker's loop until the run is EXECUTING, then ask it to stop; wait for it."""
    loop = asyncio.create_task(h.worker.run())
    await eventually(status_is(h, run_id, RunStatus.EXECUTING))
    h.worker.stop()
    await loop


def test_stopping_lets_running_attempts_finish_within_the_grace(
    backbeat: Backbeat, clock: FakeClock, alice: Tenant
) -> None:
    h = make_harness(backbeat, clock, ScriptedProvider(Slow(0.3, reply("made it"))), grace=10)
    queued = h.run_now(alice, h.new_task(alice))

    run(stop_once_executing(h, queued.id))

    done = h.get(queued.id)
    assert done.status is RunStatus.COMPLETED
    assert done.output is not None
    assert done.output["text"] == "made it"


def test_attempts_still_running_after_the_grace_are_handed_back(
    backbeat: Backbeat, clock: FakeClock, alice: Tenant
) -> None:
    h = make_harness(backbeat, clock, ScriptedProvider(Slow(30)), grace=0.1)
    queued = h.run_now(alice, h.new_task(alice))

    run(stop_once_executing(h, queued.id))

    released = h.get(queued.id)
    assert released.status is RunStatus.QUEUED
    assert released.lease_owner is None
    [attempt] = released.attempts
    assert attempt.status is AttemptStatus.CANCELED
    assert attempt.error is not None
    assert attempt.error["name"] == "WorkerShutdown"

    # Another worker picks it up; the handed-back attempt did not use up the budget.
    fresh = make_harness(backbeat, clock, ScriptedProvider(reply("done")))
    run(fresh.work())
    done = fresh.get(queued.id)
    assert done.status is RunStatus.COMPLETED
    assert [a.number for a in done.attempts] == [1, 2]


def test_an_expired_lease_fails_the_attempt_and_a_late_answer_is_discarded(
    backbeat: Backbeat, clock: FakeClock, alice: Tenant
) -> None:
    h = make_harness(backbeat, clock, lease=timedelta(seconds=30))
    queued = h.run_now(alice, h.new_task(alice))
    [claim] = h.queue.claim("worker-that-dies", 1)

    assert h.queue.reap() == []  # the lease still holds
    clock.advance(seconds=31)
    [reaped] = h.queue.reap()

    assert reaped.status is RunStatus.REATTEMPTING
    crashed = h.get(queued.id)
    [attempt] = crashed.attempts
    assert attempt.status is AttemptStatus.FAILED
    assert attempt.error is not None
    assert attempt.error["name"] == "WorkerCrashed"
    assert "lease" in attempt.error["message"]
    # The dead worker's answer, should it ever arrive, changes nothing.
    from backbeat.services.worker import Outcome

    assert h.queue.finish(claim, Outcome({"text": "late"}, None, 0.0)) is None
    assert h.queue.renew([claim.token]) == set()
    assert h.get(queued.id).status is RunStatus.REATTEMPTING


def test_the_last_crash_ends_the_run_crashed(
    backbeat: Backbeat, clock: FakeClock, alice: Tenant
) -> None:
    h = make_harness(backbeat, clock, lease=timedelta(seconds=30))
    queued = h.run_now(alice, h.new_task(alice, max_attempts=1))
    h.queue.claim("worker-that-dies", 1)

    clock.advance(minutes=1)
    h.queue.reap()

    crashed = h.get(queued.id)
    assert crashed.status is RunStatus.CRASHED
    assert crashed.finished_at is not None


def test_leases_are_renewed_while_an_attempt_runs(
    backbeat: Backbeat, clock: FakeClock, alice: Tenant
) -> None:
    h = make_harness(
        backbeat, clock, ScriptedProvider(Slow(0.8, reply("ok"))), lease=timedelta(seconds=0.3)
    )
    queued = h.run_now(alice, h.new_task(alice))
    renewals: list[object] = []

    async def scenario() -> None:
        loop = asyncio.create_task(h.worker.run())
        await eventually(status_is(h, queued.id, RunStatus.EXECUTING))
        first = h.get(queued.id).lease_expires_at
        clock.advance(seconds=0.2)  # within the lease: the renewals now write a later expiry
        await eventually(lambda: h.get(queued.id).lease_expires_at != first)
        renewals.append(h.get(queued.id).lease_expires_at)
        await eventually(status_is(h, queued.id, RunStatus.COMPLETED))
        h.worker.stop()
        await loop

    run(scenario())

    assert renewals  # renewed while running, and the run still completed
