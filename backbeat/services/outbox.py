"""The outbox: every effect a run has on the world goes through here, one short transaction
per step (see domain.deliveries for the states and the guarantee).

request → begin → (the transport, no transaction) → settle. `request` and `begin` with a
lease token act only for the attempt that holds the run's lease while the run executes, so a
canceled run, a taken-over attempt or a deleted task's run sends nothing after that commit.
`begin` without a token is the outbox's own retry of a delivery whose run has ended.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta

from backbeat.domain import deliveries, webhooks
from backbeat.domain.clock import Clock
from backbeat.domain.deliveries import (
    Channel,
    Delivery,
    DeliveryStatus,
    DeliveryTry,
    Purpose,
    RetryPlan,
    SendOutcome,
    SendResult,
)
from backbeat.domain.metrics import NO_METRICS, Recorder
from backbeat.domain.models import Run
from backbeat.domain.ports import SecretBox, UnitOfWork
from backbeat.domain.runs import RunStatus

log = logging.getLogger("backbeat.outbox")

UnitOfWorkFactory = Callable[..., UnitOfWork]

WEBHOOK_PLAN = RetryPlan.schedule(webhooks.RETRY_SCHEDULE)


# The log event of a try that ended in each state.
SETTLED_EVENTS = {
    DeliveryStatus.SENT: {"event": "delivery.sent"},
    DeliveryStatus.UNCONFIRMED: {"event": "delivery.unconfirmed"},
    DeliveryStatus.PENDING: {"event": "delivery.pending"},
    DeliveryStatus.FAILED: {"event": "delivery.failed"},
    DeliveryStatus.REFUSED: {"event": "delivery.refused"},
}


CANCELED_BEFORE_DELIVERY = "the run was canceled before it was delivered"


class LeaseLost(Exception):
    """The attempt no longer holds its run (canceled, taken over, or its task deleted)."""


def holds_lease(run: Run | None, token: str, now: datetime) -> bool:
    return (
        run is not None
        and run.status is RunStatus.EXECUTING
        and run.lease_token == token
        and (run.lease_expires_at is None or run.lease_expires_at > now)
    )


def abandon_pending(uow: UnitOfWork, run_id: str, now: datetime, reason: str) -> list[Delivery]:
    """Inside a transaction that cancels the run: its pending deliveries will never go.
    Answers them, abandoned, for the caller to count once the transaction has committed."""
    abandoned = [
        deliveries.abandon(delivery, now, reason)
        for delivery in uow.deliveries.pending_of_run(run_id)
    ]
    for delivery in abandoned:
        uow.deliveries.save(delivery)
    return abandoned


def count_delivery(metrics: Recorder, delivery: Delivery) -> None:
    """Count a delivery that reached `delivery.status` (after its transaction committed)."""
    metrics.delivery(delivery.channel.value, delivery.status.value)
    if delivery.channel is Channel.EMAIL and delivery.status in (
        DeliveryStatus.SENT,
        DeliveryStatus.UNCONFIRMED,
    ):
        metrics.emails(sent=1)


class Outbox:
    def __init__(
        self,
        uow: UnitOfWorkFactory,
        clock: Clock,
        *,
        plan: RetryPlan,
        sending_for: timedelta,
        metrics: Recorder = NO_METRICS,
        webhook_plan: RetryPlan = WEBHOOK_PLAN,
        webhook_sending_for: timedelta = timedelta(seconds=20),
        box: SecretBox | None = None,
    ) -> None:
        self._uow = uow
        self._clock = clock
        self._metrics = metrics
        self.plan = plan
        self.webhook_plan = webhook_plan
        self._sending_for = sending_for
        self._webhook_sending_for = webhook_sending_for
        self._box = box

    def plan_for(self, delivery: Delivery) -> RetryPlan:
        return self.webhook_plan if delivery.channel is Channel.WEBHOOK else self.plan

    def _sending_time(self, delivery: Delivery) -> timedelta:
        if delivery.channel is Channel.WEBHOOK:
            return self._webhook_sending_for
        return self._sending_for

    def slack_target(self, delivery: Delivery) -> str | None:
        """The Slack incoming webhook URL of the delivery's task, now; None if the task is
        gone or no longer posts to Slack."""
        with self._uow() as uow:
            run = uow.runs.get(delivery.run_id)
            task = None if run is None or run.task_id is None else uow.tasks.get(run.task_id)
        if task is None or task.delivery is None or task.delivery.slack_url is None:
            return None
        return None if self._box is None else self._box.open(task.delivery.slack_url)

    def webhook_target(self, delivery: Delivery) -> tuple[str, list[str]] | None:
        """Where an event goes and the secrets that sign it now; None if the endpoint is
        gone, or disabled."""
        with self._uow() as uow:
            endpoint = uow.webhooks.get(delivery.recipient)
        if endpoint is None or not endpoint.enabled or self._box is None:
            return None
        now = self._clock.now()
        live = [self._box.open(secret) for secret in endpoint.signing_secrets(now)]
        return endpoint.url, live

    def request(
        self,
        run_id: str,
        lease_token: str,
        channel: Channel,
        recipient: str,
        address: str,
        subject: str | None,
        body: str,
    ) -> tuple[Delivery, bool]:
        """Record the intent to deliver; answers the delivery and whether it is new. One that
        an earlier attempt left pending is adopted by this attempt (and keeps its content)."""
        now = self._clock.now()
        with self._uow(write=True) as uow:
            run = uow.work.get_for_update(run_id)
            if not holds_lease(run, lease_token, now):
                raise LeaseLost(run_id)
            asked = deliveries.intent(
                run_id, channel, recipient, address, subject, body, now, attempt_id=lease_token
            )
            delivery = uow.deliveries.add(asked)
            new = delivery.id == asked.id
            if not new and delivery.status is DeliveryStatus.PENDING:
                delivery = replace(delivery, attempt_id=lease_token, updated_at=now)
                uow.deliveries.save(delivery)
            uow.commit()
        return delivery, new

    def begin(self, delivery_id: str, lease_token: str | None) -> Delivery | None:
        """Take a pending delivery for sending; None if it is not pending or may not be sent
        now. With a token: only while that attempt holds the run. Without: only once the run
        has ended (not canceled) and the delivery's next try is due."""
        now = self._clock.now()
        with self._uow(write=True) as uow:
            found = uow.deliveries.get(delivery_id)
            if found is None:
                return None
            # The run's row first, then the delivery's: the order a cancel takes them in.
            run = uow.work.get_for_update(found.run_id)
            delivery = uow.deliveries.get(delivery_id, for_update=True)
            if delivery is None or delivery.status is not DeliveryStatus.PENDING:
                return None
            if lease_token is not None:
                allowed = holds_lease(run, lease_token, now)
            else:
                allowed = deliveries.may_send_after_run(
                    delivery, None if run is None else run.status
                ) and (delivery.next_try_at is None or delivery.next_try_at <= now)
            if not allowed:
                return None
            started = deliveries.begin(delivery, now, self._sending_time(delivery))
            uow.deliveries.save(started)
            uow.commit()
        return started

    def settle(self, delivery_id: str, result: SendResult) -> Delivery | None:
        """Record what a try found out. A try that would leave the delivery pending for a
        run canceled meanwhile abandons it instead (a cancel stops every later send)."""
        now = self._clock.now()
        with self._uow(write=True) as uow:
            found = uow.deliveries.get(delivery_id)
            if found is None:
                return None
            # The run's row first, then the delivery's: the order begin and a cancel take.
            run = uow.work.get_for_update(found.run_id)
            delivery = uow.deliveries.get(delivery_id, for_update=True)
            if delivery is None:
                return None
            if delivery.status is not DeliveryStatus.SENDING:
                # Declared lost in flight meanwhile (unconfirmed): that stands.
                log.warning(
                    "late delivery report ignored",
                    extra={"event": "delivery.late_report", "run_id": delivery.run_id},
                )
                return delivery
            settled = deliveries.settle(delivery, result, now, self.plan_for(delivery))
            if (
                settled.status is DeliveryStatus.PENDING
                and not settled.purpose.outlives_run  # about the run's end: it stands
                and (run is None or run.status is RunStatus.CANCELED)
            ):
                settled = deliveries.abandon(settled, now, CANCELED_BEFORE_DELIVERY)
            uow.deliveries.save(settled)
            uow.deliveries.record_try(
                settled.id, DeliveryTry(settled.tries, now, result.outcome, result.detail or None)
            )
            if settled.channel is Channel.WEBHOOK:
                self._note_endpoint_try(uow, settled, result, now)
            uow.commit()
        count_delivery(self._metrics, settled)
        log.info(
            "delivery %s",
            settled.status.value,
            extra={
                **SETTLED_EVENTS[settled.status],
                "run_id": settled.run_id,
                "channel": settled.channel.value,
                "tries": settled.tries,
                "error": settled.error,
            },
        )
        return settled

    def get(self, delivery_id: str) -> Delivery | None:
        with self._uow() as uow:
            return uow.deliveries.get(delivery_id)

    def of_run(self, run_id: str) -> list[Delivery]:
        with self._uow() as uow:
            return uow.deliveries.of_run(run_id)

    def due(self, limit: int) -> list[Delivery]:
        with self._uow() as uow:
            return uow.deliveries.due(self._clock.now(), limit)

    def reap_lost(self, limit: int = 100) -> int:
        """Deliveries whose sender died mid-send: emails become unconfirmed (never sent
        again), events are tried again (see domain.deliveries.lost_in_flight)."""
        now = self._clock.now()
        with self._uow(write=True) as uow:
            lost = [
                deliveries.lost_in_flight(d, now, self.plan_for(d))
                for d in uow.deliveries.stuck(now, limit)
            ]
            for delivery in lost:
                uow.deliveries.save(delivery)
            uow.commit()
        for delivery in lost:
            count_delivery(self._metrics, delivery)
            log.warning(
                "delivery lost in flight; counted %s",
                delivery.status.value,
                extra={"event": "delivery.unconfirmed", "run_id": delivery.run_id},
            )
        return len(lost)

    @staticmethod
    def _note_endpoint_try(
        uow: UnitOfWork, delivery: Delivery, result: SendResult, now: datetime
    ) -> None:
        endpoint = uow.webhooks.get(delivery.recipient, for_update=True)
        if endpoint is None:
            return
        after = webhooks.after_try(endpoint, result.outcome is SendOutcome.ACCEPTED, now)
        if after != endpoint:
            uow.webhooks.save(after)
        if after.disabled_at is not None and endpoint.disabled_at is None:
            log.warning(
                "webhook endpoint disabled: %s",
                after.disabled_reason,
                extra={"event": "webhook.disabled", "endpoint_id": endpoint.id},
            )
            owner = uow.accounts.emails([after.account_id]).get(after.account_id)
            if owner is not None:
                subject, body = webhooks.disabled_notice(after, delivery)
                uow.deliveries.add(
                    deliveries.intent(
                        delivery.run_id,
                        Channel.EMAIL,
                        after.id,
                        owner,
                        subject,
                        body,
                        now,
                        purpose=Purpose.NOTICE,
                    )
                )
