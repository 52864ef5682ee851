"""Webhook events from a worker to a real receiver on loopback that verifies each signature
with the `standardwebhooks` package: once per event as accepted, however often it failed
first; retried on the schedule; signed with both secrets while a rotation overlaps; never to
a private address unless allowed; an endpoint failing for days is disabled."""

from __future__ import annotations

from datetime import timedelta

import pytest

from backbeat.domain.deliveries import SendOutcome
from backbeat.domain.errors import Conflict
from backbeat.domain.failures import AttemptFailed, FailureKind
from backbeat.domain.runs import RunStatus
from backbeat.domain.webhooks import RETRY_SCHEDULE
from backbeat.services.keys import Caller
from backbeat.services.tasks import TaskPatch
from backbeat.testing import FakeClock
from backbeat.testing.fake_provider import ScriptedProvider, reply
from backbeat.wiring import Backbeat
from backbeat.worker.webhooks import WebhookPoster
from tests.conftest import Tenant
from tests.webhook_receiver import Receiver, webhook_receiver
from tests.worker.harness import Harness, make_harness, run


def caller(backbeat: Backbeat, tenant: Tenant) -> Caller:
    return Caller(tenant.account_id, tenant.key_id(backbeat))


def subscribe(h: Harness, tenant: Tenant, receiver: Receiver, **options: object) -> str:
    endpoint, secret = h.backbeat.webhooks.add(caller(h.backbeat, tenant), receiver.url, **options)  # type: ignore[arg-type]
    receiver.secrets.append(secret)
    return endpoint.id


def completed_run(h: Harness, tenant: Tenant, text: str = "Synthpop is up 12%.") -> str:
    h.provider.script(reply(text))
    task = h.new_task(tenant)
    queued = h.run_now(tenant, task)
    assert run(h.work()) == 1
    assert h.get(queued.id).status is RunStatus.COMPLETED
    return queued.id


def test_a_completed_run_reaches_the_receiver_signed_and_once(
    backbeat: Backbeat, clock: FakeClock, alice: Tenant, receiver: Receiver
) -> None:
    h = make_harness(backbeat, clock, ScriptedProvider())
    endpoint_id = subscribe(h, alice, receiver)
    run_id = completed_run(h, alice)

    run(h.outbox.step())  # (the worker's own step may have sent it already)
    run(h.outbox.step())
    assert len(receiver.requests) == 1
    [got] = receiver.accepted()
    assert got.event["type"] == "run.completed"
    assert got.event["data"]["run"]["id"] == run_id
    assert got.event["data"]["run"]["report"] == "Synthpop is up 12%."
    assert got.event["data"]["run"]["title"] == "Pulse"
    assert got.webhook_id.startswith("delivery_")
    assert got.headers["webhook-signature"].startswith("v1,")
    [logged] = backbeat.webhooks.deliveries(caller(backbeat, alice), endpoint_id)
    assert logged.event == "run.completed"
    assert logged.delivery.status.value == "sent"
    assert [(t.number, t.outcome, t.detail) for t in logged.tries] == [
        (1, SendOutcome.ACCEPTED, "HTTP 204")
    ]


def test_a_receiver_failing_twice_gets_the_event_once_on_the_schedule(
    backbeat: Backbeat, clock: FakeClock, alice: Tenant, receiver: Receiver
) -> None:
    h = make_harness(backbeat, clock, ScriptedProvider())
    endpoint_id = subscribe(h, alice, receiver)
    receiver.fail_next = 2
    completed_run(h, alice)

    def tried_after(seconds: float) -> int:
        clock.advance(seconds=seconds)
        run(h.outbox.step())
        return len(receiver.requests)

    assert tried_after(0) == 1  # at once (when the run ended): 500
    assert tried_after(4) == 1  # not due before 5 s
    assert tried_after(1) == 2  # after 5 s: 500 again
    assert tried_after(299) == 2
    assert tried_after(1) == 3  # after 5 min more: accepted
    assert tried_after(2 * 86400) == 3

    assert len(receiver.requests) == 3
    assert len({each.webhook_id for each in receiver.requests}) == 1  # one message id
    assert all(each.verified for each in receiver.requests)
    assert len(receiver.accepted()) == 1
    [logged] = backbeat.webhooks.deliveries(caller(backbeat, alice), endpoint_id)
    assert [(t.outcome, t.detail) for t in logged.tries] == [
        (SendOutcome.TEMPORARY, "HTTP 500"),
        (SendOutcome.TEMPORARY, "HTTP 500"),
        (SendOutcome.ACCEPTED, "HTTP 204"),
    ]
    assert [t.at for t in logged.tries][1] - logged.tries[0].at == timedelta(seconds=5)


