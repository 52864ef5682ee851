"""The outbox's rules over every backend: who may send a delivery, when, and how a try
ends (services.outbox over store.deliveries)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from backbeat.domain.deliveries import (
    Channel,
    DeliveryStatus,
    RetryPlan,
    SendOutcome,
    SendResult,
)
from backbeat.domain.failures import RetryPolicy
from backbeat.services.outbox import LeaseLost, Outbox
from backbeat.services.runs import cancel_locked
from backbeat.services.webhooks import RunEvents
from backbeat.services.worker import Claim, Outcome, WorkQueue
from backbeat.testing import FakeClock
from tests.contract.builders import UowFactory, World, run, task

PLAN = RetryPlan(first=timedelta(minutes=1), longest=timedelta(minutes=4), tries=3)
OWNER = "owner@example.com"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(datetime(2026, 1, 5, 12, 0, tzinfo=UTC))


@pytest.fixture
def queue(uow: UowFactory, clock: FakeClock) -> WorkQueue:
    return WorkQueue(uow, clock, lease=timedelta(seconds=30), retry=RetryPolicy(jitter=0))


@pytest.fixture
def outbox(uow: UowFactory, clock: FakeClock) -> Outbox:
    return Outbox(uow, clock, plan=PLAN, sending_for=timedelta(minutes=10))


@pytest.fixture
def claim(uow: UowFactory, world: World, queue: WorkQueue, clock: FakeClock) -> Claim:
    the_task = task(world.account.id, world.artist.id)
    with uow(write=True) as u:
        u.tasks.add(the_task)
        u.runs.add(run(world.account.id, the_task.id, available_at=clock.now()))
        u.commit()
    [started] = queue.claim("worker-1", 1)
    return started


def request(outbox: Outbox, claim: Claim, token: str | None = None) -> str:
    delivery, _ = outbox.request(
        claim.run.id, token or claim.token, Channel.EMAIL, OWNER, OWNER, "Pulse", "Body"
    )
    return delivery.id


def test_one_row_per_run_channel_and_recipient(outbox: Outbox, claim: Claim) -> None:
    first, new = outbox.request(claim.run.id, claim.token, Channel.EMAIL, OWNER, OWNER, "A", "1")
    again, fresh = outbox.request(claim.run.id, claim.token, Channel.EMAIL, OWNER, OWNER, "B", "2")
    assert new
    assert not fresh
    assert again.id == first.id
    assert (again.subject, again.body) == ("A", "1")  # the first intent's content stands
    assert [d.id for d in outbox.of_run(claim.run.id)] == [first.id]


def test_only_the_attempt_holding_the_lease_may_ask_or_send(
    outbox: Outbox, claim: Claim, clock: FakeClock
) -> None:
    delivery_id = request(outbox, claim)
    with pytest.raises(LeaseLost):
        request(outbox, claim, token="attempt_someone_else")
    assert outbox.begin(delivery_id, "attempt_someone_else") is None
    assert outbox.begin(delivery_id, None) is None  # the run is executing: only its attempt
    clock.advance(seconds=31)  # the lease ran out, even if nobody reaped it yet
    assert outbox.begin(delivery_id, claim.token) is None
    with pytest.raises(LeaseLost):
        request(outbox, claim)


def test_a_send_ends_in_the_state_its_result_names(outbox: Outbox, claim: Claim) -> None:
    expected = {
        SendOutcome.ACCEPTED: DeliveryStatus.SENT,
        SendOutcome.UNCONFIRMED: DeliveryStatus.UNCONFIRMED,
        SendOutcome.PERMANENT: DeliveryStatus.FAILED,
        SendOutcome.REFUSED: DeliveryStatus.REFUSED,
        SendOutcome.TEMPORARY: DeliveryStatus.PENDING,
    }
    for number, (outcome, status) in enumerate(expected.items()):
        address = f"person{number}@example.com"
        delivery, _ = outbox.request(
            claim.run.id, claim.token, Channel.EMAIL, address, address, "S", "B"
        )
        started = outbox.begin(delivery.id, claim.token)
        assert started is not None
        assert started.status is DeliveryStatus.SENDING
        settled = outbox.settle(delivery.id, SendResult(outcome, "detail"))
        assert settled is not None
        assert settled.status is status
        # Whatever it became, nobody may take it again now, except a pending one later.
        assert outbox.begin(delivery.id, claim.token) is None or status is DeliveryStatus.PENDING


def test_passing_failures_are_retried_on_a_growing_schedule_once_the_run_ended(
    outbox: Outbox, claim: Claim, queue: WorkQueue, clock: FakeClock
) -> None:
    delivery_id = request(outbox, claim)
    assert outbox.begin(delivery_id, claim.token) is not None
    pending = outbox.settle(delivery_id, SendResult(SendOutcome.TEMPORARY, "421 busy"))
    assert pending is not None
    assert pending.next_try_at == clock.now() + timedelta(minutes=1)
    assert outbox.due(10) == []  # the run is still executing
    queue.finish(claim, Outcome({"text": "done"}, None, 0.0))
    assert outbox.due(10) == []  # not due yet
    delays = []
    for _ in range(PLAN.tries - 1):
        due_at = outbox.get(delivery_id).next_try_at  # type: ignore[union-attr]
        assert due_at is not None
        delays.append(due_at - clock.now())
        clock.set(due_at)
        [due] = outbox.due(10)
        assert outbox.begin(due.id, None) is not None
        outbox.settle(due.id, SendResult(SendOutcome.TEMPORARY, "421 busy"))
    assert delays == [timedelta(minutes=1), timedelta(minutes=2)]
    final = outbox.get(delivery_id)
    assert final is not None
    assert (final.status, final.tries) == (DeliveryStatus.FAILED, PLAN.tries)


def test_a_cancel_abandons_pending_deliveries_and_stops_sends(
    outbox: Outbox, claim: Claim, uow: UowFactory, clock: FakeClock
) -> None:
    delivery_id = request(outbox, claim)
    with uow(write=True) as u:
        locked = u.work.get_for_update(claim.run.id)
        assert locked is not None
        cancel_locked(u, locked, clock.now(), "canceled before it was delivered", RunEvents())
        u.commit()
    abandoned = outbox.get(delivery_id)
    assert abandoned is not None
    assert abandoned.status is DeliveryStatus.FAILED
    assert abandoned.error == "canceled before it was delivered"
    assert outbox.begin(delivery_id, claim.token) is None
    assert outbox.begin(delivery_id, None) is None


def test_a_sender_that_never_reported_back_leaves_an_unconfirmed_delivery(
    outbox: Outbox, claim: Claim, clock: FakeClock
) -> None:
    delivery_id = request(outbox, claim)
    assert outbox.begin(delivery_id, claim.token) is not None
    assert outbox.reap_lost() == 0
    clock.advance(minutes=11)
    assert outbox.reap_lost() == 1
    lost = outbox.get(delivery_id)
    assert lost is not None
    assert lost.status is DeliveryStatus.UNCONFIRMED
    # A report arriving after that changes nothing: it may have been sent, or not.
    late = outbox.settle(delivery_id, SendResult(SendOutcome.TEMPORARY, "late"))
    assert late is not None
    assert late.status is DeliveryStatus.UNCONFIRMED


def test_a_passing_failure_reported_after_a_cancel_fails_the_delivery(
    outbox: Outbox, claim: Claim, uow: UowFactory, clock: FakeClock
) -> None:
    """The send was on the wire when the run was canceled and came back 4xx: it is not left
    pending (the outbox never retries a canceled run's deliveries), it fails, and says why."""
    delivery_id = request(outbox, claim)
    assert outbox.begin(delivery_id, claim.token) is not None
    with uow(write=True) as u:
        locked = u.work.get_for_update(claim.run.id)
        assert locked is not None
        cancel_locked(u, locked, clock.now(), "canceled", RunEvents())
        u.commit()
    settled = outbox.settle(delivery_id, SendResult(SendOutcome.TEMPORARY, "451 try later"))
    assert settled is not None
    assert settled.status is DeliveryStatus.FAILED
    assert settled.error == "the run was canceled before it was delivered"


def test_a_delivery_its_attempt_never_sent_goes_once_the_run_has_ended(
    outbox: Outbox, claim: Claim, queue: WorkQueue
) -> None:
    """Asked for, then the attempt ended before sending (timed out, lease lapsed): the outbox
    sends it once the run has ended."""
    delivery_id = request(outbox, claim)
    queue.finish(claim, Outcome({"text": "done"}, None, 0.0))
    [due] = outbox.due(10)
    assert due.id == delivery_id
    assert outbox.begin(delivery_id, None) is not None
