"""A delivery's states (domain.deliveries), with no database: taken for sending, settled by
what the try found out, abandoned, lost in flight; and when a passing failure is tried
again."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from backbeat.domain import deliveries
from backbeat.domain.deliveries import (
    Channel,
    Delivery,
    DeliveryStatus,
    RetryPlan,
    SendOutcome,
    SendResult,
)
from backbeat.domain.errors import Conflict

T0 = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)
PLAN = RetryPlan(first=timedelta(minutes=1), longest=timedelta(minutes=5), tries=3)


def pending(**fields: Any) -> Delivery:
    values: dict[str, Any] = {
        "id": "delivery_1",
        "run_id": "run_1",
        "channel": Channel.EMAIL,
        "recipient": "ada@example.com",
        "address": "Ada@Example.com",
        "subject": "Pulse",
        "body": "Body",
        "status": DeliveryStatus.PENDING,
        "created_at": T0,
        "updated_at": T0,
        "next_try_at": T0,
    }
    values.update(fields)
    return Delivery(**values)


def sending(tries: int = 1) -> Delivery:
    return deliveries.begin(pending(tries=tries - 1), T0, timedelta(minutes=10))


def test_begin_takes_a_pending_delivery_and_counts_the_try() -> None:
    now = T0 + timedelta(seconds=5)
    started = deliveries.begin(pending(tries=1), now, timedelta(minutes=10))
    assert started.status is DeliveryStatus.SENDING
    assert started.tries == 2
    assert started.sending_until == now + timedelta(minutes=10)
    assert (started.next_try_at, started.updated_at) == (None, now)


@pytest.mark.parametrize("status", [s for s in DeliveryStatus if s is not DeliveryStatus.PENDING])
def test_only_a_pending_delivery_can_be_taken(status: DeliveryStatus) -> None:
    with pytest.raises(Conflict):
        deliveries.begin(pending(status=status), T0, timedelta(minutes=1))


@pytest.mark.parametrize(
    ("outcome", "status"),
    [
        (SendOutcome.ACCEPTED, DeliveryStatus.SENT),
        (SendOutcome.UNCONFIRMED, DeliveryStatus.UNCONFIRMED),
        (SendOutcome.REFUSED, DeliveryStatus.REFUSED),
        (SendOutcome.PERMANENT, DeliveryStatus.FAILED),
        (SendOutcome.TEMPORARY, DeliveryStatus.PENDING),
    ],
)
def test_settle_ends_in_the_state_the_result_names(
    outcome: SendOutcome, status: DeliveryStatus
) -> None:
    now = T0 + timedelta(seconds=3)
    settled = deliveries.settle(sending(), SendResult(outcome, "250 OK"), now, PLAN)
    assert settled.status is status
    assert (settled.sending_until, settled.updated_at) == (None, now)
    # Only what may have arrived has a sending time; only an acceptance clears the detail.
    may_have_arrived = outcome in (SendOutcome.ACCEPTED, SendOutcome.UNCONFIRMED)
    assert settled.sent_at == (now if may_have_arrived else None)
    assert settled.error == (None if outcome is SendOutcome.ACCEPTED else "250 OK")
    assert settled.next_try_at == (now + PLAN.first if status is DeliveryStatus.PENDING else None)


def test_a_passing_failure_is_tried_again_until_the_plan_runs_out() -> None:
    temporary = SendResult(SendOutcome.TEMPORARY, "421 busy")
    second = deliveries.settle(sending(tries=2), temporary, T0, PLAN)
    assert (second.status, second.next_try_at) == (DeliveryStatus.PENDING, T0 + 2 * PLAN.first)
    last = deliveries.settle(sending(tries=3), temporary, T0, PLAN)
    assert (last.status, last.error) == (DeliveryStatus.FAILED, "421 busy")


def test_only_a_delivery_being_sent_can_be_settled() -> None:
    with pytest.raises(Conflict):
        deliveries.settle(pending(), SendResult(SendOutcome.ACCEPTED), T0, PLAN)


def test_the_retry_plan_doubles_up_to_the_longest_wait() -> None:
    minutes = [RetryPlan().delay(tries) / timedelta(minutes=1) for tries in range(0, 9)]
    assert minutes == [1, 1, 2, 4, 8, 16, 32, 60, 60]
    assert RetryPlan().tries == 10


def test_abandon_fails_a_pending_delivery_for_good() -> None:
    now = T0 + timedelta(minutes=1)
    abandoned = deliveries.abandon(pending(), now, "the run was canceled")
    assert abandoned.status is DeliveryStatus.FAILED
    assert abandoned.status.is_final
    assert (abandoned.next_try_at, abandoned.error, abandoned.updated_at) == (
        None,
        "the run was canceled",
        now,
    )


def test_a_sender_that_never_reported_back_leaves_it_unconfirmed() -> None:
    now = T0 + timedelta(hours=1)
    lost = deliveries.lost_in_flight(sending(), now, RetryPlan())
    assert lost.status is DeliveryStatus.UNCONFIRMED  # it may have arrived: never again
    assert lost.status.is_final
    assert (lost.sending_until, lost.updated_at) == (None, now)
    assert lost.error is not None
    assert "confirm" in lost.error


def test_what_a_run_says_it_emailed() -> None:
    def settled(n: int, status: DeliveryStatus) -> Delivery:
        return pending(
            id=f"delivery_{n}",
            recipient=f"p{n}@example.com",
            address=f"P{n}@example.com",
            subject=f"S{n}",
            status=status,
            created_at=T0 + timedelta(seconds=10 - n),
        )

    found = [
        settled(1, DeliveryStatus.SENT),
        settled(2, DeliveryStatus.UNCONFIRMED),
        settled(3, DeliveryStatus.SENDING),
        settled(4, DeliveryStatus.FAILED),
        settled(5, DeliveryStatus.PENDING),
        settled(6, DeliveryStatus.REFUSED),
    ]
    assert deliveries.emails_sent(found) == [
        {"to": "P1@example.com", "subject": "S1"},
        {"to": "P2@example.com", "subject": "S2", "confirmed": False},
        {"to": "P3@example.com", "subject": "S3", "confirmed": False},
    ]
    assert deliveries.email_subject(found) == "S2"  # the oldest that may have arrived
    assert deliveries.email_subject(found[2:]) is None
    assert deliveries.run_output(None, []) is None