def test_the_schedule_ends_failed_and_a_resend_by_hand_delivers(
    backbeat: Backbeat, clock: FakeClock, alice: Tenant, receiver: Receiver
) -> None:
    h = make_harness(backbeat, clock, ScriptedProvider())
    endpoint_id = subscribe(h, alice, receiver)
    receiver.fail_next = 100
    completed_run(h, alice)
    run(h.outbox.step())  # at once, then after each of the schedule's waits (about a day)
    for number, wait in enumerate(RETRY_SCHEDULE, start=2):
        clock.advance(seconds=wait.total_seconds())
        run(h.outbox.step())
        assert len(receiver.requests) == number
    [logged] = backbeat.webhooks.deliveries(caller(backbeat, alice), endpoint_id)
    assert logged.delivery.status.value == "failed"
    assert len(logged.tries) == 8
    assert receiver.accepted() == []

    receiver.fail_next = 0
    backbeat.webhooks.resend(caller(backbeat, alice), logged.delivery.id)
    run(h.outbox.step())
    assert receiver.accepted_ids() == [logged.delivery.id]


def test_failed_and_canceled_runs_raise_their_events(
    backbeat: Backbeat, clock: FakeClock, alice: Tenant, receiver: Receiver
) -> None:
    provider = ScriptedProvider(AttemptFailed(FailureKind.BAD_REQUEST, "the model refused"))
    h = make_harness(backbeat, clock, provider)
    subscribe(h, alice, receiver, events=["run.failed", "run.canceled"])
    task = h.new_task(alice)
    failing = h.run_now(alice, task)
    assert run(h.work()) == 1
    assert h.get(failing.id).status is RunStatus.FAILED
    canceled = h.run_now(alice, task)
    backbeat.runs.cancel(caller(backbeat, alice), canceled.id)
    completed_run(h, alice)  # not subscribed: no run.completed

    run(h.outbox.step())
    assert len(receiver.requests) == 2
    events = {each.event["type"]: each.event["data"]["run"] for each in receiver.accepted()}
    assert events["run.failed"]["id"] == failing.id
    assert events["run.failed"]["status"] == "FAILED"
    assert events["run.failed"]["error"]
    assert events["run.canceled"]["id"] == canceled.id
    assert set(events) == {"run.failed", "run.canceled"}


def test_a_task_paused_by_its_failures_raises_task_paused_beside_run_failed(
    backbeat: Backbeat, clock: FakeClock, alice: Tenant, receiver: Receiver
) -> None:
    refused = AttemptFailed(FailureKind.BAD_REQUEST, "the model refused")
    h = make_harness(backbeat, clock, ScriptedProvider(refused, refused))
    subscribe(h, alice, receiver, events=["run.failed", "task.paused"])
    task = h.new_task(alice, title="Weekly pulse")
    backbeat.tasks.update(caller(backbeat, alice), task, TaskPatch(pause_after_failures=2))
    failed = []
    for _ in range(2):
        failed.append(h.run_now(alice, task).id)
        assert run(h.work()) == 1
    run(h.outbox.step())

    got = [(each.event["type"], each.event["data"]["run"]["id"]) for each in receiver.accepted()]
    assert sorted(got) == sorted(
        [("run.failed", failed[0]), ("run.failed", failed[1]), ("task.paused", failed[1])]
    )
    [paused] = [
        each.event["data"] for each in receiver.accepted() if each.event["type"] == "task.paused"
    ]
    assert paused["task"] == {
        "id": str(task),
        "title": "Weekly pulse",
        "enabled": False,
        "reason": "pause_after_failures",
        "pause_after_failures": 2,
        "failed_runs_in_a_row": 2,
    }
    assert paused["run"]["status"] == "FAILED"
    assert len({each.headers["webhook-id"] for each in receiver.accepted()}) == 3
    with backbeat.uow() as uow:
        assert uow.tasks.get(task).enabled is False  # type: ignore[union-attr]


