"""The worker's database steps. Each is one short transaction; none is ever held while a
model or a tool is working (a worker runs hundreds of calls on a handful of connections).

Claim → (model and tools, no transaction) → finish. A claim starts an attempt under a lease
whose token is the attempt's id: renewals, outcomes, releases (and the outbox's sends) count
only with the live token, so a run taken over by another attempt (of any worker, this one
included), or canceled meanwhile, is never overwritten by a late answer.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from backbeat.domain import attempts, reports
from backbeat.domain.agent_settings import (
    NO_SETTINGS,
    AgentSettings,
    month_start,
    monthly_budget_left,
)
from backbeat.domain.clock import Clock
from backbeat.domain.deliveries import emails_sent
from backbeat.domain.errors import ConcurrentChange
from backbeat.domain.failures import AttemptFailed, FailureKind, RetryPolicy
from backbeat.domain.metrics import NO_METRICS, Recorder
from backbeat.domain.models import Attempt, Run, Task
from backbeat.domain.ports import SecretBox, UnitOfWork
from backbeat.domain.runs import RunStatus
from backbeat.services.alerts import record_alerts
from backbeat.services.reporting import record_report_deliveries, report_from_json
from backbeat.services.webhooks import RunEvents

log = logging.getLogger("backbeat.worker")

UnitOfWorkFactory = Callable[..., UnitOfWork]


@dataclass(frozen=True, slots=True)
class Claim:
    run: Run
    attempt: Attempt

    @property
    def worker_id(self) -> str:
        assert self.run.lease_owner is not None
        return self.run.lease_owner

    @property
    def token(self) -> str:
        """The lease token: the attempt's id."""
        return self.attempt.id


@dataclass(frozen=True, slots=True)
class Outcome:
    """What an attempt produced: output on success, or the failure; and what it cost."""

    output: dict[str, Any] | None
    failure: AttemptFailed | None
    cost_in_cents: float
    stack_trace: str | None = None


@dataclass(frozen=True, slots=True)
class RunContext:
    """What a run's tools and prompt need from the database, read once per attempt."""

    artist: dict[str, Any]
    owner_email: str | None
    team_emails: frozenset[str]
    previous_outputs: list[dict[str, Any]]
    # For a task delivered `when: changed`: the last report the team got, to compare with
    # (None for the first); `compares` False for every other task.
    compares: bool = False
    last_report: reports.Report | None = None
    agent: AgentSettings = NO_SETTINGS  # the task's tools and limits
    monthly_left_cents: float | None = None  # of the account's monthly budget (None: none)
    scope: tuple[UUID, ...] | None = None  # the organizations the task was made through


