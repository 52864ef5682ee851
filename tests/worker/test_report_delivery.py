"""A completed run's report goes to its task's delivery channels through the outbox: email
(plain text and HTML) to the team addresses listed, Slack blocks to the incoming webhook
(a local fake that checks Slack's payload rules); once each, whatever is retried; nothing when
`when` is `never` or the run did not complete."""

from __future__ import annotations

from backbeat.domain.failures import AttemptFailed, FailureKind
from backbeat.domain.runs import RunStatus
from backbeat.services.keys import Caller
from backbeat.services.task_delivery import DeliveryInput
from backbeat.services.tasks import TaskPatch
from backbeat.testing import FakeClock
from backbeat.testing.fake_provider import ScriptedProvider, reply
from backbeat.testing.fake_slack import FakeSlack
from backbeat.wiring import Backbeat
from tests.conftest import Tenant
from tests.worker.harness import Harness, make_harness, run

REPORT = "## Pulse\n\nSynthpop is **up 12%** this week. <script>alert(1)</script>"


def caller(backbeat: Backbeat, tenant: Tenant) -> Caller:
    return Caller(tenant.account_id, tenant.key_id(backbeat))


def deliver_to(h: Harness, tenant: Tenant, task_id: object, **given: object) -> None:
    patch = TaskPatch(delivery=DeliveryInput(**given))  # type: ignore[arg-type]
    h.backbeat.tasks.update(caller(h.backbeat, tenant), task_id, patch)  # type: ignore[arg-type]


def complete(h: Harness, tenant: Tenant, task_id: object, text: str = REPORT) -> str:
    h.provider.script(reply(text))
    queued = h.run_now(tenant, task_id)  # type: ignore[arg-type]
    assert run(h.work()) == 1
    assert h.get(queued.id).status is RunStatus.COMPLETED
    run(h.outbox.step())
    return queued.id


def test_the_report_reaches_email_and_slack_once(
    backbeat: Backbeat, clock: FakeClock, alice: Tenant, slack: FakeSlack
) -> None:
    h = make_harness(backbeat, clock, ScriptedProvider())
    task = h.new_task(alice, title="Weekly pulse")
    deliver_to(h, alice, task, email=("alice@example.com",), slack_url=slack.url())
    run_id = complete(h, alice, task)
    run(h.outbox.step())

    [email] = h.mailer.sent
    assert email.recipients == ("alice@example.com",)
    assert email.subject.startswith("Weekly pulse: Artist of alice@example.com")
    assert "Synthpop is **up 12%** this week." in email.body
    assert email.html is not None
    assert "<strong>up 12%</strong>" in email.html
    assert "<script>" not in email.html
    [posted] = slack.posted()
    texts = " ".join(
        block.get("text", {}).get("text", "") for block in posted["blocks"] if "text" in block
    )
    assert "*up 12%*" in texts
    assert "<script>" not in texts

    with backbeat.uow() as uow:
        rows = uow.deliveries.of_run(run_id)
    assert {(d.channel.value, d.purpose.value, d.status.value) for d in rows} == {
        ("email", "report", "sent"),
        ("slack", "report", "sent"),
    }
    assert all(slack.url() not in (d.address + (d.error or "")) for d in rows)


def test_a_slack_outage_is_retried_and_posts_once(
    backbeat: Backbeat, clock: FakeClock, alice: Tenant, slack: FakeSlack
) -> None:
    h = make_harness(backbeat, clock, ScriptedProvider())
    task = h.new_task(alice)
    deliver_to(h, alice, task, slack_url=slack.url())
    slack.answer(503, "service unavailable", times=2)
    complete(h, alice, task)
    for _ in range(4):
        clock.advance(minutes=10)
        run(h.outbox.step())
    assert [each.status for each in slack.requests] == [503, 503, 200]
    assert len(slack.posted()) == 1


def test_never_and_failed_runs_deliver_nothing(
    backbeat: Backbeat, clock: FakeClock, alice: Tenant, slack: FakeSlack
) -> None:
    h = make_harness(backbeat, clock, ScriptedProvider())
    task = h.new_task(alice)
    deliver_to(h, alice, task, when="never", email=("alice@example.com",), slack_url=slack.url())
    complete(h, alice, task)
    deliver_to(h, alice, task, email=("alice@example.com",), slack_url=None)
    h.provider.script(AttemptFailed(FailureKind.BAD_REQUEST, "refused"))
    failing = h.run_now(alice, task)
    run(h.work())
    assert h.get(failing.id).status is RunStatus.FAILED
    run(h.outbox.step())
    with backbeat.uow() as uow:
        found = uow.deliveries.of_run(failing.id)
    assert [each.purpose.value for each in found] == ["alert"]  # told, but no report
    assert [email.subject.split(":")[0] for email in h.mailer.sent] == ["Failed"]
    assert slack.requests == []


def test_a_removed_slack_url_stops_a_pending_post(
    backbeat: Backbeat, clock: FakeClock, alice: Tenant, slack: FakeSlack
) -> None:
    h = make_harness(backbeat, clock, ScriptedProvider())
    task = h.new_task(alice)
    deliver_to(h, alice, task, slack_url=slack.url())
    slack.answer(503, "", times=1)
    run_id = complete(h, alice, task)
    deliver_to(h, alice, task, slack_url=None)
    clock.advance(minutes=10)
    run(h.outbox.step())
    assert len(slack.requests) == 1
    with backbeat.uow() as uow:
        [row] = uow.deliveries.of_run(run_id)
    assert row.status.value == "failed"
    assert row.error == "the task no longer posts to Slack"
