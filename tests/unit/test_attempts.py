"""The life of a run, one attempt at a time (domain.attempts), with no database: starting
under a lease, completing, failing (retry while it can help and budget is left; otherwise
FAILED, SYSTEM_FAILURE for configuration, CRASHED for a dead worker's last attempt),
releasing and canceling."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import uuid4

import pytest

from backbeat.domain import attempts
from backbeat.domain.errors import Conflict
from backbeat.domain.failures import AttemptFailed, FailureKind, RetryPolicy
from backbeat.domain.models import Attempt, Run
from backbeat.domain.runs import AttemptStatus, RunStatus, Trigger

T0 = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)
LEASE = timedelta(seconds=30)
NO_JITTER = RetryPolicy(jitter=0)  # waits of 1 s, 2 s, 4 s … up to 10 s


def queued(**fields: Any) -> Run:
    values: dict[str, Any] = {
        "id": "run_1",
        "task_id": uuid4(),
        "account_id": uuid4(),
        "artist_account_id": None,
        "task_identifier": "customer-prompt-task",
        "status": RunStatus.QUEUED,
        "trigger": Trigger.SCHEDULED,
        "trigger_function": "trigger",
        "idempotency_key": None,
        "scheduled_for": T0,
        "is_test": False,
        "created_at": T0,
        "updated_at": T0,
        "max_attempts": 3,
        "available_at": T0,
    }
    values.update(fields)
    return Run(**values)


def started(run: Run | None = None, at: datetime = T0) -> tuple[Run, Attempt]:
    return attempts.start(run or queued(), at, "worker-1", LEASE)


def failure(kind: FailureKind, **fields: Any) -> AttemptFailed:
    return AttemptFailed(kind, f"it went wrong: {kind}", **fields)


def test_start_begins_an_attempt_under_a_lease() -> None:
    run, attempt = started(queued(delayed_until=T0))
    assert attempt.run_id == run.id
    assert (attempt.number, attempt.status, attempt.worker_id) == (
        1,
        AttemptStatus.EXECUTING,
        "worker-1",
    )
    assert attempt.started_at == T0
    assert run.status is RunStatus.EXECUTING
    assert run.attempt_count == 1
    assert (run.lease_owner, run.lease_expires_at) == ("worker-1", T0 + LEASE)
    assert run.lease_token == attempt.id  # only this attempt may record or send
    assert (run.started_at, run.delayed_until, run.updated_at) == (T0, None, T0)


def test_a_retry_is_the_next_attempt_and_keeps_the_first_start() -> None:
    run, attempt = started()
    later = T0 + timedelta(seconds=5)
    waiting, _ = attempts.fail(
        run, attempt, later, failure(FailureKind.SERVER), failed_attempts=1, policy=NO_JITTER
    )
    again, second = started(waiting, later + timedelta(seconds=1))
    assert second.number == 2
    assert second.id != attempt.id
    assert again.lease_token == second.id
    assert again.started_at == T0


@pytest.mark.parametrize("status", [RunStatus.EXECUTING, RunStatus.COMPLETED, RunStatus.CANCELED])
def test_only_a_waiting_run_can_start(status: RunStatus) -> None:
    with pytest.raises(Conflict):
        started(queued(status=status))


def test_complete_records_the_output_time_and_cost_and_gives_up_the_lease() -> None:
    run, attempt = started(queued(duration_ms=500, cost_in_cents=1.25, error={"old": True}))
    now = T0 + timedelta(seconds=2, milliseconds=250)
    done, ended = attempts.complete(run, attempt, now, {"text": "hi"}, cost=0.1234567)
    assert done.status is RunStatus.COMPLETED
    assert (done.output, done.error) == ({"text": "hi"}, None)
    assert (done.finished_at, done.available_at, done.updated_at) == (now, None, now)
    assert done.duration_ms == 500 + 2250
    assert done.cost_in_cents == 1.373457  # 1.3734567, rounded to 6 places
    assert (done.lease_owner, done.lease_expires_at, done.lease_token) == (None, None, None)
    assert (ended.status, ended.completed_at, ended.error) == (AttemptStatus.COMPLETED, now, None)


def test_a_retryable_failure_with_budget_left_waits_and_retries() -> None:
    run, attempt = started()
    now = T0 + timedelta(seconds=3)
    failed = failure(FailureKind.TIMEOUT, name="Timeout")
    waiting, ended = attempts.fail(
        run, attempt, now, failed, failed_attempts=2, policy=NO_JITTER, stack_trace="trace"
    )
    assert waiting.status is RunStatus.REATTEMPTING
    assert waiting.delayed_until == waiting.available_at == now + timedelta(seconds=2)
    assert waiting.finished_at is None
    assert waiting.error == {
        "message": "it went wrong: timeout",
        "name": "Timeout",
        "kind": "timeout",
        "stackTrace": "trace",
    }
    assert waiting.lease_token is None
    assert (ended.status, ended.error, ended.completed_at) == (
        AttemptStatus.FAILED,
        waiting.error,
        now,
    )


def test_a_provider_retry_after_sets_the_wait() -> None:
    run, attempt = started()
    limited = failure(FailureKind.RATE_LIMITED, retry_after=timedelta(seconds=45))
    waiting, _ = attempts.fail(run, attempt, T0, limited, failed_attempts=1, policy=NO_JITTER)
    assert waiting.available_at == T0 + timedelta(seconds=45)


@pytest.mark.parametrize(
    ("kind", "failed_attempts", "status"),
    [
        (FailureKind.SERVER, 3, RunStatus.FAILED),  # the budget (3) is spent
        (FailureKind.BAD_REQUEST, 1, RunStatus.FAILED),  # retrying would repeat it
        (FailureKind.AUTH, 1, RunStatus.FAILED),
        (FailureKind.INTERNAL, 1, RunStatus.FAILED),
        (FailureKind.CONFIGURATION, 1, RunStatus.SYSTEM_FAILURE),  # even with budget left
        (FailureKind.CONFIGURATION, 3, RunStatus.SYSTEM_FAILURE),
        (FailureKind.WORKER_CRASHED, 3, RunStatus.CRASHED),  # a dead worker's last attempt
        (FailureKind.WORKER_CRASHED, 2, RunStatus.REATTEMPTING),
    ],
)
def test_how_a_failure_ends_the_run(
    kind: FailureKind, failed_attempts: int, status: RunStatus
) -> None:
    run, attempt = started()
    now = T0 + timedelta(seconds=1)
    after, ended = attempts.fail(
        run, attempt, now, failure(kind), failed_attempts=failed_attempts, policy=NO_JITTER
    )
    assert after.status is status
    assert ended.status is AttemptStatus.FAILED
    if status is not RunStatus.REATTEMPTING:
        assert (after.finished_at, after.available_at) == (now, None)
        assert after.error is not None
        assert after.error["kind"] == kind.value


def test_a_failed_attempt_keeps_what_it_did_and_one_that_left_nothing_keeps_the_last() -> None:
    run, attempt = started(queued(output={"text": "from attempt 1"}))
    partial = {"text": "half", "tool_calls": 2}
    kept, _ = attempts.fail(
        run,
        attempt,
        T0,
        failure(FailureKind.BAD_REQUEST),
        failed_attempts=1,
        policy=NO_JITTER,
        output=partial,
        cost=0.5,
    )
    assert (kept.output, kept.cost_in_cents) == (partial, 0.5)
    silent, _ = attempts.fail(
        run, attempt, T0, failure(FailureKind.SERVER), failed_attempts=1, policy=NO_JITTER
    )
    assert silent.output == {"text": "from attempt 1"}


def test_an_expired_lease_is_a_crashed_worker() -> None:
    run, attempt = started()
    found = attempts.lease_expired(run, attempt, T0 + timedelta(minutes=1))
    assert found.kind is FailureKind.WORKER_CRASHED
    assert found.name == "WorkerCrashed"
    assert "worker-1" in found.message
    assert (T0 + LEASE).isoformat() in found.message


def test_release_hands_the_run_back_without_spending_the_attempt() -> None:
    run, attempt = started()
    now = T0 + timedelta(seconds=4)
    back, ended = attempts.release(run, attempt, now)
    assert back.status is RunStatus.QUEUED
    assert back.available_at == now  # at once, for the next worker
    assert (back.lease_owner, back.lease_token, back.finished_at) == (None, None, None)
    assert back.duration_ms == 4000
    assert ended.status is AttemptStatus.CANCELED  # not FAILED: not counted against the budget
    assert ended.error is not None
    assert ended.error["name"] == "WorkerShutdown"


def test_cancel_an_executing_run_ends_its_attempt() -> None:
    run, attempt = started()
    now = T0 + timedelta(seconds=1)
    canceled, ended = attempts.cancel(run, attempt, now)
    assert canceled.status is RunStatus.CANCELED
    assert (canceled.finished_at, canceled.available_at, canceled.lease_token) == (now, None, None)
    assert ended is not None
    assert (ended.status, ended.completed_at) == (AttemptStatus.CANCELED, now)
    assert ended.error == {"message": "the run was canceled", "name": "Canceled"}


def test_cancel_a_waiting_run_leaves_its_earlier_attempt_as_it_was() -> None:
    run, attempt = started()
    waiting, failed = attempts.fail(
        run, attempt, T0, failure(FailureKind.SERVER), failed_attempts=1, policy=NO_JITTER
    )
    canceled, same = attempts.cancel(waiting, failed, T0 + timedelta(seconds=1))
    assert canceled.status is RunStatus.CANCELED
    assert canceled.delayed_until is None
    assert same == failed
    never_started, none = attempts.cancel(queued(), None, T0)
    assert (never_started.status, none) == (RunStatus.CANCELED, None)


@pytest.mark.parametrize("status", [RunStatus.COMPLETED, RunStatus.FAILED, RunStatus.CANCELED])
def test_a_finished_run_cannot_be_canceled(status: RunStatus) -> None:
    with pytest.raises(Conflict):
        attempts.cancel(replace(queued(), status=status), None, T0)