def test_a_rotation_signs_with_both_secrets_until_the_overlap_ends(
    backbeat: Backbeat, clock: FakeClock, alice: Tenant
) -> None:
    h = make_harness(backbeat, clock, ScriptedProvider())
    with webhook_receiver() as old_only, webhook_receiver() as new_only:
        endpoint_id = subscribe(h, alice, old_only)
        old_secret = old_only.secrets[0]
        _, new_secret = backbeat.webhooks.rotate(
            caller(backbeat, alice), endpoint_id, timedelta(hours=24)
        )
        assert new_secret != old_secret
        assert new_secret.startswith("whsec_")
        new_only.secrets.append(new_secret)
        completed_run(h, alice)
        run(h.outbox.step())
        [sent] = old_only.accepted()  # the old secret still verifies …
        assert new_only.handle(sent.headers, sent.body) == 204  # … and so does the new one
        assert len(sent.headers["webhook-signature"].split(" ")) == 2

        clock.advance(hours=25)
        completed_run(h, alice)
        run(h.outbox.step())
        assert len(old_only.requests) == 2
        assert len(old_only.accepted()) == 1  # refused now: signed with the new one only
        assert old_only.requests[-1].verified is False
        assert new_only.handle(old_only.requests[-1].headers, old_only.requests[-1].body) == 204


def test_a_replay_with_an_old_timestamp_is_what_a_receiver_refuses(
    backbeat: Backbeat, clock: FakeClock, alice: Tenant, receiver: Receiver
) -> None:
    h = make_harness(backbeat, clock, ScriptedProvider())
    subscribe(h, alice, receiver)
    completed_run(h, alice)
    run(h.outbox.step())
    [sent] = receiver.accepted()
    stale = {**sent.headers, "webhook-timestamp": str(int(sent.headers["webhook-timestamp"]) - 600)}
    assert receiver.handle(stale, sent.body) == 400  # the signature covers the timestamp
    assert "timestamp" in receiver.requests[-1].reason.lower()


def test_private_addresses_are_refused_unless_allowed(
    backbeat: Backbeat, clock: FakeClock, alice: Tenant, receiver: Receiver
) -> None:
    h = make_harness(backbeat, clock, ScriptedProvider())
    h.outbox._poster = WebhookPoster(allow_private=False, timeout_seconds=5)  # the default
    endpoint_id = subscribe(h, alice, receiver)
    completed_run(h, alice)
    run(h.outbox.step())
    assert receiver.requests == []
    [logged] = backbeat.webhooks.deliveries(caller(backbeat, alice), endpoint_id)
    assert logged.delivery.status.value == "failed"
    assert "BACKBEAT_WEBHOOK_ALLOW_PRIVATE" in (logged.delivery.error or "")


def test_an_endpoint_failing_for_days_is_disabled(
    backbeat: Backbeat, clock: FakeClock, alice: Tenant, receiver: Receiver
) -> None:
    h = make_harness(backbeat, clock, ScriptedProvider())
    endpoint_id = subscribe(h, alice, receiver)
    receiver.fail_next = 10_000
    for _ in range(4):  # a run a day, each retried for a day
        completed_run(h, alice)
        for _ in range(8):
            run(h.outbox.step())
            clock.advance(hours=3)
    [endpoint] = backbeat.webhooks.endpoints(caller(backbeat, alice))
    assert endpoint.id == endpoint_id
    assert endpoint.disabled_at is not None
    assert "failed for 3 days" in (endpoint.disabled_reason or "")
    assert endpoint.secret == ""  # never shown again
    run(h.outbox.step())
    # The owner is told once, by email, with the way back.
    [notice] = [m for m in h.mailer.sent if m.subject.startswith("Webhook endpoint disabled")]
    assert notice.recipients == (alice.email,)
    assert receiver.url in notice.subject
    assert f"backbeat webhooks enable {endpoint_id}" in notice.body
    assert "failed since" in notice.body

    quiet = completed_run(h, alice)  # a disabled endpoint gets no new events
    logged = backbeat.webhooks.deliveries(caller(backbeat, alice), endpoint_id)
    assert all(each.delivery.run_id != quiet for each in logged)
    before = len(receiver.requests)
    run(h.outbox.step())
    assert len(receiver.requests) == before
    latest = next(each for each in logged if each.delivery.status.is_final)
    with pytest.raises(Conflict, match="disabled"):
        backbeat.webhooks.resend(caller(backbeat, alice), latest.delivery.id)

    receiver.fail_next = 0
    backbeat.webhooks.enable(caller(backbeat, alice), endpoint_id)
    backbeat.webhooks.resend(caller(backbeat, alice), latest.delivery.id)
    run(h.outbox.step())
    assert receiver.accepted_ids() == [latest.delivery.id]
    notices = [m for m in h.mailer.sent if m.subject.startswith("Webhook endpoint disabled")]
    assert len(notices) == 1
