"""Webhook endpoints: what an account registers (and rotates, and reads the log of), and the
events its runs raise. The rules are in domain.webhooks; the sending is the outbox's.

Endpoints belong to an account and receive the events of all of that account's tasks that
they subscribed to. Access follows the tasks': a caller manages the endpoints of the account
it may act for (its own, an organization mate's, any with an admin organization). The
signing secret is shown once, when the endpoint is created or its secret rotated; the store
keeps it sealed (domain.ports.SecretBox).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from uuid import UUID

import orjson

from backbeat.domain import deliveries, webhooks
from backbeat.domain.clock import Clock
from backbeat.domain.deliveries import (
    Channel,
    Delivery,
    DeliveryStatus,
    DeliveryTry,
    Purpose,
)
from backbeat.domain.errors import AccessDenied, Conflict, NotFound
from backbeat.domain.ids import new_webhook_id
from backbeat.domain.models import Run, Task
from backbeat.domain.ports import SecretBox, UnitOfWork
from backbeat.domain.webhooks import Endpoint
from backbeat.services.access import resolve_account
from backbeat.services.keys import Caller
from backbeat.services.outbox import UnitOfWorkFactory

log = logging.getLogger("backbeat.webhooks")

DELIVERY_LOG_LIMIT = 100


@dataclass(frozen=True, slots=True)
class LoggedDelivery:
    """One event sent (or to be sent) to an endpoint, with every try."""

    delivery: Delivery
    event: str
    tries: list[DeliveryTry]


class RunEvents:
    """Raises a run's event, inside the transaction that gave the run its final state: one
    delivery per endpoint of the run's account that wants it, committed with the run."""

    def __init__(self, public_url: str | None = None) -> None:
        self._public_url = (public_url or "").rstrip("/") or None

    def run_url(self, run_id: str) -> str | None:
        return None if self._public_url is None else f"{self._public_url}/dashboard/runs/{run_id}"

    def record(self, uow: UnitOfWork, run: Run, now: datetime) -> int:
        event = webhooks.event_of(run.status)
        if event is None:
            return 0
        wanted = [each for each in uow.webhooks.of_account(run.account_id) if each.wants(event)]
        if not wanted:
            return 0
        if run.task_title is None and run.task_id is not None:
            run = replace(run, task_title=uow.tasks.titles([run.task_id]).get(run.task_id))
        body = orjson.dumps(webhooks.event_body(event, run, now, self.run_url(run.id))).decode()
        return _raise(uow, run, event, wanted, body, now, Purpose.EVENT)

    def task_paused(
        self, uow: UnitOfWork, task: Task, run: Run, failed_runs: int, now: datetime
    ) -> int:
        """The task.paused event of a task that `run`'s failure paused, in that transaction."""
        event = webhooks.EventType.TASK_PAUSED
        wanted = [each for each in uow.webhooks.of_account(task.account_id) if each.wants(event)]
        if not wanted:
            return 0
        raw = webhooks.task_paused_body(task, run, failed_runs, now, self.run_url(run.id))
        body = orjson.dumps(raw).decode()
        return _raise(uow, run, event, wanted, body, now, Purpose.TASK_EVENT)


def _raise(
    uow: UnitOfWork,
    run: Run,
    event: webhooks.EventType,
    endpoints: list[Endpoint],
    body: str,
    now: datetime,
    purpose: Purpose,
) -> int:
    """One delivery of the event per endpoint; the run's purpose keeps each event's row apart
    from the run's others to the same endpoint."""
    for endpoint in endpoints:
        uow.deliveries.add(
            deliveries.intent(
                run.id,
                Channel.WEBHOOK,
                endpoint.id,
                endpoint.url,
                event.value,
                body,
                now,
                purpose=purpose,
            )
        )
    return len(endpoints)


