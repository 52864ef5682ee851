"""The worker survives PostgreSQL cutting its connections, losing and duplicating nothing.

A real Worker.run() runs in a thread (its own event loop) over a database of its own, against
the fake model server over HTTP. Every run makes two model requests: the first answers with a
send_email call (through the outbox), the second with the report. Runs are queued batch
after batch while the test terminates every backend connected to the database
(pg_terminate_backend, what a restart does to clients):

1. while attempts are waiting on the model (the pool's idle connections die under them);
2. mid-tool: the test locks the outbox, so send_email's outbox request blocks inside its
   transaction, and cuts it there;
3. mid-claim and mid-finish: the test locks the attempts table, so a claim blocks after
   marking its runs EXECUTING (inserting the attempt) and a finish after recording the run's
   outcome (updating the attempt), both inside their transactions, and cuts them both there;
4. while the worker is idle, between polls;

and then queues one more batch, which must complete too.

What is asserted, precisely:

- every run ends COMPLETED, with exactly one COMPLETED attempt, its last;
- any earlier attempt of a run is FAILED with `WorkerCrashed`, and nothing else: the one
  duplicate a lost connection can legitimately cause is a claim that committed but whose
  acknowledgement was lost (or a lease whose renewals were all cut): the worker does not know
  it holds the run, the lease expires, the run is reaped and retried. No attempt fails because
  the database went away under it;
- a run with a single attempt made exactly two model requests (nothing was asked twice); a
  retried run at most two per attempt;
- every run emailed its owner exactly once (the mailer saw one email per run, and the outbox
  holds one row per run, "sent"), retried or not;
- the worker noticed the cuts (a claim and a finish failed and were retried), kept running
  through all of them, completed runs afterwards, and stopped cleanly when asked.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import psycopg
import pytest
from pydantic import SecretStr

from backbeat.agents.routing import Providers
from backbeat.agents.tools.registry import TOOLS
from backbeat.config import Settings
from backbeat.domain.failures import RetryPolicy
from backbeat.domain.models import Run
from backbeat.domain.runs import AttemptStatus, RunStatus
from backbeat.services.keys import Caller
from backbeat.services.tasks import TaskDraft
from backbeat.services.worker import WorkQueue
from backbeat.testing.databases import libpq
from backbeat.testing.fake_models import (
    Answer,
    FakeModelServer,
    RecordedRequest,
    Reply,
    ToolCallReply,
)
from backbeat.testing.fake_tools import RecordingMailer, StaticFetcher
from backbeat.wiring import Backbeat, build, make_outbox
from backbeat.worker.executor import Executor
from backbeat.worker.loop import Worker
from backbeat.worker.outbox import OutboxSender
from tests.conftest import SECRET, Tenant, make_tenant
from tests.databases import postgres_database

LEASE_SECONDS = 5
CONCURRENCY = 8
FIRST_TURN_SECONDS = 0.3  # the model "thinks" before asking for send_email
LAST_TURN_SECONDS = 0.05
TIMEOUT = 30.0
OWNER = "outage@example.com"

TERMINATE_OTHERS = (
    "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity"
    " WHERE datname = current_database() AND pid <> pg_backend_pid()"
)
# Backends of this database waiting for a lock, by the statement they are waiting in.
BLOCKED = (
    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
    " AND pid <> pg_backend_pid() AND wait_event_type = 'Lock' AND query ILIKE %s"
)


def first_user_text(request: RecordedRequest) -> str:
    """The run's prompt: the first user message (later turns end with tool results)."""
    content = request.messages[0].get("content") if request.messages else None
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(str(block.get("text", "")) for block in content if isinstance(block, dict))
    return ""


