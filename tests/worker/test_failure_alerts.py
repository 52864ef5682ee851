"""A failing task is never silent, and never floods: the first failure in a row alerts the
owner with the error, later ones are summarised (at 2, 4, 8 … in a row), the first success
after says "recovered"; on the task's channels when it has some, else by email to the owner;
canceled runs count neither way."""

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


def finish(h: Harness, tenant: Tenant, task_id: object, *, fail: bool) -> str:
    h.provider.script(
        AttemptFailed(FailureKind.BAD_REQUEST, "the model refused the prompt")
        if fail
        else reply("All good.")
    )
    queued = h.run_now(tenant, task_id)  # type: ignore[arg-type]
    assert run(h.work()) == 1
    expected = RunStatus.FAILED if fail else RunStatus.COMPLETED
    assert h.get(queued.id).status is expected
    run(h.outbox.step())
    return queued.id


def subjects(h: Harness) -> list[str]:
    return [email.subject.split(":")[0] for email in h.mailer.sent]


def test_the_first_failure_alerts_then_summaries_then_recovered(
    backbeat: Backbeat, clock: FakeClock, alice: Tenant
) -> None:
    h = make_harness(backbeat, clock, ScriptedProvider())
    task = h.new_task(alice, title="Weekly pulse")

    finish(h, alice, task, fail=True)
    [alert] = h.mailer.sent
    assert alert.recipients == ("alice@example.com",)  # no channels: the owner, by email
    assert alert.subject.startswith("Failed: Weekly pulse")
    assert "BadRequest" in alert.body or "the model refused the prompt" in alert.body
    assert "the model refused the prompt" in alert.body

    for _ in range(3):  # the 2nd, 3rd and 4th in a row: told at 2 and 4 only
        finish(h, alice, task, fail=True)
    assert len(h.mailer.sent) == 3
    assert "Still failing: 2 runs in a row" in h.mailer.sent[1].body
    assert "Still failing: 4 runs in a row" in h.mailer.sent[2].body

    finish(h, alice, task, fail=False)
    assert len(h.mailer.sent) == 4
    assert h.mailer.sent[3].subject.startswith("Recovered: Weekly pulse")
    assert "after 4 failed run(s)" in h.mailer.sent[3].body
    finish(h, alice, task, fail=False)  # a success after a success: nothing to say
    assert len(h.mailer.sent) == 4


def test_a_cancel_neither_breaks_nor_extends_a_streak(
    backbeat: Backbeat, clock: FakeClock, alice: Tenant
) -> None:
    h = make_harness(backbeat, clock, ScriptedProvider())
    task = h.new_task(alice)
    finish(h, alice, task, fail=True)
    canceled = h.run_now(alice, task)
    backbeat.runs.cancel(Caller(alice.account_id, alice.key_id(backbeat)), canceled.id)
    finish(h, alice, task, fail=True)
    assert len(h.mailer.sent) == 2
    assert "Still failing: 2 runs in a row" in h.mailer.sent[1].body


def test_alerts_go_to_the_tasks_channels(
    backbeat: Backbeat, clock: FakeClock, alice: Tenant, slack: FakeSlack
) -> None:
    h = make_harness(backbeat, clock, ScriptedProvider())
    task = h.new_task(alice)
    backbeat.tasks.update(
        Caller(alice.account_id, alice.key_id(backbeat)),
        task,
        TaskPatch(delivery=DeliveryInput(when="never", slack_url=slack.url())),
    )
    run_id = finish(h, alice, task, fail=True)
    assert h.mailer.sent == []  # the task's channels: Slack only
    [posted] = slack.posted()
    assert "refused the prompt" in str(posted)
    with backbeat.uow() as uow:
        [row] = uow.deliveries.of_run(run_id)
    assert (row.channel.value, row.purpose.value, row.status.value) == ("slack", "alert", "sent")


def test_pause_after_failures_pauses_the_task_and_says_so(
    backbeat: Backbeat, clock: FakeClock, alice: Tenant
) -> None:
    h = make_harness(backbeat, clock, ScriptedProvider())
    task = h.new_task(alice, pause_after_failures=3)
    for _ in range(3):
        finish(h, alice, task, fail=True)
    with backbeat.uow() as uow:
        paused = uow.tasks.get(task)  # type: ignore[arg-type]
    assert paused is not None
    assert paused.enabled is False
    assert paused.next_fire_at is None
    assert len(h.mailer.sent) == 3  # the 1st, the 2nd (summary) and the 3rd, which paused it
    assert "paused after 3 failed run(s) in a row" in h.mailer.sent[2].body
    finish(h, alice, task, fail=True)  # run now of the paused task: no second pause notice
    assert len(h.mailer.sent) == 4
    assert "Still failing: 4 runs in a row" in h.mailer.sent[3].body
    assert "paused" not in h.mailer.sent[3].body
