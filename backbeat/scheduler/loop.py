"""A thin loop: tick, sleep until the next fire (or a change, or a stop), repeat.

Signals only ask it to stop; it finishes the tick in hand. A database outage is logged and
retried with the domain's short, capped, jittered backoff (domain.backoff), so that the
scheduler is working again within seconds of the database's return, and schedulers do not
retry in lockstep; nothing is lost because nothing is held between ticks.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from backbeat.domain import backoff
from backbeat.domain.clock import Clock
from backbeat.domain.errors import DatabaseUnavailable
from backbeat.services.scheduler import Scheduler

log = logging.getLogger("backbeat.scheduler")


class SchedulerLoop:
    def __init__(
        self,
        scheduler: Scheduler,
        clock: Clock,
        wakeup: threading.Event,
        on_runs_created: Callable[[], None] | None = None,
    ) -> None:
        self._scheduler = scheduler
        self._on_runs_created = on_runs_created or (lambda: None)
        self._clock = clock
        self._wakeup = wakeup  # set by task edits in this process, and by stop()
        self._stopping = threading.Event()
        self.ticks = 0

    def stop(self) -> None:
        self._stopping.set()
        self._wakeup.set()

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    def run(self) -> None:
        log.info("scheduler started", extra={"event": "scheduler.started"})
        failures = 0
        while not self.stopping:
            try:
                delay = self.step()
                failures = 0
            except DatabaseUnavailable as exc:
                failures += 1
                delay = backoff.delay(failures)
                log.warning(
                    "database unavailable; retrying",
                    extra={
                        "event": "scheduler.db_error",
                        "error": exc.reason[:200],
                        "retry_in": round(delay, 3),
                    },
                )
            self._wakeup.wait(timeout=delay)
            self._wakeup.clear()
        log.info("scheduler stopped", extra={"event": "scheduler.stopped"})

    def step(self) -> float:
        """One tick; answers how many seconds to sleep before the next."""
        now = self._clock.now()
        report = self._scheduler.tick(now)
        self.ticks += 1
        if report.runs_created:
            self._on_runs_created()
        after = self._clock.now()
        wake_at = self._scheduler.next_wake(report, after)
        return max(0.0, (wake_at - after).total_seconds())
