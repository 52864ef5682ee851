"""Deliveries: the effects a run has on the world (the model's emails, webhook events), and
the rules they follow. Pure: no framework, no clock of its own.

Emails: the guarantee is **at most once per (run, channel, recipient, purpose)**. A delivery
is a row written and committed before anything leaves the process, keyed by (run, channel,
recipient, purpose), so a retried attempt, a second worker or a restart finds the row
instead of sending again. Its states:

    pending ──begin──▶ sending ──accepted──────────────▶ sent
       ▲                  ├──may have been accepted────▶ unconfirmed   (never sent again)
       └──temporary───────┤   (no reply, a timeout or a dropped connection after the
          (tries left)    │    end of the message)
                          ├──permanent, or tries used──▶ failed
                          └──the server refused it─────▶ refused
    pending ──the run was canceled or its task deleted──▶ failed

Only a delivery that certainly did not reach the other side goes back to `pending`.

Webhook events (domain.webhooks) are **at least once** instead, as Standard Webhooks has it:
their transport reports anything but a 2xx (a timeout too) as temporary, so they are tried
again until a 2xx or the end of their schedule; receivers drop repeats by `webhook-id`.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from backbeat.domain.errors import Conflict
from backbeat.domain.ids import new_delivery_id
from backbeat.domain.runs import RunStatus


class DeliveryStatus(StrEnum):
    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    UNCONFIRMED = "unconfirmed"
    FAILED = "failed"
    REFUSED = "refused"

    @property
    def is_final(self) -> bool:
        return self not in (DeliveryStatus.PENDING, DeliveryStatus.SENDING)


# A delivery in these states reached its recipient or is on its way (failed and refused ones
# never did): what "the last report the team got" is picked from.
REACHED = frozenset(
    {
        DeliveryStatus.PENDING,
        DeliveryStatus.SENDING,
        DeliveryStatus.SENT,
        DeliveryStatus.UNCONFIRMED,
    }
)


class Channel(StrEnum):
    EMAIL = "email"
    WEBHOOK = "webhook"  # recipient: the endpoint's id
    SLACK = "slack"  # recipient: "slack" (the task's one incoming webhook)


class Purpose(StrEnum):
    """Why a run delivers something: part of the key, so the model's own email to someone
    and an event about the run never stand in for each other."""

    MESSAGE = "message"  # the model's send_email
    REPORT = "report"  # the run's final output, to the task's delivery channels
    ALERT = "alert"  # the run failed (or recovered): told to the task's owner
    EVENT = "event"  # a webhook event about the run (created once the run's state is final)
    TASK_EVENT = "task_event"  # a webhook event about the run's task that the run caused
    # An email to an account's owner about its webhook endpoint, which a try of one of this
    # run's events disabled (recipient: the endpoint's id; address: the owner's email).
    NOTICE = "notice"

    @property
    def is_event(self) -> bool:
        """A webhook event: at least once (domain.webhooks)."""
        return self in (Purpose.EVENT, Purpose.TASK_EVENT)

    @property
    def outlives_run(self) -> bool:
        """Written once the run's state was final, about something else than its work: sent
        whatever that state is, a cancel included."""
        return self.is_event or self is Purpose.NOTICE


class SendOutcome(StrEnum):
    """What one try at sending found out."""

    ACCEPTED = "accepted"  # the other side confirmed it (SMTP 250 after the message)
    UNCONFIRMED = "unconfirmed"  # it may have arrived: never try again
    TEMPORARY = "temporary"  # it certainly did not arrive; later may work
    PERMANENT = "permanent"  # it did not arrive, and trying again will not help
    REFUSED = "refused"  # the other side refused this recipient


@dataclass(frozen=True, slots=True)
class SendResult:
    outcome: SendOutcome
    detail: str = ""  # safe to store and show: no credentials


@dataclass(frozen=True, slots=True)
class Delivery:
    id: str
    run_id: str
    channel: Channel
    recipient: str  # the key: an email address in lower case
    address: str  # as it is sent
    subject: str | None
    body: str
    status: DeliveryStatus
    created_at: datetime
    updated_at: datetime
    attempt_id: str | None = None
    tries: int = 0
    next_try_at: datetime | None = None
    sending_until: datetime | None = None
    error: str | None = None
    sent_at: datetime | None = None
    purpose: Purpose = Purpose.MESSAGE


@dataclass(frozen=True, slots=True)
class DeliveryTry:
    """One try of a delivery, as its log shows it."""

    number: int
    at: datetime
    outcome: SendOutcome
    detail: str | None


@dataclass(frozen=True, slots=True)
class RetryPlan:
    """When a delivery that failed for a passing reason is tried again: `first`, then twice as
    long each time up to `longest`, at most `tries` times in all. With `steps`, the delays
    before each retry instead, and as many tries as steps and one."""

    first: timedelta = timedelta(minutes=1)
    longest: timedelta = timedelta(hours=1)
    tries: int = 10
    steps: tuple[timedelta, ...] = ()

    @classmethod
    def schedule(cls, steps: tuple[timedelta, ...]) -> RetryPlan:
        return cls(tries=len(steps) + 1, steps=steps)

    def delay(self, tries: int) -> timedelta:
        if self.steps:
            return self.steps[min(len(self.steps), max(1, tries)) - 1]
        return min(self.longest, self.first * (1 << max(0, tries - 1)))


def may_send_after_run(delivery: Delivery, run_status: RunStatus | None) -> bool:
    """Whether the outbox may send a pending delivery without a live attempt: its run ended
    and not by a cancel (the run's own messages), or it is an event, written once the run's
    final state was (a run.canceled event included)."""
    if delivery.purpose.outlives_run:
        return run_status is not None
    return run_status in RELEASED_RUN_STATUSES


# Runs whose pending deliveries the outbox may still send without a live attempt: the run
# ended, and not by a cancel. (While the run is executing only its live attempt may send.)
RELEASED_RUN_STATUSES = frozenset(
    {RunStatus.COMPLETED, RunStatus.FAILED, RunStatus.CRASHED, RunStatus.SYSTEM_FAILURE}
)


def intent(
    run_id: str,
    channel: Channel,
    recipient: str,
    address: str,
    subject: str | None,
    body: str,
    now: datetime,
    *,
    purpose: Purpose = Purpose.MESSAGE,
    attempt_id: str | None = None,
) -> Delivery:
    """A new delivery, pending: the row written and committed before anything is sent."""
    return Delivery(
        id=new_delivery_id(),
        run_id=run_id,
        channel=channel,
        recipient=recipient,
        address=address,
        subject=subject,
        body=body,
        status=DeliveryStatus.PENDING,
        created_at=now,
        updated_at=now,
        attempt_id=attempt_id,
        purpose=purpose,
    )


def begin(delivery: Delivery, now: datetime, sending_for: timedelta) -> Delivery:
    """A sender takes the delivery: from now on it counts as possibly sent until told."""
    if delivery.status is not DeliveryStatus.PENDING:
        raise Conflict(f"a {delivery.status} delivery cannot be sent")
    return replace(
        delivery,
        status=DeliveryStatus.SENDING,
        tries=delivery.tries + 1,
        sending_until=now + sending_for,
        next_try_at=None,
        updated_at=now,
    )


def settle(delivery: Delivery, result: SendResult, now: datetime, plan: RetryPlan) -> Delivery:
    """The delivery after a try with this result."""
    if delivery.status is not DeliveryStatus.SENDING:
        raise Conflict(f"a {delivery.status} delivery was not being sent")
    done = replace(delivery, sending_until=None, updated_at=now, error=result.detail or None)
    if result.outcome is SendOutcome.ACCEPTED:
        return replace(done, status=DeliveryStatus.SENT, sent_at=now, error=None)
    if result.outcome is SendOutcome.UNCONFIRMED:
        return replace(done, status=DeliveryStatus.UNCONFIRMED, sent_at=now)
    if result.outcome is SendOutcome.REFUSED:
        return replace(done, status=DeliveryStatus.REFUSED)
    if result.outcome is SendOutcome.TEMPORARY and delivery.tries < plan.tries:
        return replace(
            done, status=DeliveryStatus.PENDING, next_try_at=now + plan.delay(delivery.tries)
        )
    return replace(done, status=DeliveryStatus.FAILED)


def abandon(delivery: Delivery, now: datetime, reason: str) -> Delivery:
    """A pending delivery that will never be sent (its run was canceled)."""
    return replace(
        delivery,
        status=DeliveryStatus.FAILED,
        next_try_at=None,
        error=reason,
        updated_at=now,
    )


def lost_in_flight(delivery: Delivery, now: datetime, plan: RetryPlan) -> Delivery:
    """A `sending` delivery whose sender never reported back (it died): it may have arrived,
    so an email is never sent again; an event (at least once) is tried again, if tries are
    left, since its receiver drops a repeat by its id."""
    if delivery.purpose.is_event:
        return settle(
            delivery,
            SendResult(SendOutcome.TEMPORARY, "the sender stopped before the endpoint answered"),
            now,
            plan,
        )
    return replace(
        delivery,
        status=DeliveryStatus.UNCONFIRMED,
        sending_until=None,
        error="the sender stopped before it could confirm the delivery",
        updated_at=now,
    )


def view(delivery: Delivery) -> dict[str, object]:
    """How a delivery shows on its run (API `output.deliveries`, dashboard, CLI)."""
    return {
        "channel": delivery.channel.value,
        "purpose": delivery.purpose.value,  # message (send_email), report, or event
        "to": delivery.address,
        "subject": delivery.subject,
        "status": delivery.status.value,
        "tries": delivery.tries,
        "next_try_at": None if delivery.next_try_at is None else delivery.next_try_at.isoformat(),
        "sent_at": None if delivery.sent_at is None else delivery.sent_at.isoformat(),
        "error": delivery.error,
    }


def emails_sent(found: list[Delivery]) -> list[dict[str, object]]:
    """Everyone the outbox says the run emailed, in any attempt: confirmed, or handed over
    without a confirmation (never sent again: marked so)."""
    sent: list[dict[str, object]] = []
    for delivery in found:
        if delivery.channel is not Channel.EMAIL or delivery.purpose not in CARRY_THE_RUN:
            continue
        if delivery.status is DeliveryStatus.SENT:
            sent.append({"to": delivery.address, "subject": delivery.subject})
        elif delivery.status in (DeliveryStatus.UNCONFIRMED, DeliveryStatus.SENDING):
            sent.append({"to": delivery.address, "subject": delivery.subject, "confirmed": False})
    return sent


# The emails that carry the run's work (the model's own, and its report), as Recoup's
# `email_subject` and `emails_sent` mean them; not alerts about the run.
CARRY_THE_RUN = frozenset({Purpose.MESSAGE, Purpose.REPORT})


def email_subject(found: list[Delivery]) -> str | None:
    """The subject of the first email the run sent (`sent`, or `unconfirmed`: it may have
    arrived), oldest first as the outbox lists them; None when it sent none."""
    for delivery in sorted(found, key=lambda each: (each.created_at, each.id)):
        if (
            delivery.channel is Channel.EMAIL
            and delivery.purpose in CARRY_THE_RUN
            and delivery.status in (DeliveryStatus.SENT, DeliveryStatus.UNCONFIRMED)
        ):
            return delivery.subject
    return None


def run_output(output: dict[str, Any] | None, found: list[Delivery]) -> dict[str, Any] | None:
    """A run's output as shown: its record, with every delivery's current state (they change
    after the run ended: the outbox retries) and the emails sent across all its attempts."""
    if output is None and not found:
        return None
    return {
        **(output or {}),
        "deliveries": [view(delivery) for delivery in found],
        "emails_sent": emails_sent(found),
    }
