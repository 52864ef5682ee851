"""Database steps of the worker's event loop: each in a thread, retried through a restart."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any, TypeVar

from backbeat.domain import backoff
from backbeat.domain.errors import DatabaseUnavailable
from backbeat.domain.failures import AttemptFailed, FailureKind

# How long an attempt waits for the database (a restart's worth) before it fails as
# retryable; the waits between tries follow the one backoff policy (domain.backoff).
DATABASE_PATIENCE_SECONDS = 7.5

log = logging.getLogger("backbeat.worker")
T = TypeVar("T")


async def in_thread(step: Callable[..., T], *args: Any) -> T:
    """A WorkQueue or Outbox step, in a thread. A lost database connection (a restart, a
    failover) is no fault of the run: the step is tried again, with backoff; if the database
    stays away for DATABASE_PATIENCE_SECONDS, the attempt fails as retryable
    (DatabaseUnavailable) rather than as a bug. Every step is a read or a write that is safe
    to repeat: an outbox request finds the row its lost commit wrote, and `begin` finds it no
    longer pending (so it is not sent twice)."""
    failures = 0
    waited = 0.0
    while True:
        try:
            return await asyncio.to_thread(step, *args)
        except DatabaseUnavailable as exc:
            if waited >= DATABASE_PATIENCE_SECONDS:
                raise AttemptFailed(
                    FailureKind.NETWORK,
                    f"the database was unavailable during the attempt: {exc.reason}",
                    name="DatabaseUnavailable",
                ) from None
            log.warning(
                "database unavailable during an attempt; retrying",
                extra={"event": "attempt.db_retry", "error": exc.reason[:200]},
            )
            failures += 1
            pause = backoff.delay(failures)
            await asyncio.sleep(pause)
            waited += pause
