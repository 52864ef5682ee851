"""The worker's side of the outbox: sending a delivery once (begin → transport → settle), for
an attempt's tool call right away and for the outbox's own retries later.

A send runs as its own task, shielded from the caller: an attempt that times out or is
abandoned while its email is on the wire does not stop the report of how the send ended
(otherwise the row would stay `sending` until declared unconfirmed).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import replace

from backbeat.agents.tools.base import DeliveryReport, Mailer, OutgoingEmail
from backbeat.domain import backoff, reports
from backbeat.domain.deliveries import (
    Channel,
    Delivery,
    DeliveryStatus,
    Purpose,
    SendOutcome,
    SendResult,
)
from backbeat.domain.failures import AttemptFailed, FailureKind
from backbeat.services.outbox import LeaseLost, Outbox
from backbeat.services.reporting import report_from_json
from backbeat.worker.db import in_thread
from backbeat.worker.slack import SlackPoster
from backbeat.worker.webhooks import WebhookPoster

log = logging.getLogger("backbeat.outbox")

DUE_BATCH = 20
SETTLE_TRIES = 20  # with in_thread's own patience, minutes of database outage


class OutboxSender:
    def __init__(
        self,
        outbox: Outbox,
        mailer: Mailer | None,
        poster: WebhookPoster | None = None,
        slack: SlackPoster | None = None,
    ) -> None:
        self.outbox = outbox
        self._mailer = mailer
        self._poster = poster
        self._slack = slack
        self._in_flight: set[asyncio.Task[Delivery | None]] = set()

    @property
    def can_email(self) -> bool:
        return self._mailer is not None

    async def send(self, delivery_id: str, lease_token: str | None) -> Delivery | None:
        """Try the delivery once now, if it is pending and may be sent (see Outbox.begin);
        answers it as it stands afterwards."""
        task = asyncio.create_task(self._send(delivery_id, lease_token))
        self._in_flight.add(task)
        task.add_done_callback(self._in_flight.discard)
        return await asyncio.shield(task)

    async def _send(self, delivery_id: str, lease_token: str | None) -> Delivery | None:
        started = await in_thread(self.outbox.begin, delivery_id, lease_token)
        if started is None:
            return await in_thread(self.outbox.get, delivery_id)
        result = await self._transport(started)
        return await self._settle(delivery_id, result)

    async def _settle(self, delivery_id: str, result: SendResult) -> Delivery | None:
        """Record the result, patiently: until it is recorded the delivery stays `sending`
        and, past its time, counts as unconfirmed even if it was refused or failed for a
        passing reason (then it would never be retried)."""
        for attempt in range(1, SETTLE_TRIES + 1):
            try:
                return await in_thread(self.outbox.settle, delivery_id, result)
            except AttemptFailed:
                if attempt == SETTLE_TRIES:
                    raise
                await asyncio.sleep(backoff.delay(attempt))
        raise AssertionError("unreachable")

    async def _transport(self, delivery: Delivery) -> SendResult:
        if delivery.channel is Channel.EMAIL:
            if self._mailer is None:
                return SendResult(SendOutcome.PERMANENT, "email is not configured")
            email = OutgoingEmail((delivery.address,), delivery.subject or "", delivery.body)
            if delivery.purpose in (Purpose.REPORT, Purpose.ALERT):
                report = report_from_json(delivery.body)
                email = replace(
                    email, body=reports.email_text(report), html=reports.email_html(report)
                )
            return await self._mailer.send(email)
        if delivery.channel is Channel.SLACK and self._slack is not None:
            url = await in_thread(self.outbox.slack_target, delivery)
            if url is None:
                return SendResult(SendOutcome.PERMANENT, "the task no longer posts to Slack")
            report = report_from_json(delivery.body)
            return await self._slack.post(url, reports.slack_payload(report))
        if delivery.channel is Channel.WEBHOOK and self._poster is not None:
            target = await in_thread(self.outbox.webhook_target, delivery)
            if target is None:
                return SendResult(SendOutcome.PERMANENT, "the endpoint was removed or disabled")
            url, secrets = target
            return await self._poster.post(url, delivery.id, delivery.body, secrets)
        return SendResult(SendOutcome.PERMANENT, f"no transport for {delivery.channel}")

    async def step(self, stopping: Callable[[], bool] = lambda: False) -> int:
        """The outbox's own work: settle sends whose sender died, retry what is due (until
        `stopping`). Answers how many deliveries it tried. A database error while looking is
        the caller's to back off from; one during a send leaves that delivery to a later step."""
        await asyncio.to_thread(self.outbox.reap_lost)
        due = await asyncio.to_thread(self.outbox.due, DUE_BATCH)
        for tried, delivery in enumerate(due):
            if stopping():
                return tried
            try:
                await self.send(delivery.id, None)
            except AttemptFailed as exc:
                log.warning(
                    "outbox retry interrupted: %s",
                    exc.message,
                    extra={"event": "delivery.retry_interrupted", "run_id": delivery.run_id},
                )
                return tried
        return len(due)

    async def wait_idle(self, timeout: float) -> None:
        """Let sends on the wire report back (a stopping worker), up to `timeout` seconds."""
        if self._in_flight:
            await asyncio.wait(list(self._in_flight), timeout=timeout)

    def for_attempt(self, run_id: str, lease_token: str) -> AttemptOutbox:
        return AttemptOutbox(self, run_id, lease_token)


class AttemptOutbox:
    """One attempt's RunOutbox (agents.tools.base)."""

    def __init__(self, sender: OutboxSender, run_id: str, lease_token: str) -> None:
        self._sender = sender
        self._run_id = run_id
        self._token = lease_token

    @property
    def can_email(self) -> bool:
        return self._sender.can_email

    async def email(self, recipient: str, address: str, subject: str, body: str) -> DeliveryReport:
        outbox = self._sender.outbox
        try:
            delivery, _ = await in_thread(
                outbox.request,
                self._run_id,
                self._token,
                Channel.EMAIL,
                recipient,
                address,
                subject,
                body,
            )
        except LeaseLost:
            # Canceled, taken over or its task deleted: this attempt must not send anything
            # more, and its outcome is discarded. If only its lease ran out (a renewal came
            # late) and nobody took the run yet, the run is retried like a dead worker's.
            raise AttemptFailed(
                FailureKind.WORKER_CRASHED,
                "the attempt no longer held its run's lease (canceled, taken over or expired); "
                "nothing was sent",
                name="LeaseLost",
            ) from None
        if delivery.status is not DeliveryStatus.PENDING:
            return DeliveryReport(delivery.address, delivery.status, delivery.error, earlier=True)
        after = await self._sender.send(delivery.id, self._token) or delivery
        return DeliveryReport(after.address, after.status, after.error)
