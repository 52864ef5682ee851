"""Leases belong to attempts: a worker back from a stall longer than its lease (a blocked
loop, a database outage) never runs its run twice, and a stale attempt changes nothing."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from backbeat.agents.base import ModelReply, ModelRequest
from backbeat.domain.runs import AttemptStatus, RunStatus
from backbeat.services.worker import Outcome
from backbeat.testing import FakeClock
from backbeat.testing.fake_provider import ScriptedProvider, reply
from backbeat.wiring import Backbeat
from tests.conftest import Tenant
from tests.worker.harness import make_harness, run

LEASE = timedelta(seconds=0.3)  # the reaper looks every 0.1 s of real time


def held_until(release: asyncio.Event) -> ScriptedProvider:
    async def answer(request: ModelRequest) -> ModelReply:
        await release.wait()
        return reply("late but done")

    return ScriptedProvider(answer)


def test_a_worker_back_from_a_stall_neither_reaps_nor_reclaims_its_own_run(
    backbeat: Backbeat, clock: FakeClock, alice: Tenant
) -> None:
    async def scenario() -> None:
        release = asyncio.Event()
        h = make_harness(backbeat, clock, held_until(release), lease=LEASE)
        queued = h.run_now(alice, h.new_task(alice))
        assert await h.worker.step() == 1
        await asyncio.sleep(0)  # the attempt is waiting on the model

        for _ in range(3):  # the loop stalled past the lease, and steps again, and again
            clock.advance(seconds=30)
            await asyncio.sleep(0.15)  # the reaper is due again
            assert await h.worker.step() == 0
        during = h.get(queued.id)
        assert during.status is RunStatus.EXECUTING
        assert len(during.attempts) == 1

        release.set()
        await h.worker.wait_idle()
        done = h.get(queued.id)
        assert done.status is RunStatus.COMPLETED
        assert [a.status for a in done.attempts] == [AttemptStatus.COMPLETED]

    run(scenario())


def test_a_run_taken_over_meanwhile_is_not_claimed_back_and_the_stale_outcome_is_dropped(
    backbeat: Backbeat, clock: FakeClock, alice: Tenant
) -> None:
    async def scenario() -> None:
        release = asyncio.Event()
        stalled = make_harness(backbeat, clock, held_until(release), lease=LEASE)
        rescuer = make_harness(backbeat, clock, ScriptedProvider(reply("on time")), lease=LEASE)
        queued = stalled.run_now(alice, stalled.new_task(alice))
        assert await stalled.worker.step() == 1
        await asyncio.sleep(0)
        [first] = stalled.get(queued.id).attempts

        clock.advance(seconds=30)  # the stalled worker's lease ran out; another one reaps
        [reaped] = rescuer.queue.reap()
        assert reaped.status is RunStatus.REATTEMPTING
        clock.advance(minutes=5)  # past the retry's backoff: the run may be claimed again

        await asyncio.sleep(0.15)
        assert await stalled.worker.step() == 0  # not by the worker still executing it
        assert await rescuer.work() == 1
        assert stalled.queue.renew([first.id]) == set()  # the stale token is dead

        release.set()
        await stalled.worker.wait_idle()  # its late answer is discarded, not recorded
        done = stalled.get(queued.id)
        assert done.status is RunStatus.COMPLETED
        assert done.output is not None
        assert done.output["text"] == "on time"
        assert [a.status for a in done.attempts] == [
            AttemptStatus.FAILED,
            AttemptStatus.COMPLETED,
        ]
        assert stalled.worker.completed == 0

    run(scenario())


def test_an_outcome_is_recorded_only_with_the_live_token(
    backbeat: Backbeat, clock: FakeClock, alice: Tenant
) -> None:
    h = make_harness(backbeat, clock, lease=timedelta(seconds=30))
    queued = h.run_now(alice, h.new_task(alice))
    [old] = h.queue.claim("worker-1", 1)
    clock.advance(minutes=1)
    h.queue.reap()
    clock.advance(minutes=5)
    [new] = h.queue.claim("worker-1", 1)  # the same worker id, a new attempt
    assert new.token != old.token

    assert h.queue.finish(old, Outcome({"text": "stale"}, None, 0.0)) is None
    assert h.queue.renew([old.token]) == set()
    assert h.queue.release(old) is False
    assert h.queue.renew([new.token]) == {new.token}
    finished = h.queue.finish(new, Outcome({"text": "live"}, None, 0.0))
    assert finished is not None
    assert finished.status is RunStatus.COMPLETED
    assert h.get(queued.id).output == {"text": "live", "emails_sent": []}
