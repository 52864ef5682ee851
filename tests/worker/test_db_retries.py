"""A database step within an attempt (worker.db.in_thread) is retried through an outage with
the one backoff policy, for DATABASE_PATIENCE_SECONDS; then the attempt fails as retryable.
Any other error is not the database being away: it is not retried."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import pytest

from backbeat.domain.backoff import MAX_SECONDS
from backbeat.domain.errors import DatabaseUnavailable
from backbeat.domain.failures import AttemptFailed, FailureKind
from backbeat.worker.db import DATABASE_PATIENCE_SECONDS, in_thread


@pytest.fixture
def waits(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The backoff's sleeps, recorded instead of slept."""
    recorded: list[float] = []

    async def sleep(seconds: float) -> None:
        recorded.append(seconds)

    monkeypatch.setattr(asyncio, "sleep", sleep)
    return recorded


def failing(times: int, answer: str = "done") -> tuple[list[int], Callable[[int], str]]:
    calls: list[int] = []

    def step(value: int) -> str:
        calls.append(value)
        if len(calls) <= times:
            raise DatabaseUnavailable("connection refused", ConnectionRefusedError())
        return answer

    return calls, step


def test_a_short_outage_is_retried_with_the_backoff(
    waits: list[float], caplog: pytest.LogCaptureFixture
) -> None:
    calls, step = failing(3)
    with caplog.at_level(logging.WARNING, "backbeat.worker"):
        assert asyncio.run(in_thread(step, 7)) == "done"
    assert calls == [7, 7, 7, 7]
    assert len(waits) == 3
    for failures, wait in enumerate(waits, start=1):
        ceiling = min(MAX_SECONDS, 0.25 * 2 ** (failures - 1))
        assert ceiling / 2 <= wait <= ceiling
    retries = [r for r in caplog.records if getattr(r, "event", None) == "attempt.db_retry"]
    assert len(retries) == 3
    assert all(getattr(r, "error", None) == "connection refused" for r in retries)


def test_an_outage_longer_than_the_patience_fails_the_attempt_as_retryable(
    waits: list[float],
) -> None:
    calls, step = failing(10**6)
    with pytest.raises(AttemptFailed) as failed:
        asyncio.run(in_thread(step, 1))
    assert failed.value.kind is FailureKind.NETWORK
    assert failed.value.name == "DatabaseUnavailable"
    assert failed.value.message == (
        "the database was unavailable during the attempt: connection refused"
    )
    assert DATABASE_PATIENCE_SECONDS <= sum(waits) < DATABASE_PATIENCE_SECONDS + MAX_SECONDS
    assert len(calls) == len(waits) + 1


def test_any_other_error_is_not_retried(waits: list[float]) -> None:
    calls: list[int] = []

    def step() -> None:
        calls.append(1)
        raise ValueError("a bug")

    with pytest.raises(ValueError, match="a bug"):
        asyncio.run(in_thread(step))
    assert calls == [1]
    assert waits == []