class TwoTurnModel:
    """First turn: think a while, then call send_email. Second turn: the report. Counts the
    requests per run (told apart by their prompts) and those in flight."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.requests: Counter[str] = Counter()
        self.in_flight = 0

    def __call__(self, request: RecordedRequest) -> Answer:
        prompt = first_user_text(request)
        first_turn = len(request.messages) == 1
        with self._lock:
            self.requests[prompt] += 1
            self.in_flight += 1
        try:
            time.sleep(FIRST_TURN_SECONDS if first_turn else LAST_TURN_SECONDS)
        finally:
            with self._lock:
                self.in_flight -= 1
        if first_turn:
            return ToolCallReply("send_email", {"subject": prompt, "body": f"Report on {prompt}"})
        return Reply(f"Done: {prompt}")


class WorkerEvents(logging.Handler):
    """The `event` (and `run_id`, if any) of each record the worker logs, from any thread."""

    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self._lock_events = threading.Lock()
        self.events: list[tuple[str, str | None]] = []

    def emit(self, record: logging.LogRecord) -> None:
        with self._lock_events:
            self.events.append((getattr(record, "event", ""), getattr(record, "run_id", None)))

    def count(self, event: str) -> int:
        with self._lock_events:
            return sum(name == event for name, _ in self.events)

    def runs(self, event: str, *, after: int = 0) -> set[str | None]:
        """The runs of the `event` records, leaving out the first `after` of them."""
        with self._lock_events:
            found = [run_id for name, run_id in self.events if name == event]
        return set(found[after:])


class Database:
    """An admin connection to the test database, outside the worker's pool: it terminates
    everyone else's backends, takes the locks that stall the worker mid-transaction, and
    answers the test's questions. It is never terminated itself (pid <> pg_backend_pid())."""

    def __init__(self, url: str) -> None:
        self._connection = psycopg.connect(libpq(url), autocommit=True)

    def close(self) -> None:
        self._connection.close()

    def _scalar(self, sql: str, *params: object) -> int:
        # Inside a transaction (while holding a lock) PostgreSQL would answer every read of
        # pg_stat_activity from one snapshot: take a fresh one each time.
        self._connection.execute("SELECT pg_stat_clear_snapshot()")
        row = self._connection.execute(sql, params).fetchone()
        assert row is not None
        return int(row[0])

    def terminate_all_other_backends(self) -> int:
        return self._scalar(TERMINATE_OTHERS)

    def blocked_in(self, statement: str) -> int:
        return self._scalar(BLOCKED, f"{statement}%")

    @contextmanager
    def locked(self, table: str) -> Iterator[None]:
        """SHARE lock on `table` until the block ends: reads go on, writes wait."""
        with self._connection.transaction():
            self._connection.execute(f"LOCK TABLE {table} IN SHARE MODE")
            yield

    def ledger(self) -> list[tuple[str, str, str]]:
        rows = self._connection.execute("SELECT run_id, recipient, status FROM deliveries")
        return [(row[0], row[1], row[2]) for row in rows.fetchall()]


class RunningWorker:
    """Worker.run() in a thread with its own event loop, as `backbeat serve` runs it."""

    def __init__(self, worker: Worker) -> None:
        self.worker = worker
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._main, name="worker", daemon=True)

    def _main(self) -> None:
        try:
            asyncio.run(self.worker.run())
        except BaseException as exc:  # reported by assert_alive / stop
            self.error = exc

    def start(self) -> None:
        self.thread.start()

    def assert_alive(self) -> None:
        assert self.error is None, f"the worker loop died: {self.error!r}"
        assert self.thread.is_alive(), "the worker loop returned"

    def stop(self) -> None:
        self.worker.stop()
        if self.thread.ident is not None:
            self.thread.join(timeout=TIMEOUT)

    def wait_until(self, condition: Callable[[], bool], what: str) -> None:
        deadline = time.monotonic() + TIMEOUT
        while not condition():
            self.assert_alive()
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {TIMEOUT}s waiting for {what}")
            time.sleep(0.005)


class Queue:
    """Queues runs through the services, one task per run, each with its own prompt."""

    def __init__(self, backbeat: Backbeat, tenant: Tenant) -> None:
        self._backbeat = backbeat
        self._tenant = tenant
        self._caller = Caller(tenant.account_id, tenant.key_id(backbeat))
        self.runs: list[Run] = []

    def add(self, count: int) -> list[str]:
        batch = []
        for _ in range(count):
            prompt = f"outage run {len(self.runs):03d}"
            draft = TaskDraft(prompt, prompt, "0 9 * * *", self._tenant.artist_id)
            task = self._backbeat.tasks.create(self._caller, draft).task
            run = self._backbeat.runs.trigger(self._caller, task.id)
            self.runs.append(run)
            batch.append(run.id)
        return batch

    def load(self, run_ids: list[str] | None = None) -> list[Run]:
        ids = [run.id for run in self.runs] if run_ids is None else run_ids
        with self._backbeat.uow() as uow:
            found = [uow.runs.get(run_id) for run_id in ids]
        assert all(run is not None for run in found)
        return [run for run in found if run is not None]

    def all_final(self, run_ids: list[str] | None = None) -> bool:
        return all(run.status.is_final for run in self.load(run_ids))


@pytest.fixture
def outage_url() -> Iterator[str]:
    # A database of its own: terminating "every backend" must not reach other tests' pools.
    with postgres_database(prefix="backbeat_worker_outage", migrated=True) as url:
        yield url


@pytest.fixture
def events() -> Iterator[WorkerEvents]:
    handler = WorkerEvents()
    logger = logging.getLogger("backbeat.worker")
    level = logger.level
    logger.setLevel(logging.INFO)
    logger.addHandler(handler)
    yield handler
    logger.removeHandler(handler)
    logger.setLevel(level)


def make_worker(backbeat: Backbeat, mailer: RecordingMailer) -> Worker:
    config = backbeat.settings
    queue = WorkQueue(
        backbeat.uow, backbeat.clock, lease=timedelta(seconds=LEASE_SECONDS), retry=RetryPolicy()
    )
    executor = Executor(
        queue,
        Providers(config),
        config,
        backbeat.clock,
        tools=TOOLS,
        fetcher=StaticFetcher(),
        outbox=OutboxSender(make_outbox(backbeat, config, timedelta(seconds=10)), mailer),
    )
    worker = Worker(
        queue,
        executor,
        worker_id="outage-worker",
        concurrency=CONCURRENCY,
        poll_seconds=0.05,
        shutdown_grace_seconds=5,
    )
    backbeat.runs_queued.subscribe(worker.notify)
    return worker


