"""Runs through the worker with a scripted model: success, retries, terminal statuses."""

from __future__ import annotations

from datetime import timedelta

from backbeat.domain.failures import AttemptFailed, FailureKind
from backbeat.domain.runs import AttemptStatus, RunStatus
from backbeat.testing import FakeClock
from backbeat.testing.fake_provider import ScriptedProvider, reply, tool_call
from backbeat.wiring import Backbeat
from tests.conftest import Tenant
from tests.worker.harness import make_harness, run


def test_a_run_completes_with_output_usage_and_cost(
    backbeat: Backbeat, clock: FakeClock, alice: Tenant
) -> None:
    h = make_harness(
        backbeat, clock, ScriptedProvider(reply("Synthpop is rising.", tokens=(1200, 300)))
    )
    queued = h.run_now(alice, h.new_task(alice, prompt="How is the genre doing?"))

    assert run(h.work()) == 1

    done = h.get(queued.id)
    assert done.status is RunStatus.COMPLETED
    assert done.output is not None
    assert done.output["text"] == "Synthpop is rising."
    assert done.output["provider"] == "anthropic"
    assert done.output["usage"] == {"input_tokens": 1200, "output_tokens": 300, "requests": 1}
    assert done.cost_in_cents > 0  # claude-sonnet-4-5 from the price table
    assert done.started_at is not None
    assert done.finished_at is not None
    assert done.error is None
    [attempt] = done.attempts
    assert attempt.status is AttemptStatus.COMPLETED
    assert attempt.worker_id == "test-worker"
    # What the model was given: the prompt, and a system prompt naming the artist.
    [request] = h.provider.requests
    assert request.model == "claude-sonnet-4-5"
    assert "How is the genre doing?" in str(request.messages[0])
    assert "Artist of alice@example.com" in request.system


def test_tools_are_called_and_recorded(backbeat: Backbeat, clock: FakeClock, alice: Tenant) -> None:
    provider = ScriptedProvider(
        tool_call("read_artist_profile", {}),
        tool_call("send_email", {"subject": "Weekly pulse", "body": "All good."}, "call_2"),
        reply("Sent the weekly pulse."),
    )
    h = make_harness(backbeat, clock, provider)
    queued = h.run_now(alice, h.new_task(alice))

    run(h.work())

    done = h.get(queued.id)
    assert done.status is RunStatus.COMPLETED
    assert done.output is not None
    assert [call["name"] for call in done.output["tool_calls"]] == [
        "read_artist_profile",
        "send_email",
    ]
    assert done.output["emails_sent"] == [{"to": "alice@example.com", "subject": "Weekly pulse"}]
    assert h.mailer.recipients == ["alice@example.com"]
    assert done.output["turns"] == 3


def test_a_retryable_failure_waits_and_retries(
    backbeat: Backbeat, clock: FakeClock, alice: Tenant
) -> None:
    provider = ScriptedProvider(
        AttemptFailed(FailureKind.RATE_LIMITED, "429", retry_after=timedelta(seconds=20)),
        reply("second time lucky"),
    )
    h = make_harness(backbeat, clock, provider)
    queued = h.run_now(alice, h.new_task(alice))

    run(h.work())
    waiting = h.get(queued.id)
    assert waiting.status is RunStatus.REATTEMPTING
    assert waiting.delayed_until is not None
    assert waiting.delayed_until >= clock.now() + timedelta(seconds=20)  # Retry-After honoured
    assert waiting.error is not None
    assert waiting.error["kind"] == "rate_limited"

    assert run(h.work()) == 0  # not yet due
    clock.set(waiting.delayed_until)
    assert run(h.work()) == 1

    done = h.get(queued.id)
    assert done.status is RunStatus.COMPLETED
    assert [a.status for a in done.attempts] == [AttemptStatus.FAILED, AttemptStatus.COMPLETED]
    assert done.attempts[0].error is not None
    assert done.attempts[0].error["name"] == "AttemptFailed"