class WorkQueue:
    def __init__(
        self,
        uow: UnitOfWorkFactory,
        clock: Clock,
        *,
        lease: timedelta,
        retry: RetryPolicy,
        rng: random.Random | None = None,
        metrics: Recorder = NO_METRICS,
        events: RunEvents | None = None,
        box: SecretBox | None = None,
    ) -> None:
        self._uow = uow
        self._clock = clock
        self._metrics = metrics
        self._events = events or RunEvents()
        self._box = box  # opens tasks' Slack URLs, for the report deliveries' rows
        self.lease = lease
        self._retry = retry
        self._rng = rng
        self._next_reap = 0.0

    def claim(self, worker_id: str, limit: int, skip: Sequence[str] = ()) -> list[Claim]:
        """Start up to `limit` runs under a lease, none of the runs in `skip` (the worker's
        own, still executing an outdated attempt); [] when another worker won a race."""
        now = self._clock.now()
        claims: list[Claim] = []
        try:
            with self._uow(write=True) as uow:
                found = uow.work.claimable(now, limit, skip=skip)
                # Stamp the start once the query has answered: it saw each run's key free, so
                # the start recorded never precedes the end of the run of the same task it
                # waited for (a start read before the query could, by as long as the query
                # was delayed).
                started_at = self._clock.now()
                for run in found:
                    started, attempt = attempts.start(run, started_at, worker_id, self.lease)
                    uow.work.save(started)
                    uow.work.add_attempt(attempt)
                    claims.append(Claim(started, attempt))
                uow.commit()
        except ConcurrentChange:
            # Another worker started a run with the same concurrency key a moment earlier;
            # the unique index refused ours. Nothing was claimed; look again next time.
            return []
        for claim in claims:
            log.info(
                "run claimed",
                extra={
                    "event": "run.claimed",
                    "run_id": claim.run.id,
                    "task_id": str(claim.run.task_id),
                    "attempt": claim.attempt.number,
                    "worker": worker_id,
                },
            )
        return claims

    def renew(self, lease_tokens: Sequence[str]) -> set[str]:
        """Extend these attempts' leases; answers the tokens still live."""
        if not lease_tokens:
            return set()
        with self._uow(write=True) as uow:
            held = uow.work.renew(lease_tokens, self._clock.now() + self.lease)
            uow.commit()
        return held

    def finish(self, claim: Claim, outcome: Outcome) -> Run | None:
        """Record the outcome if the worker still holds the run; None if it no longer does."""
        now = self._clock.now()
        with self._uow(write=True) as uow:
            run = uow.work.get_for_update(claim.run.id)
            if not self._holds(run, claim):
                log.warning(
                    "outcome discarded: the run was canceled or taken over",
                    extra={
                        "event": "run.outcome_discarded",
                        "run_id": claim.run.id,
                        "task_id": str(claim.run.task_id),
                        "attempt": claim.attempt.number,
                    },
                )
                return None
            assert run is not None
            attempt = uow.work.current_attempt(run.id) or claim.attempt
            # The outbox, not the attempt's memory: emails sent by earlier attempts count.
            output = None
            if outcome.output is not None:
                sent = emails_sent(uow.deliveries.of_run(run.id))
                output = {**outcome.output, "emails_sent": sent}
            if outcome.failure is None:
                assert output is not None
                run, attempt = attempts.complete(run, attempt, now, output, outcome.cost_in_cents)
            else:
                run, attempt = attempts.fail(
                    run,
                    attempt,
                    now,
                    outcome.failure,
                    failed_attempts=uow.work.failed_attempts(run.id) + 1,
                    policy=self._retry,
                    cost=outcome.cost_in_cents,
                    output=output,
                    stack_trace=outcome.stack_trace,
                    rng=self._rng,
                )
            uow.work.save(run)
            uow.work.save_attempt(attempt)
            self._events.record(uow, run, now)  # with the final state, or not at all
            self._tell(uow, run, now)
            uow.commit()
        _log_outcome(run, attempt)
        self._metrics.run_outcome(
            run.status, None if outcome.failure is None else outcome.failure.kind
        )
        return run

    def release(self, claim: Claim) -> bool:
        """Hand an unfinished run back (graceful shutdown); the attempt is not spent."""
        now = self._clock.now()
        with self._uow(write=True) as uow:
            run = uow.work.get_for_update(claim.run.id)
            if not self._holds(run, claim):
                return False
            assert run is not None
            attempt = uow.work.current_attempt(run.id) or claim.attempt
            run, attempt = attempts.release(run, attempt, now)
            uow.work.save(run)
            uow.work.save_attempt(attempt)
            uow.commit()
        log.info(
            "run released",
            extra={"event": "run.released", "run_id": run.id, "task_id": str(run.task_id)},
        )
        return True

    def reap_due(self, now_monotonic: float) -> bool:
        """Whether it is time to look for expired leases again (every third of a lease)."""
        if now_monotonic < self._next_reap:
            return False
        self._next_reap = now_monotonic + self.lease.total_seconds() / 3
        return True

    def reap(self, limit: int = 100, keep: Sequence[str] = ()) -> list[Run]:
        """Runs whose worker stopped renewing its lease: that attempt failed (WorkerCrashed);
        the run is retried if attempts remain, else CRASHED. Never the attempts in `keep`
        (the reaping worker's own live ones: it renews those instead)."""
        now = self._clock.now()
        reaped: list[Run] = []
        with self._uow(write=True) as uow:
            for run in uow.work.expired(now, limit, keep=keep):
                attempt = uow.work.current_attempt(run.id)
                if attempt is None:  # cannot happen through Backbeat; repair rather than stall
                    attempt = attempts.start(run, now, run.lease_owner or "?", self.lease)[1]
                    uow.work.add_attempt(attempt)
                failure = attempts.lease_expired(run, attempt, now)
                after, ended = attempts.fail(
                    run,
                    attempt,
                    now,
                    failure,
                    failed_attempts=uow.work.failed_attempts(run.id) + 1,
                    policy=self._retry,
                    rng=self._rng,
                )
                uow.work.save(after)
                uow.work.save_attempt(ended)
                self._events.record(uow, after, now)
                self._tell(uow, after, now)
                reaped.append(after)
            uow.commit()
        for run in reaped:
            log.warning(
                "lease expired; attempt failed",
                extra={
                    "event": "lease.expired",
                    "run_id": run.id,
                    "task_id": str(run.task_id),
                    "status": run.status.value,
                },
            )
        recorder = self._metrics
        recorder.takeovers(len(reaped))
        for run in reaped:
            recorder.run_outcome(run.status, FailureKind.WORKER_CRASHED)
        return reaped

    def _tell(self, uow: UnitOfWork, run: Run, now: datetime) -> None:
        """Inside the transaction that gave `run` its state: its report and alerts, once it
        is final (its task read once for both)."""
        if not run.status.is_final or run.task_id is None:
            return
        task = uow.tasks.get(run.task_id)
        url = self._events.run_url(run.id)
        record_report_deliveries(uow, run, task, now, url, self._box)
        record_alerts(uow, run, task, now, url, self._box, self._events)

    def next_available(self) -> datetime | None:
        with self._uow() as uow:
            return uow.work.next_available()

    def context(self, run: Run, previous: int) -> RunContext:
        """Everything an attempt reads before it starts, in one transaction."""
        with self._uow() as uow:
            artist = (
                None
                if run.artist_account_id is None
                else uow.accounts.get_artist(run.artist_account_id)
            )
            owner = uow.accounts.get(run.account_id)
            task = None if run.task_id is None else uow.tasks.get(run.task_id)
            # The owner's team, narrowed to the organizations the task was made through when
            # someone acting for the owner made it (services.access); the owner alone when
            # the task is gone.
            scope = [] if task is None else task.recipient_scope(run.account_id)
            team = uow.accounts.team_emails(run.account_id, scope)
            earlier = (
                []
                if run.task_id is None
                else uow.work.previous_outputs(run.task_id, run.created_at, previous)
            )
            compares, last = self._last_report(uow, run, task)
            monthly_left = self._monthly_left(uow, run)
        return RunContext(
            artist={
                "id": None if artist is None else str(artist.id),
                "name": None if artist is None else artist.name,
                "profile": {} if artist is None else artist.profile,
            },
            owner_email=None if owner is None else owner.email,
            team_emails=frozenset(team),
            previous_outputs=earlier,
            compares=compares,
            last_report=last,
            agent=NO_SETTINGS if task is None else task.agent,
            monthly_left_cents=monthly_left,
            scope=None if task is None else task.scope_organization_ids,
        )

    def _monthly_left(self, uow: UnitOfWork, run: Run) -> float | None:
        """Cents left of the account's monthly budget; raises (BUDGET) when none is."""
        budget = uow.accounts.monthly_budget(run.account_id)
        if budget is None:
            return None
        since = month_start(self._clock.now())
        return monthly_budget_left(budget, uow.runs.cost_since(run.account_id, since), since)

    @staticmethod
    def _last_report(
        uow: UnitOfWork, run: Run, task: Task | None
    ) -> tuple[bool, reports.Report | None]:
        """Whether the run's task compares its report before delivering it, and with what."""
        if task is None or task.delivery is None or not task.delivery.compares:
            return False, None
        delivered = uow.deliveries.last_report(run)
        return True, None if delivered is None else report_from_json(delivered.body)

    def previous_outputs(self, run: Run, limit: int) -> list[dict[str, Any]]:
        if run.task_id is None:
            return []
        with self._uow() as uow:
            return uow.work.previous_outputs(run.task_id, run.created_at, limit)

    @staticmethod
    def _holds(run: Run | None, claim: Claim) -> bool:
        return (
            run is not None and run.status is RunStatus.EXECUTING and run.lease_token == claim.token
        )


def _log_outcome(run: Run, attempt: Attempt) -> None:
    event = {
        RunStatus.COMPLETED: "run.completed",
        RunStatus.REATTEMPTING: "run.retrying",
        RunStatus.FAILED: "run.failed",
        RunStatus.CRASHED: "run.crashed",
        RunStatus.SYSTEM_FAILURE: "run.system_failure",
    }.get(run.status, "run.finished")
    log.info(
        "run %s",
        run.status.value.lower(),
        extra={
            "event": event,
            "run_id": run.id,
            "task_id": str(run.task_id),
            "attempt": attempt.number,
            "status": run.status.value,
            "error": None if run.error is None else run.error.get("name"),
        },
    )
