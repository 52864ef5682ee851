"""How an attempt failed, whether trying again can help, and how long to wait first."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum


class FailureKind(StrEnum):
    RATE_LIMITED = "rate_limited"  # 429: wait (Retry-After) and try again
    TIMEOUT = "timeout"  # the model or the whole attempt took too long
    SERVER = "server"  # 5xx, overloaded
    NETWORK = "network"  # connection refused, reset, DNS
    BAD_REQUEST = "bad_request"  # 4xx the request itself caused: retrying repeats it
    AUTH = "auth"  # 401/403 from the provider: credentials are wrong
    CONFIGURATION = "configuration"  # Backbeat is not set up for this (no key, no gateway)
    TOOL = "tool"  # a tool broke in a way the model cannot recover from
    TURN_LIMIT = "turn_limit"  # the model kept calling tools past the cap
    BUDGET = "budget"  # the run's cost cap or the account's monthly budget (agent_settings)
    WORKER_CRASHED = "worker_crashed"  # the lease expired: the worker died
    INTERNAL = "internal"  # a bug in Backbeat

    @property
    def retryable(self) -> bool:
        return self in _RETRYABLE


_RETRYABLE = frozenset(
    {
        FailureKind.RATE_LIMITED,
        FailureKind.TIMEOUT,
        FailureKind.SERVER,
        FailureKind.NETWORK,
        FailureKind.WORKER_CRASHED,
    }
)


class AttemptFailed(Exception):
    """An attempt ended in failure. Providers and tools raise this with the kind filled in."""

    def __init__(
        self,
        kind: FailureKind,
        message: str,
        *,
        name: str | None = None,
        retry_after: timedelta | None = None,
    ) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.name = name or type(self).__name__
        self.retry_after = retry_after


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Exponential backoff with jitter: base·factor^(n-1), capped, then scaled by [1-jitter, 1].

    The defaults are the real Recoup worker's: 1 s → 10 s, factor 2, randomized.
    """

    base: timedelta = timedelta(seconds=1)
    factor: float = 2.0
    cap: timedelta = timedelta(seconds=10)
    jitter: float = 0.5
    # A provider's Retry-After is honoured up to this much; beyond, it would park the run.
    max_retry_after: timedelta = timedelta(hours=1)

    def delay(
        self,
        failed_attempts: int,
        *,
        retry_after: timedelta | None = None,
        rng: random.Random | None = None,
    ) -> timedelta:
        """How long to wait after the `failed_attempts`-th failure; never less than Retry-After."""
        raw = self.base.total_seconds() * self.factor ** max(0, failed_attempts - 1)
        capped = min(raw, self.cap.total_seconds())
        scale = 1 - self.jitter * (rng or random).random()
        wait = timedelta(seconds=capped * scale)
        if retry_after is None:
            return wait
        return max(wait, min(retry_after, self.max_retry_after))
