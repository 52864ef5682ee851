"""The worker loop: reap dead workers' runs, claim what fits, run attempts concurrently,
renew their leases, retry the outbox's due deliveries, and on stop let attempts finish
within a grace period before handing the rest back. Database steps run in threads; the
event loop never waits on a transaction.

Attempts in hand are keyed by attempt id, the lease token: after a stall longer than its
lease (a blocked loop, a database outage) a worker may find its run taken over. It never
claims a run it is still executing an attempt of, never reaps its own live attempts (it
renews them), and the stale attempt's renewal fails, which abandons it."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
import time
from concurrent.futures import ThreadPoolExecutor

from backbeat.domain import backoff
from backbeat.domain.errors import DatabaseUnavailable
from backbeat.domain.models import Run
from backbeat.domain.ports import Wakeups
from backbeat.domain.runs import RunStatus
from backbeat.services.worker import Claim, Outcome, WorkQueue
from backbeat.worker.executor import Executor
from backbeat.worker.outbox import OutboxSender

log = logging.getLogger("backbeat.worker")

# About a minute of backoff (domain.backoff): a lease's worth of database outage.
FINISH_TRIES = 40


def new_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


class Worker:
    def __init__(
        self,
        queue: WorkQueue,
        executor: Executor,
        *,
        worker_id: str | None = None,
        concurrency: int = 10,
        poll_seconds: float = 1.0,
        shutdown_grace_seconds: float = 30.0,
        database_threads: int = 5,
        outbox_poll_seconds: float = 5.0,
        wakeups: Wakeups | None = None,
    ) -> None:
        self._queue = queue
        self._executor = executor
        self.worker_id = worker_id or new_worker_id()
        self._concurrency = concurrency
        self._poll = poll_seconds
        # Runs queued by other processes (PostgreSQL's LISTEN): look at once, not at the poll.
        self._wakeups = wakeups
        self._grace = shutdown_grace_seconds
        # As many threads for database steps as the pool has connections: more would make
        # the pool open (and close again) extra connections all the time.
        self._database_threads = database_threads
        self._outbox: OutboxSender = executor.outbox
        self._outbox_poll = outbox_poll_seconds
        self._next_outbox = 0.0
        # The outbox's retries run beside the loop: a mail server that hangs must not hold up
        # reaping and claiming (each send can take minutes).
        self._outbox_task: asyncio.Task[int] | None = None
        # By attempt id (the lease token).
        self._running: dict[str, tuple[asyncio.Task[None], Claim]] = {}
        self._lost: set[str] = set()  # canceled or taken over: nothing to record or release
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None
        self._stopping = False
        self.completed = 0

    # Thread-safe controls.

    def notify(self) -> None:
        """New runs may be waiting: look now instead of at the next poll."""
        if self._loop is not None and self._wake is not None:
            # Once run() has returned its loop is closed: nothing is left to wake. (Without
            # this, a run queued through the API after the worker stopped, or a second stop(),
            # raised "Event loop is closed" in the caller.)
            with contextlib.suppress(RuntimeError):
                self._loop.call_soon_threadsafe(self._wake.set)

    def stop(self) -> None:
        """Stop claiming; running attempts get the grace period, then are handed back."""
        self._stopping = True
        self.notify()

    @property
    def running(self) -> int:
        return len(self._running)

    async def wait_idle(self) -> None:
        """Until every attempt in hand, and the outbox's step, has finished (tests and
        benchmarks drive step())."""
        while self._running:
            tasks = [task for task, _ in list(self._running.values())]
            await asyncio.gather(*tasks, return_exceptions=True)
        if not self._outbox_idle():
            assert self._outbox_task is not None
            await asyncio.gather(self._outbox_task, return_exceptions=True)

    # The loop.

    async def run(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._loop.set_default_executor(
            ThreadPoolExecutor(self._database_threads, thread_name_prefix="worker-db")
        )
        self._wake = asyncio.Event()
        if self._stopping:
            self._wake.set()
        log.info("worker started", extra={"event": "worker.started", "worker": self.worker_id})
        renewer = asyncio.create_task(self._renew_leases())
        failures = 0
        try:
            if self._wakeups is not None:
                self._wakeups.start(self.notify)
            while not self._stopping:
                try:
                    await self.step()
                    failures = 0
                    delay = self._poll
                except DatabaseUnavailable as exc:
                    failures += 1
                    delay = backoff.delay(failures)
                    log.warning(
                        "database unavailable; retrying",
                        extra={"event": "worker.db_error", "error": exc.reason[:200]},
                    )
                await self._nap(delay)
        finally:
            renewer.cancel()
            if self._wakeups is not None:
                await asyncio.to_thread(self._wakeups.stop)
            await self._drain()
            await self._executor.aclose()
            log.info("worker stopped", extra={"event": "worker.stopped", "worker": self.worker_id})

    async def step(self) -> int:
        """Reap expired leases, retry due deliveries, then claim as many runs as there are
        free slots."""
        now = time.monotonic()
        if self._queue.reap_due(now):
            reaped = await asyncio.to_thread(self._queue.reap, 100, list(self._running))
            for run in reaped:
                self._wake_when_available(run)
        if now >= self._next_outbox and not self._stopping and self._outbox_idle():
            self._next_outbox = now + self._outbox_poll
            self._outbox_task = asyncio.create_task(self._outbox_step(), name="outbox")
        free = self._concurrency - len(self._running)
        if free <= 0 or self._stopping:
            return 0
        busy = [claim.run.id for _, claim in self._running.values()]
        claims = await asyncio.to_thread(self._queue.claim, self.worker_id, free, busy)
        for claim in claims:
            task = asyncio.create_task(self._attempt(claim), name=f"run {claim.run.id}")
            self._running[claim.token] = (task, claim)
        return len(claims)

    def _outbox_idle(self) -> bool:
        return self._outbox_task is None or self._outbox_task.done()

    async def _outbox_step(self) -> int:
        try:
            return await self._outbox.step(lambda: self._stopping)
        except DatabaseUnavailable as exc:  # the next step tries again
            log.warning(
                "database unavailable; outbox retries wait",
                extra={"event": "worker.db_error", "error": exc.reason[:200]},
            )
            return 0

    async def _nap(self, seconds: float) -> None:
        assert self._wake is not None
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), timeout=seconds)
        self._wake.clear()

    async def _attempt(self, claim: Claim) -> None:
        try:
            outcome = await self._executor.execute(claim)
            if claim.token not in self._lost and await self._finish(claim, outcome):
                self.completed += 1
        finally:
            self._running.pop(claim.token, None)
            self._lost.discard(claim.token)
            self._next_outbox = 0.0  # the run's end may have raised events: send them now
            if self._wake is not None:
                self._wake.set()  # a slot is free

    async def _finish(self, claim: Claim, outcome: Outcome) -> bool:
        """Record the outcome; a database hiccup is retried while the lease still holds.
        False when it was not recorded (the attempt no longer held the run)."""
        for attempt in range(1, FINISH_TRIES + 1):
            try:
                run = await asyncio.to_thread(self._queue.finish, claim, outcome)
            except DatabaseUnavailable as exc:
                log.warning(
                    "could not record the outcome; retrying",
                    extra={
                        "event": "run.record_retry",
                        "run_id": claim.run.id,
                        "error": exc.reason[:200],
                    },
                )
                await asyncio.sleep(backoff.delay(attempt))
                continue
            if run is not None:
                self._wake_when_available(run)
            return run is not None
        log.error(
            "gave up recording the outcome; the lease will expire and the run be retried",
            extra={"event": "run.record_failed", "run_id": claim.run.id},
        )
        return False

    def _wake_when_available(self, run: Run) -> None:
        """A retry that waits first is announced to no one when its wait is over: this worker,
        which scheduled it, looks again then (other workers find it at their next poll)."""
        if run.status is not RunStatus.REATTEMPTING or run.available_at is None:
            return
        wait = (run.available_at - run.updated_at).total_seconds()
        if wait > 0 and self._loop is not None and self._wake is not None:
            self._loop.call_later(wait, self._wake.set)

    async def _renew_leases(self) -> None:
        interval = self._queue.lease.total_seconds() / 3
        while True:
            await asyncio.sleep(interval)
            tokens = list(self._running)
            if not tokens:
                continue
            try:
                held = await asyncio.to_thread(self._queue.renew, tokens)
            except DatabaseUnavailable as exc:
                log.warning(
                    "could not renew leases",
                    extra={"event": "lease.renew_failed", "error": exc.reason[:200]},
                )
                continue
            for token in set(tokens) - held:
                entry = self._running.get(token)
                if entry is not None:
                    # Canceled through the API, or our lease lapsed and another attempt took
                    # the run: stop working on it (no more model calls; the outbox already
                    # refuses its emails).
                    self._lost.add(token)
                    entry[0].cancel()
                    log.info(
                        "attempt abandoned",
                        extra={
                            "event": "run.abandoned",
                            "run_id": entry[1].run.id,
                            "attempt": entry[1].attempt.number,
                        },
                    )

    async def _drain(self) -> None:
        await self._drain_attempts()
        if not self._outbox_idle():  # it tries nothing new once stopping
            assert self._outbox_task is not None
            await asyncio.wait([self._outbox_task], timeout=self._grace)
        # Emails on the wire report how they ended (else they would count as unconfirmed).
        await self._outbox.wait_idle(self._grace)

    async def _drain_attempts(self) -> None:
        if not self._running:
            return
        tasks = [task for task, _ in self._running.values()]
        log.info(
            "waiting for running attempts",
            extra={"event": "worker.draining", "running": len(tasks), "grace": self._grace},
        )
        await asyncio.wait(tasks, timeout=self._grace)
        leftovers = list(self._running.values())
        for task, _ in leftovers:
            task.cancel()
        await asyncio.gather(*(task for task, _ in leftovers), return_exceptions=True)
        for _, claim in leftovers:
            try:
                await asyncio.to_thread(self._queue.release, claim)
            except DatabaseUnavailable:
                log.warning(
                    "could not hand the run back; its lease will expire",
                    extra={"event": "run.release_failed", "run_id": claim.run.id},
                )
