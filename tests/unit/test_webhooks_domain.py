"""The webhook rules without a database: signing (checked by the `standardwebhooks` package),
the retry schedule, what an event's body holds, URL checks, and when an endpoint is disabled."""

from __future__ import annotations

import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from uuid import uuid4

import pytest
from standardwebhooks import Webhook, WebhookVerificationError

from backbeat.domain import deliveries, webhooks
from backbeat.domain.deliveries import (
    Channel,
    Delivery,
    DeliveryStatus,
    Purpose,
    RetryPlan,
)
from backbeat.domain.errors import InvalidInput
from backbeat.domain.runs import RunStatus
from backbeat.domain.webhooks import Endpoint, EventType

NOW = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
BODY = b'{"type":"run.completed"}'


def endpoint(**changes: object) -> Endpoint:
    found = Endpoint(
        id="whep_1",
        account_id=uuid4(),
        url="https://hooks.example.com/backbeat",
        events=webhooks.ALL_EVENTS,
        secret=webhooks.new_secret(),
        created_at=NOW,
        updated_at=NOW,
    )
    return replace(found, **changes)  # type: ignore[arg-type]


def test_a_signature_verifies_with_the_reference_verifier() -> None:
    secret = webhooks.new_secret()
    headers = webhooks.sign([secret], "msg_1", int(time.time()), BODY)
    assert Webhook(secret).verify(BODY, headers) == {"type": "run.completed"}
    with pytest.raises(WebhookVerificationError):
        Webhook(webhooks.new_secret()).verify(BODY, headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(BODY + b" ", headers)


def test_during_an_overlap_either_secret_verifies() -> None:
    old = endpoint()
    rotated = webhooks.rotate(old, NOW, timedelta(hours=24))
    assert rotated.previous_secret == old.secret
    live = rotated.signing_secrets(NOW + timedelta(hours=23))
    assert live == [rotated.secret, old.secret]
    headers = webhooks.sign(live, "msg_1", int(time.time()), BODY)
    Webhook(old.secret).verify(BODY, headers)
    Webhook(rotated.secret).verify(BODY, headers)
    assert rotated.signing_secrets(NOW + timedelta(hours=24)) == [rotated.secret]
    assert webhooks.rotate(old, NOW, timedelta(0)).previous_secret is None


def test_events_of_final_statuses() -> None:
    assert webhooks.event_of(RunStatus.COMPLETED) is EventType.RUN_COMPLETED
    assert webhooks.event_of(RunStatus.CANCELED) is EventType.RUN_CANCELED
    for status in (RunStatus.FAILED, RunStatus.CRASHED, RunStatus.SYSTEM_FAILURE):
        assert webhooks.event_of(status) is EventType.RUN_FAILED
    for status in (RunStatus.QUEUED, RunStatus.EXECUTING, RunStatus.REATTEMPTING):
        assert webhooks.event_of(status) is None


@pytest.mark.parametrize(
    ("names", "message"),
    [
        (["run.completed", "run.exploded"], "unknown webhook event 'run.exploded'"),
        ([], "subscribe to at least one event"),
    ],
)
def test_unknown_or_no_events_are_refused(names: list[str], message: str) -> None:
    with pytest.raises(InvalidInput, match=message) as raised:
        webhooks.parse_events(names)
    assert raised.value.path == ["events"]


def test_events_default_to_all_and_repeat_once() -> None:
    assert webhooks.parse_events(None) == webhooks.ALL_EVENTS
    assert webhooks.parse_events(["run.failed", "run.failed"]) == (EventType.RUN_FAILED,)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("", "url is required"),
        ("ftp://example.com/x", "http or https"),
        ("https:///path", "http or https"),
        ("https://user:pw@example.com/", "credentials"),
        ("https://example.com:port/", "not a valid URL"),
        ("https://example.com/" + "a" * 2048, "longer than 2048"),
    ],
)
def test_bad_urls_are_refused(url: str, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        webhooks.check_url(url)


def test_a_failing_streak_of_three_days_disables_and_a_success_clears_it() -> None:
    first = webhooks.after_try(endpoint(), False, NOW)
    assert first.failing_since == NOW
    assert first.enabled
    later = webhooks.after_try(first, False, NOW + timedelta(days=2, hours=23))
    assert later.enabled
    assert later.failing_since == NOW
    cleared = webhooks.after_try(later, True, NOW + timedelta(days=2, hours=23))
    assert cleared.failing_since is None
    disabled = webhooks.after_try(first, False, NOW + timedelta(days=3))
    assert not disabled.enabled
    assert disabled.disabled_reason == "every delivery failed for 3 days"
    assert not disabled.wants(EventType.RUN_COMPLETED)


def test_the_retry_schedule_is_about_a_day() -> None:
    plan = RetryPlan.schedule(webhooks.RETRY_SCHEDULE)
    assert plan.tries == 8
    assert [plan.delay(n) for n in range(1, 8)] == list(webhooks.RETRY_SCHEDULE)
    assert timedelta(hours=27) < sum(webhooks.RETRY_SCHEDULE, timedelta(0)) < timedelta(hours=28)


def event(status: DeliveryStatus = DeliveryStatus.SENDING, tries: int = 1) -> Delivery:
    return Delivery(
        id="delivery_1",
        run_id="run_1",
        channel=Channel.WEBHOOK,
        recipient="whep_1",
        address="https://hooks.example.com/backbeat",
        subject="run.completed",
        body=BODY.decode(),
        status=status,
        created_at=NOW,
        updated_at=NOW,
        tries=tries,
        purpose=Purpose.EVENT,
    )


def test_an_event_whose_sender_died_is_tried_again_not_unconfirmed() -> None:
    plan = RetryPlan.schedule(webhooks.RETRY_SCHEDULE)
    again = deliveries.lost_in_flight(event(), NOW, plan)
    assert again.status is DeliveryStatus.PENDING
    assert again.next_try_at == NOW + timedelta(seconds=5)
    assert deliveries.lost_in_flight(event(tries=8), NOW, plan).status is DeliveryStatus.FAILED


def test_events_may_go_after_a_cancel_messages_may_not() -> None:
    message = replace(event(DeliveryStatus.PENDING), purpose=Purpose.MESSAGE)
    assert deliveries.may_send_after_run(event(DeliveryStatus.PENDING), RunStatus.CANCELED)
    assert not deliveries.may_send_after_run(message, RunStatus.CANCELED)
    assert deliveries.may_send_after_run(message, RunStatus.COMPLETED)
    assert not deliveries.may_send_after_run(event(DeliveryStatus.PENDING), None)
