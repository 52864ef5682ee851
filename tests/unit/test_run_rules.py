"""The run's transition table (domain.runs) and the retry rules (domain.failures), with no
database."""

from __future__ import annotations

import random
from datetime import timedelta

import pytest

from backbeat.domain.errors import Conflict
from backbeat.domain.failures import AttemptFailed, FailureKind, RetryPolicy
from backbeat.domain.runs import (
    CLAIMABLE_STATUSES,
    FINAL_STATUSES,
    RunStatus,
    can_transition,
    check_transition,
)

S = RunStatus
# The diagram in domain/runs.py, written out again: every other move is refused.
ALLOWED = {
    (S.QUEUED, S.EXECUTING),
    (S.QUEUED, S.CANCELED),
    (S.EXECUTING, S.COMPLETED),
    (S.EXECUTING, S.REATTEMPTING),
    (S.EXECUTING, S.FAILED),
    (S.EXECUTING, S.CRASHED),
    (S.EXECUTING, S.SYSTEM_FAILURE),
    (S.EXECUTING, S.CANCELED),
    (S.EXECUTING, S.QUEUED),  # a graceful shutdown hands the attempt back
    (S.REATTEMPTING, S.EXECUTING),
    (S.REATTEMPTING, S.CANCELED),
}


@pytest.mark.parametrize("current", list(RunStatus))
def test_the_transition_table(current: RunStatus) -> None:
    for target in RunStatus:
        allowed = (current, target) in ALLOWED
        assert can_transition(current, target) is allowed, f"{current} → {target}"
        if allowed:
            check_transition(current, target)
        else:
            with pytest.raises(Conflict, match=f"from {current} to {target}"):
                check_transition(current, target)


def test_final_statuses_go_nowhere_and_claimable_ones_only_start_or_cancel() -> None:
    assert {status for status in RunStatus if status.is_final} == FINAL_STATUSES
    assert {
        S.COMPLETED,
        S.CANCELED,
        S.FAILED,
        S.CRASHED,
        S.SYSTEM_FAILURE,
        S.INTERRUPTED,
    } == FINAL_STATUSES
    for status in FINAL_STATUSES:
        assert not any(can_transition(status, target) for target in RunStatus)
    assert {S.QUEUED, S.REATTEMPTING} == CLAIMABLE_STATUSES
    for status in CLAIMABLE_STATUSES:
        assert {t for t in RunStatus if can_transition(status, t)} == {S.EXECUTING, S.CANCELED}


def test_which_failures_are_worth_retrying() -> None:
    retryable = {kind for kind in FailureKind if kind.retryable}
    assert retryable == {
        FailureKind.RATE_LIMITED,
        FailureKind.TIMEOUT,
        FailureKind.SERVER,
        FailureKind.NETWORK,
        FailureKind.WORKER_CRASHED,
    }


def test_an_attempt_failure_names_itself() -> None:
    plain = AttemptFailed(FailureKind.TOOL, "the tool broke")
    assert (plain.kind, plain.message, plain.name, plain.retry_after) == (
        FailureKind.TOOL,
        "the tool broke",
        "AttemptFailed",
        None,
    )
    assert str(plain) == "the tool broke"
    named = AttemptFailed(FailureKind.TIMEOUT, "slow", name="Timeout")
    assert named.name == "Timeout"


def seconds(delay: timedelta) -> float:
    return delay.total_seconds()


def test_the_backoff_doubles_from_the_base_up_to_the_cap() -> None:
    policy = RetryPolicy(jitter=0)  # the real worker's: 1 s → 10 s, factor 2
    assert [seconds(policy.delay(n)) for n in range(0, 7)] == [1, 1, 2, 4, 8, 10, 10]
    custom = RetryPolicy(base=timedelta(seconds=3), factor=3, cap=timedelta(minutes=1), jitter=0)
    assert [seconds(custom.delay(n)) for n in (1, 2, 3, 4)] == [3, 9, 27, 60]


class Fixed(random.Random):
    """A random source that always draws the same number."""

    def __init__(self, draw: float) -> None:
        super().__init__()
        self.draw = draw

    def random(self) -> float:
        return self.draw


@pytest.mark.parametrize(("draw", "expected"), [(0.0, 4.0), (0.5, 3.0), (0.999, 2.002)])
def test_jitter_scales_the_wait_down_by_at_most_its_share(draw: float, expected: float) -> None:
    policy = RetryPolicy(jitter=0.5)
    assert seconds(policy.delay(3, rng=Fixed(draw))) == pytest.approx(expected)


def test_a_retry_after_is_a_floor_up_to_its_own_cap() -> None:
    policy = RetryPolicy(jitter=0, max_retry_after=timedelta(hours=1))
    assert policy.delay(1, retry_after=timedelta(seconds=30)) == timedelta(seconds=30)
    assert policy.delay(3, retry_after=timedelta(seconds=1)) == timedelta(seconds=4)
    assert policy.delay(1, retry_after=timedelta(hours=5)) == timedelta(hours=1)
