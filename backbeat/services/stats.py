"""Queue statistics for the metrics scrape: read from the database at each scrape, so they
are right however many processes run."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from backbeat.domain.clock import Clock
from backbeat.domain.ports import UnitOfWork

UnitOfWorkFactory = Callable[..., UnitOfWork]


@dataclass(frozen=True, slots=True)
class QueueStats:
    queued: int  # QUEUED or REATTEMPTING, and due
    oldest_queued_age_seconds: float  # 0 when none is waiting
    executing: int


class StatsService:
    def __init__(self, uow: UnitOfWorkFactory, clock: Clock) -> None:
        self._uow = uow
        self._clock = clock

    def queue(self) -> QueueStats:
        """Runs waiting for a worker now, how long the longest-waiting has waited, and runs
        executing. The database's errors pass through (the scrape leaves the gauges out)."""
        now = self._clock.now()
        with self._uow() as uow:
            depth = uow.work.queue_depth(now)
        return QueueStats(depth.queued, depth.oldest_wait_seconds(now), depth.executing)
