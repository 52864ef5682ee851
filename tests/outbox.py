"""Recording a delivery through the real outbox steps (request, begin, settle) without a
transport: for tests that need a run which emailed someone."""

from __future__ import annotations

from datetime import timedelta

from backbeat.domain.clock import Clock
from backbeat.domain.deliveries import Channel, Delivery, RetryPlan, SendOutcome, SendResult
from backbeat.services.outbox import Outbox
from backbeat.services.worker import Claim
from backbeat.wiring import Backbeat


def email_sent(
    backbeat: Backbeat,
    clock: Clock,
    claim: Claim,
    to: str,
    subject: str,
    outcome: SendOutcome = SendOutcome.ACCEPTED,
) -> Delivery:
    """`claim`'s attempt emails `to`, and the mail server answers with `outcome`."""
    outbox = Outbox(backbeat.uow, clock, plan=RetryPlan(), sending_for=timedelta(minutes=5))
    delivery, _ = outbox.request(
        claim.run.id, claim.token, Channel.EMAIL, to.lower(), to, subject, "the report"
    )
    assert outbox.begin(delivery.id, claim.token) is not None
    settled = outbox.settle(delivery.id, SendResult(outcome, "250 OK"))
    assert settled is not None
    return settled
