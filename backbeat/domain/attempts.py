"""The life of a run, one attempt at a time. Pure: each step takes the run, its current
attempt and `now`, and answers their next versions, checked against the transition table."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from backbeat.domain.failures import AttemptFailed, FailureKind, RetryPolicy
from backbeat.domain.ids import new_attempt_id
from backbeat.domain.models import Attempt, Run
from backbeat.domain.runs import AttemptStatus, RunStatus, check_transition


def _move(run: Run, status: RunStatus, now: datetime, **changes: Any) -> Run:
    check_transition(run.status, status)
    return replace(run, status=status, updated_at=now, **changes)


def error_info(failure: AttemptFailed, stack_trace: str | None = None) -> dict[str, Any]:
    info: dict[str, Any] = {"message": failure.message, "name": failure.name}
    info["kind"] = failure.kind.value
    if stack_trace:
        info["stackTrace"] = stack_trace
    return info


def start(run: Run, now: datetime, worker_id: str, lease: timedelta) -> tuple[Run, Attempt]:
    """A worker claims the run: a new attempt begins, under a lease the worker must renew."""
    number = run.attempt_count + 1
    attempt = Attempt(
        id=new_attempt_id(),
        run_id=run.id,
        number=number,
        status=AttemptStatus.EXECUTING,
        created_at=now,
        updated_at=now,
        started_at=now,
        worker_id=worker_id,
    )
    started = _move(
        run,
        RunStatus.EXECUTING,
        now,
        attempt_count=number,
        started_at=run.started_at or now,
        delayed_until=None,
        lease_owner=worker_id,
        lease_expires_at=now + lease,
        lease_token=attempt.id,
    )
    return started, attempt


def _attempt_ms(attempt: Attempt, now: datetime) -> int:
    begun = attempt.started_at or attempt.created_at
    return max(0, int((now - begun).total_seconds() * 1000))


def _end_attempt(
    attempt: Attempt, status: AttemptStatus, now: datetime, error: dict[str, Any] | None = None
) -> Attempt:
    return replace(attempt, status=status, updated_at=now, completed_at=now, error=error)


def _finished(run: Run, attempt: Attempt, now: datetime, cost: float) -> dict[str, Any]:
    """Fields every end of an attempt updates: time and money spent, lease given up."""
    return {
        "duration_ms": run.duration_ms + _attempt_ms(attempt, now),
        "cost_in_cents": round(run.cost_in_cents + cost, 6),
        "lease_owner": None,
        "lease_expires_at": None,
        "lease_token": None,
    }


def complete(
    run: Run, attempt: Attempt, now: datetime, output: dict[str, Any], cost: float
) -> tuple[Run, Attempt]:
    done = _move(
        run,
        RunStatus.COMPLETED,
        now,
        output=output,
        error=None,
        finished_at=now,
        available_at=None,
        **_finished(run, attempt, now, cost),
    )
    return done, _end_attempt(attempt, AttemptStatus.COMPLETED, now)


def fail(
    run: Run,
    attempt: Attempt,
    now: datetime,
    failure: AttemptFailed,
    *,
    failed_attempts: int,
    policy: RetryPolicy,
    cost: float = 0.0,
    output: dict[str, Any] | None = None,
    stack_trace: str | None = None,
    rng: random.Random | None = None,
) -> tuple[Run, Attempt]:
    """The attempt failed; `failed_attempts` counts it. Retry if it can help and budget is left.

    A configuration fault ends in SYSTEM_FAILURE, a dead worker's last attempt in CRASHED,
    anything else that cannot or may not be retried in FAILED.
    """
    error = error_info(failure, stack_trace)
    ended = _end_attempt(attempt, AttemptStatus.FAILED, now, error)
    spent = _finished(run, attempt, now, cost)
    # What the attempt did (tool calls, pages, usage, partial text) stays on the run; an
    # attempt that left no record (a dead worker's) keeps the previous one.
    record = output if output is not None else run.output
    if failure.kind is FailureKind.CONFIGURATION:
        status = RunStatus.SYSTEM_FAILURE
    elif failure.kind.retryable and failed_attempts < run.max_attempts:
        wait = policy.delay(failed_attempts, retry_after=failure.retry_after, rng=rng)
        again = _move(
            run,
            RunStatus.REATTEMPTING,
            now,
            error=error,
            output=record,
            delayed_until=now + wait,
            available_at=now + wait,
            **spent,
        )
        return again, ended
    elif failure.kind is FailureKind.WORKER_CRASHED:
        status = RunStatus.CRASHED
    else:
        status = RunStatus.FAILED
    final = _move(
        run,
        status,
        now,
        error=error,
        output=record,
        finished_at=now,
        available_at=None,
        **spent,
    )
    return final, ended


def lease_expired(run: Run, attempt: Attempt | None, now: datetime) -> AttemptFailed:
    expired = run.lease_expires_at.isoformat() if run.lease_expires_at else "unknown"
    return AttemptFailed(
        FailureKind.WORKER_CRASHED,
        f"the worker {run.lease_owner} stopped renewing its lease (expired {expired}); "
        "it probably died while running this attempt",
        name="WorkerCrashed",
    )


def release(run: Run, attempt: Attempt, now: datetime) -> tuple[Run, Attempt]:
    """A worker shutting down hands the run back unfinished; the attempt is not spent."""
    error = {
        "message": "the worker shut down before the attempt finished",
        "name": "WorkerShutdown",
    }
    back = _move(
        run,
        RunStatus.QUEUED,
        now,
        available_at=now,
        **_finished(run, attempt, now, 0.0),
    )
    return back, _end_attempt(attempt, AttemptStatus.CANCELED, now, error)


def cancel(run: Run, attempt: Attempt | None, now: datetime) -> tuple[Run, Attempt | None]:
    """Cancel a queued, waiting or executing run; its current attempt, if any, ends CANCELED."""
    error = {"message": "the run was canceled", "name": "Canceled"}
    canceled = _move(
        run,
        RunStatus.CANCELED,
        now,
        finished_at=now,
        available_at=None,
        delayed_until=None,
        **(
            _finished(run, attempt, now, 0.0)
            if attempt is not None
            else {"lease_owner": None, "lease_expires_at": None, "lease_token": None}
        ),
    )
    if attempt is None or attempt.status is not AttemptStatus.EXECUTING:
        return canceled, attempt
    return canceled, _end_attempt(attempt, AttemptStatus.CANCELED, now, error)