def test_backoff_grows_and_the_last_attempt_fails_the_run(
    backbeat: Backbeat, clock: FakeClock, alice: Tenant
) -> None:
    server_error = AttemptFailed(FailureKind.SERVER, "HTTP 500 from the provider")
    h = make_harness(backbeat, clock, ScriptedProvider(server_error, server_error, server_error))
    queued = h.run_now(alice, h.new_task(alice))

    delays = []
    for _ in range(3):
        before = clock.now()
        run(h.work())
        state = h.get(queued.id)
        if state.status is RunStatus.REATTEMPTING:
            assert state.delayed_until is not None
            delays.append((state.delayed_until - before).total_seconds())
            clock.set(state.delayed_until)

    failed = h.get(queued.id)
    assert failed.status is RunStatus.FAILED
    assert failed.attempt_count == 3
    assert failed.error is not None
    assert failed.error["message"] == "HTTP 500 from the provider"
    assert failed.finished_at is not None
    # Jittered exponential backoff: first wait in [0.5, 1] s, second in [1, 2] s.
    assert 0.5 <= delays[0] <= 1.0
    assert 1.0 <= delays[1] <= 2.0


def test_a_bad_request_is_not_retried(backbeat: Backbeat, clock: FakeClock, alice: Tenant) -> None:
    h = make_harness(
        backbeat, clock, ScriptedProvider(AttemptFailed(FailureKind.BAD_REQUEST, "prompt too long"))
    )
    queued = h.run_now(alice, h.new_task(alice))

    run(h.work())

    failed = h.get(queued.id)
    assert failed.status is RunStatus.FAILED
    assert failed.attempt_count == 1


def test_missing_credentials_are_a_system_failure_naming_the_setting(
    backbeat: Backbeat, clock: FakeClock, alice: Tenant
) -> None:
    h = make_harness(backbeat, clock)  # only Anthropic is configured
    queued = h.run_now(alice, h.new_task(alice, model="gpt-5-mini"))

    run(h.work())

    failed = h.get(queued.id)
    assert failed.status is RunStatus.SYSTEM_FAILURE
    assert failed.attempt_count == 1
    assert failed.error is not None
    assert "BACKBEAT_OPENAI_API_KEY" in failed.error["message"]
    assert h.provider.requests == []  # nothing pretended to be a model


def test_a_per_task_retry_budget(backbeat: Backbeat, clock: FakeClock, alice: Tenant) -> None:
    h = make_harness(backbeat, clock, ScriptedProvider(AttemptFailed(FailureKind.TIMEOUT, "slow")))
    queued = h.run_now(alice, h.new_task(alice, max_attempts=1))

    run(h.work())

    assert h.get(queued.id).status is RunStatus.FAILED


def test_the_turn_limit_ends_a_wandering_model(
    backbeat: Backbeat, clock: FakeClock, alice: Tenant
) -> None:
    loop = tool_call("read_artist_profile", {})
    h = make_harness(backbeat, clock, ScriptedProvider(default=loop), max_turns=3)
    queued = h.run_now(alice, h.new_task(alice))

    run(h.work())

    failed = h.get(queued.id)
    assert failed.status is RunStatus.FAILED
    assert failed.error is not None
    assert failed.error["name"] == "TurnLimitReached"
    assert len(h.provider.requests) == 3


def test_a_bug_is_recorded_with_its_stack_trace(
    backbeat: Backbeat, clock: FakeClock, alice: Tenant
) -> None:
    async def broken(_request: object) -> object:
        raise KeyError("oops")

    h = make_harness(backbeat, clock, ScriptedProvider(broken))  # type: ignore[arg-type]
    queued = h.run_now(alice, h.new_task(alice))

    run(h.work())

    failed = h.get(queued.id)
    assert failed.status is RunStatus.FAILED
    assert failed.error is not None
    assert failed.error["name"] == "KeyError"
    assert "Traceback" in failed.error["stackTrace"]


def test_one_task_never_runs_twice_at_once(
    backbeat: Backbeat, clock: FakeClock, alice: Tenant
) -> None:
    h = make_harness(backbeat, clock)
    task_id = h.new_task(alice)
    first, second = h.run_now(alice, task_id), h.run_now(alice, task_id)
    other = h.run_now(alice, h.new_task(alice))

    claims = h.queue.claim("w1", 10)

    assert {c.run.id for c in claims} == {first.id, other.id}
    assert h.queue.claim("w2", 10) == []  # the second run of the task waits in QUEUED
    assert h.get(second.id).status is RunStatus.QUEUED