def cut_while_blocked(
    db: Database, running: RunningWorker, statements: list[str], *, before: Callable[[], Any]
) -> None:
    """Call `before` (with the lock held by the caller), wait until a worker backend is blocked
    inside each of `statements`, then terminate every backend."""
    before()
    for statement in statements:

        def blocked(statement: str = statement) -> bool:
            return db.blocked_in(statement) > 0

        running.wait_until(blocked, f"a blocked {statement}")
    assert db.terminate_all_other_backends() >= len(statements)


def test_the_worker_survives_connections_cut_mid_claim_mid_tool_and_mid_finish(
    outage_url: str, events: WorkerEvents
) -> None:
    model = TwoTurnModel()
    mailer = RecordingMailer()
    db = Database(outage_url)
    with FakeModelServer() as models:
        models.always(model)
        config = Settings(
            database_url=outage_url,
            secret_key=SECRET,
            anthropic_api_key=SecretStr("sk-test"),
            anthropic_base_url=models.url_anthropic,
            lease_seconds=LEASE_SECONDS,
        )
        backbeat = build(config)  # the real clock: leases expire and retries fall due
        running = RunningWorker(make_worker(backbeat, mailer))
        try:
            queue = Queue(backbeat, make_tenant(backbeat, OWNER))
            running.start()

            # 1. Attempts waiting on the model: the pool's connections die under them.
            first = queue.add(CONCURRENCY)
            running.wait_until(lambda: model.in_flight >= CONCURRENCY // 2, "attempts in flight")
            assert db.terminate_all_other_backends() >= 1

            # 2. Mid-tool: send_email's outbox request, blocked inside its transaction. The
            # tool tries again once the database answers; the email goes out once.
            tool_retries = events.count("attempt.db_retry")
            with db.locked("deliveries"):
                cut_while_blocked(db, running, ["INSERT INTO deliveries"], before=lambda: None)
            running.wait_until(lambda: queue.all_final(first), "the first batch to finish")
            assert events.count("attempt.db_retry") > tool_retries

            # 3. Mid-claim and mid-finish. Some runs start (free slots remain); with the
            # attempts table locked, their finishes block, and so does the claim of the next
            # batch, once it is queued.
            executing = queue.add(CONCURRENCY // 2)
            running.wait_until(lambda: model.in_flight >= 1, "the runs to reach the model")
            claims_before = events.count("worker.db_error")
            finishes_before = events.count("run.record_retry")
            with db.locked("attempts"):
                cut_while_blocked(
                    db,
                    running,
                    ["INSERT INTO attempts", "UPDATE attempts"],
                    before=lambda: queue.add(CONCURRENCY),
                )
            running.wait_until(lambda: queue.all_final(), "every run queued so far to finish")
            assert events.count("worker.db_error") > claims_before  # the claim felt the cut
            retried = events.runs("run.record_retry", after=finishes_before)  # and finishes did
            assert retried
            assert retried <= set(executing)

            # 4. Idle: the pool's connections die between polls; then more work arrives.
            running.wait_until(lambda: running.worker.running == 0, "the worker to be idle")
            db.terminate_all_other_backends()
            last = queue.add(CONCURRENCY)
            running.wait_until(lambda: queue.all_final(last), "the batch after the outages")

            running.assert_alive()
            running.stop()
            assert not running.thread.is_alive()
            assert running.error is None
            check_every_run_completed_once(queue.load(), model, mailer, db)
        finally:
            running.stop()
            backbeat.close()
            db.close()


def check_every_run_completed_once(
    runs: list[Run], model: TwoTurnModel, mailer: RecordingMailer, db: Database
) -> None:
    total = len(runs)
    assert total == 3 * CONCURRENCY + CONCURRENCY // 2
    for run in runs:
        assert run.status is RunStatus.COMPLETED, (run.id, run.status, run.error)
        *earlier, final = run.attempts
        assert [a.number for a in run.attempts] == list(range(1, len(run.attempts) + 1))
        assert final.status is AttemptStatus.COMPLETED
        for attempt in earlier:
            assert attempt.status is AttemptStatus.FAILED, attempt
            assert attempt.error is not None
            assert attempt.error["name"] == "WorkerCrashed", attempt.error
        prompt = str((run.payload or {})["prompt"])
        if earlier:
            assert model.requests[prompt] <= 2 * len(run.attempts)
        else:
            assert model.requests[prompt] == 2, (prompt, model.requests[prompt])
        assert run.output is not None
        assert run.output["text"] == f"Done: {prompt}"

    # One email per run, whatever happened to its attempts.
    subjects = Counter(email.subject for email in mailer.sent)
    assert subjects == Counter({str((run.payload or {})["prompt"]): 1 for run in runs})
    assert mailer.recipients == [OWNER] * total
    ledger = db.ledger()
    assert sorted(ledger) == sorted((run.id, OWNER, "sent") for run in runs)
