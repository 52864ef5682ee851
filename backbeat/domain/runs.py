"""Run and attempt statuses, and the one table of allowed run transitions.

QUEUED ──claim──▶ EXECUTING ──ok──▶ COMPLETED
  │                 │  │
  │                 │  └─error, attempts left──▶ REATTEMPTING ──due──▶ EXECUTING
  │                 ├─error, none left──▶ FAILED
  │                 ├─lease expired, none left──▶ CRASHED
  │                 └─configuration fault──▶ SYSTEM_FAILURE
  └──cancel (also from EXECUTING / REATTEMPTING)──▶ CANCELED
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from backbeat.domain.errors import Conflict

# Runs of scheduled prompts carry the identifier the real service's worker task uses.
TASK_IDENTIFIER = "customer-prompt-task"


class RunStatus(StrEnum):
    PENDING_VERSION = "PENDING_VERSION"
    DELAYED = "DELAYED"
    QUEUED = "QUEUED"
    EXECUTING = "EXECUTING"
    REATTEMPTING = "REATTEMPTING"
    FROZEN = "FROZEN"
    COMPLETED = "COMPLETED"
    CANCELED = "CANCELED"
    FAILED = "FAILED"
    CRASHED = "CRASHED"
    INTERRUPTED = "INTERRUPTED"
    SYSTEM_FAILURE = "SYSTEM_FAILURE"

    @property
    def is_final(self) -> bool:
        return self in FINAL_STATUSES


class AttemptStatus(StrEnum):
    PENDING = "PENDING"
    EXECUTING = "EXECUTING"
    PAUSED = "PAUSED"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    CANCELED = "CANCELED"


class Trigger(StrEnum):
    """Why a run exists."""

    SCHEDULED = "scheduled"  # the scheduler, on time
    CATCH_UP = "catch_up"  # the scheduler, late, after downtime
    MANUAL = "manual"  # "run now" through the API, the CLI or the dashboard


FINAL_STATUSES = frozenset(
    {
        RunStatus.COMPLETED,
        RunStatus.CANCELED,
        RunStatus.FAILED,
        RunStatus.CRASHED,
        RunStatus.SYSTEM_FAILURE,
        RunStatus.INTERRUPTED,
    }
)

# Statuses a worker may claim a run from.
CLAIMABLE_STATUSES = frozenset({RunStatus.QUEUED, RunStatus.REATTEMPTING})


@dataclass(frozen=True, slots=True)
class QueueDepth:
    """The queue at one instant: runs waiting for a worker (claimable and due), when the
    longest-waiting of them became due, and runs executing."""

    queued: int
    oldest_due_at: datetime | None
    executing: int

    def oldest_wait_seconds(self, now: datetime) -> float:
        """How long the longest-waiting due run has waited by `now` (0 when none is)."""
        if self.oldest_due_at is None:
            return 0.0
        return max(0.0, (now - self.oldest_due_at).total_seconds())


ALLOWED_TRANSITIONS: dict[RunStatus, frozenset[RunStatus]] = {
    RunStatus.QUEUED: frozenset({RunStatus.EXECUTING, RunStatus.CANCELED}),
    RunStatus.EXECUTING: frozenset(
        {
            RunStatus.COMPLETED,
            RunStatus.REATTEMPTING,
            RunStatus.FAILED,
            RunStatus.CRASHED,
            RunStatus.SYSTEM_FAILURE,
            RunStatus.CANCELED,
            # a graceful shutdown hands an unfinished attempt back without spending it
            RunStatus.QUEUED,
        }
    ),
    RunStatus.REATTEMPTING: frozenset({RunStatus.EXECUTING, RunStatus.CANCELED}),
}


def can_transition(current: RunStatus, target: RunStatus) -> bool:
    return target in ALLOWED_TRANSITIONS.get(current, frozenset())


def check_transition(current: RunStatus, target: RunStatus) -> None:
    if not can_transition(current, target):
        raise Conflict(f"a run cannot go from {current} to {target}")