class WebhookService:
    def __init__(self, uow: UnitOfWorkFactory, clock: Clock, box: SecretBox) -> None:
        self._uow = uow
        self._clock = clock
        self._box = box

    def add(
        self,
        caller: Caller,
        url: str,
        events: list[str] | None = None,
        *,
        account_id: UUID | None = None,
    ) -> tuple[Endpoint, str]:
        """A new endpoint, and its signing secret (shown this once)."""
        checked = webhooks.check_url(url)
        wanted = webhooks.parse_events(events)
        now = self._clock.now()
        secret = webhooks.new_secret()
        with self._uow(write=True) as uow:
            owner = resolve_account(uow, caller, account_id)
            endpoint = Endpoint(
                id=new_webhook_id(),
                account_id=owner,
                url=checked,
                events=wanted,
                secret=secret,
                created_at=now,
                updated_at=now,
            )
            uow.webhooks.add(self._sealed(endpoint))
            uow.commit()
        log.info(
            "webhook endpoint added",
            extra={"event": "webhook.added", "endpoint_id": endpoint.id},
        )
        return endpoint, secret

    def endpoints(self, caller: Caller, *, account_id: UUID | None = None) -> list[Endpoint]:
        """The account's endpoints (their secrets left out)."""
        with self._uow() as uow:
            owner = resolve_account(uow, caller, account_id)
            return [_unsecret(each) for each in uow.webhooks.of_account(owner)]

    def remove(self, caller: Caller, endpoint_id: str) -> None:
        with self._uow(write=True) as uow:
            self._owned(uow, caller, endpoint_id)
            uow.webhooks.delete(endpoint_id)
            uow.commit()

    def rotate(
        self, caller: Caller, endpoint_id: str, overlap: timedelta = webhooks.ROTATION_OVERLAP
    ) -> tuple[Endpoint, str]:
        """A new signing secret (shown this once); the old one keeps signing for `overlap`."""
        now = self._clock.now()
        with self._uow(write=True) as uow:
            endpoint = self._opened(self._owned(uow, caller, endpoint_id, for_update=True))
            rotated = webhooks.rotate(endpoint, now, overlap)
            uow.webhooks.save(self._sealed(rotated))
            uow.commit()
        return _unsecret(rotated), rotated.secret

    def enable(self, caller: Caller, endpoint_id: str) -> Endpoint:
        """Turn a disabled endpoint back on (its failing streak starts over)."""
        now = self._clock.now()
        with self._uow(write=True) as uow:
            endpoint = self._owned(uow, caller, endpoint_id, for_update=True)
            endpoint = replace(
                endpoint, disabled_at=None, disabled_reason=None, failing_since=None, updated_at=now
            )
            uow.webhooks.save(endpoint)
            uow.commit()
        return _unsecret(endpoint)

    def deliveries(
        self,
        caller: Caller,
        endpoint_id: str,
        *,
        limit: int = DELIVERY_LOG_LIMIT,
        before: str | None = None,
    ) -> list[LoggedDelivery]:
        """The endpoint's latest events, newest first, each with its tries."""
        with self._uow() as uow:
            self._owned(uow, caller, endpoint_id)
            found = uow.deliveries.to_recipient(Channel.WEBHOOK, endpoint_id, limit, before)
            tries = uow.deliveries.tries_of([each.id for each in found])
        return [LoggedDelivery(each, each.subject or "", tries.get(each.id, [])) for each in found]

    def resend(self, caller: Caller, delivery_id: str) -> Delivery:
        """Send an event again by hand, once (same `webhook-id`: a receiver that has it drops
        it; its tries go on being numbered). A delivery still pending or being sent, or one
        to a disabled endpoint, answers Conflict."""
        now = self._clock.now()
        with self._uow(write=True) as uow:
            delivery = uow.deliveries.get(delivery_id)
            if delivery is None or delivery.channel is not Channel.WEBHOOK:
                raise NotFound("Webhook delivery not found")
            endpoint = self._owned(
                uow, caller, delivery.recipient, missing="Webhook delivery not found"
            )
            if not endpoint.enabled:
                raise Conflict("the endpoint is disabled: enable it before re-sending")
            delivery = uow.deliveries.get(delivery_id, for_update=True)
            assert delivery is not None
            if not delivery.status.is_final:
                raise Conflict(f"the delivery is {delivery.status.value}: it is still being sent")
            again = replace(
                delivery,
                status=DeliveryStatus.PENDING,
                next_try_at=now,
                error=None,
                sent_at=None,
                updated_at=now,
            )
            uow.deliveries.save(again)
            uow.commit()
        return again

    def _owned(
        self,
        uow: UnitOfWork,
        caller: Caller,
        endpoint_id: str,
        *,
        for_update: bool = False,
        missing: str = "Webhook endpoint not found",
    ) -> Endpoint:
        endpoint = uow.webhooks.get(endpoint_id, for_update=for_update)
        if endpoint is None:
            raise NotFound(missing)
        try:
            resolve_account(uow, caller, endpoint.account_id)
        except AccessDenied:
            raise NotFound(missing) from None  # another account's: as if it did not exist
        return endpoint

    def _sealed(self, endpoint: Endpoint) -> Endpoint:
        return replace(
            endpoint,
            secret=self._box.seal(endpoint.secret),
            previous_secret=None
            if endpoint.previous_secret is None
            else self._box.seal(endpoint.previous_secret),
        )

    def _opened(self, endpoint: Endpoint) -> Endpoint:
        return replace(
            endpoint,
            secret=self._box.open(endpoint.secret),
            previous_secret=None
            if endpoint.previous_secret is None
            else self._box.open(endpoint.previous_secret),
        )


def _unsecret(endpoint: Endpoint) -> Endpoint:
    return replace(endpoint, secret="", previous_secret=None)