def test_overlap_can_be_allowed(backbeat: Backbeat, clock: FakeClock, alice: Tenant) -> None:
    backbeat.settings.allow_task_overlap = True
    from backbeat.wiring import build

    overlapping = build(backbeat.settings, clock=clock, engine=backbeat.engine)
    h = make_harness(overlapping, clock)
    task_id = h.new_task(alice)
    h.run_now(alice, task_id)
    h.run_now(alice, task_id)

    assert len(h.queue.claim("w1", 10)) == 2


def test_the_output_reports_emails_sent_by_earlier_attempts(
    backbeat: Backbeat, clock: FakeClock, alice: Tenant
) -> None:
    provider = ScriptedProvider(
        tool_call("send_email", {"subject": "Pulse", "body": "Numbers."}),
        AttemptFailed(FailureKind.SERVER, "HTTP 500 after the email went out"),
        tool_call("send_email", {"subject": "Pulse", "body": "Numbers again."}),
        reply("Reported."),
    )
    h = make_harness(backbeat, clock, provider)
    queued = h.run_now(alice, h.new_task(alice))

    run(h.work())
    waiting = h.get(queued.id)
    assert waiting.delayed_until is not None
    clock.set(waiting.delayed_until)
    run(h.work())

    done = h.get(queued.id)
    assert done.status is RunStatus.COMPLETED
    assert h.mailer.recipients == ["alice@example.com"]  # sent once, by attempt 1
    assert done.output is not None
    assert done.output["emails_sent"] == [{"to": "alice@example.com", "subject": "Pulse"}]


def test_a_later_run_of_a_task_waits_for_an_earlier_one_retrying(
    backbeat: Backbeat, clock: FakeClock, alice: Tenant
) -> None:
    h = make_harness(
        backbeat, clock, ScriptedProvider(AttemptFailed(FailureKind.SERVER, "500"), reply("ok"))
    )
    task_id = h.new_task(alice)
    first = h.run_now(alice, task_id)
    run(h.work())  # the first run fails once and waits to be retried
    clock.advance(seconds=0.1)
    second = h.run_now(alice, task_id)

    assert h.queue.claim("w", 10) == []  # the second waits behind the first, though free
    waiting = h.get(first.id)
    assert waiting.delayed_until is not None
    clock.set(waiting.delayed_until)
    [claim] = h.queue.claim("w", 10)
    assert claim.run.id == first.id
    assert h.get(second.id).status is RunStatus.QUEUED


def test_a_failed_run_keeps_what_its_attempt_did(
    backbeat: Backbeat, clock: FakeClock, alice: Tenant
) -> None:
    """Tool calls, emails, usage and the model's words so far stay on a run that failed."""
    provider = ScriptedProvider(
        tool_call("read_artist_profile", {}),
        tool_call("send_email", {"subject": "Weekly pulse", "body": "All good."}, "call_2"),
        AttemptFailed(FailureKind.BAD_REQUEST, "400 the request was refused"),
    )
    h = make_harness(backbeat, clock, provider)
    queued = h.run_now(alice, h.new_task(alice, max_attempts=1))

    run(h.work())

    failed = h.get(queued.id)
    assert failed.status is RunStatus.FAILED
    assert failed.output is not None
    assert failed.output["text"] is None
    assert [call["name"] for call in failed.output["tool_calls"]] == [
        "read_artist_profile",
        "send_email",
    ]
    assert failed.output["usage"] == {"input_tokens": 200, "output_tokens": 40, "requests": 2}
    assert failed.output["turns"] == 2
    assert failed.output["emails_sent"] == [{"to": "alice@example.com", "subject": "Weekly pulse"}]
    # The failure's alert goes too: sent now, if the worker's own outbox step has not yet.
    run(h.outbox.step())
    assert h.mailer.recipients == ["alice@example.com", "alice@example.com"]
    assert h.mailer.sent[0].subject == "Weekly pulse"  # the model's, once
    assert h.mailer.sent[1].subject.startswith("Failed: ")
    with backbeat.uow() as uow:
        found = uow.deliveries.of_run(queued.id)
    [delivery] = [each for each in found if each.purpose.value == "message"]
    assert delivery.status.value == "sent"
    assert [each.purpose.value for each in found if each is not delivery] == ["alert"]
