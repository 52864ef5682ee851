"""Database steps of the worker's event loop: each in a thread, retried through a restart."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy.exc import DBAPIError, OperationalError

from backbeat.domain.failures import AttemptFailed, FailureKind

DATABASE_TRIES = 5  # waits of 0.5, 1, 2 and 4 s between them: a database restart's worth

log = logging.getLogger("backbeat.worker")
T = TypeVar("T")


async def in_thread(step: Callable[..., T], *args: Any) -> T:
    """A WorkQueue or Outbox step, in a thread. A lost database connection (a restart, a
    failover) is no fault of the run: the step is tried again, with backoff; if the database
    stays away, the attempt fails as retryable (DatabaseUnavailable) rather than as a bug.
    Every step is a read or a write that is safe to repeat: an outbox request finds the row
    its lost commit wrote, and `begin` finds it no longer pending (so it is not sent twice)."""
    for attempt in range(1, DATABASE_TRIES + 1):
        try:
            return await asyncio.to_thread(step, *args)
        except DBAPIError as exc:
            if not isinstance(exc, OperationalError) and not exc.connection_invalidated:
                raise  # not the connection: a bug, recorded as one
            if attempt == DATABASE_TRIES:
                reason = str(exc.orig or exc).strip().splitlines()[0]
                raise AttemptFailed(
                    FailureKind.NETWORK,
                    f"the database was unavailable during the attempt: {reason}",
                    name="DatabaseUnavailable",
                ) from None
            log.warning(
                "database unavailable during an attempt; retrying",
                extra={"event": "attempt.db_retry", "error": str(exc)[:200]},
            )
            await asyncio.sleep(0.5 * 2 ** (attempt - 1))
    raise AssertionError("unreachable")
