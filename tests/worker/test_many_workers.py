"""Several worker processes on one PostgreSQL database never run the same attempt twice, and
never run two runs of one task at once.

Three real `backbeat worker` processes (concurrency 4 each) share 300 queued runs: 100 tasks,
three runs each, a task's runs queued one after another, so the oldest waiting runs, those
every worker's claim looks at first, mostly share a task and the workers race for them. The
fake model server answers each request after a small random delay and watches, per task, how
many of its requests are in flight at once.

Asserted: every run COMPLETED with exactly one attempt (number 1, COMPLETED) and the echoed
report; the fake server received exactly 300 requests, three per task; no task ever had two
requests in flight; per task, the recorded attempt intervals (started_at, completed_at) do not
overlap; each worker asked to stop exits 0; more than one worker did the work.

Not asserted: that a task's runs execute in the order they were queued. They do not always:
a worker's claim skips the rows another worker has locked (SKIP LOCKED), and so can pass over
a task's first run, locked by a claim that is then rolled back, and take its second.
"""

from __future__ import annotations

import random
import signal
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import asdict, replace
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import pytest
from sqlalchemy import func, insert, select

from backbeat.domain.models import Run
from backbeat.domain.runs import AttemptStatus, RunStatus
from backbeat.services.keys import Caller
from backbeat.services.tasks import TaskDraft
from backbeat.store.tables import runs as runs_table
from backbeat.store.tables import tasks
from backbeat.testing import FakeClock
from backbeat.testing.fake_models import Answer, FakeModelServer, RecordedRequest, Reply
from backbeat.wiring import Backbeat
from tests.conftest import Tenant, make_backbeat, make_tenant
from tests.databases import postgres_database
from tests.worker.processes import WorkerProcess, start_worker, wait_until

pytestmark = pytest.mark.slow(seconds=14)

WORKERS = 3
CONCURRENCY = 4
TASKS = 100
RUNS_PER_TASK = 3
RUNS = TASKS * RUNS_PER_TASK
LEASE_SECONDS = 5
MAX_MODEL_DELAY = 0.02  # seconds; each answer waits a random time up to this
STARTUP_TIMEOUT = 40.0  # three interpreters importing the whole app at once, on a busy box
FINISH_TIMEOUT = 40.0
EXIT_TIMEOUT = 20.0


def prompt_of(task_number: int) -> str:
    return f"Report on task {task_number:03d}"


class WatchingModel:
    """The fake model's behaviour: answer after a small random delay, counting, per task (told
    apart by their prompts), the requests in flight at once and in all."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._random = random.Random(11)
        self.in_flight: Counter[str] = Counter()
        self.most_in_flight: Counter[str] = Counter()
        self.requests: Counter[str] = Counter()

    def __call__(self, request: RecordedRequest) -> Answer:
        prompt = request.last_user_text()
        with self._lock:
            self.requests[prompt] += 1
            self.in_flight[prompt] += 1
            self.most_in_flight[prompt] = max(self.most_in_flight[prompt], self.in_flight[prompt])
            delay = self._random.uniform(0, MAX_MODEL_DELAY)
        try:
            time.sleep(delay)
        finally:
            with self._lock:
                self.in_flight[prompt] -= 1
        return Reply(f"Report: {prompt}")


def create_tasks(backbeat: Backbeat, tenant: Tenant) -> list[UUID]:
    """TASKS tasks with distinct prompts: the first through the service, the rest copies of it
    inserted in one statement (a hundred service calls would take seconds of the budget)."""
    caller = Caller(tenant.account_id, tenant.key_id(backbeat))
    draft = TaskDraft("Task 000", prompt_of(0), "0 9 * * *", tenant.artist_id)
    first = backbeat.tasks.create(caller, draft).task
    copies = [
        replace(first, id=uuid4(), title=f"Task {n:03d}", prompt=prompt_of(n))
        for n in range(1, TASKS)
    ]
    with backbeat.engine.begin() as connection:
        connection.execute(insert(tasks), [asdict(task) for task in copies])
    return [first.id, *(task.id for task in copies)]


def queue_runs(backbeat: Backbeat, tenant: Tenant, task_ids: list[UUID]) -> list[Run]:
    """RUNS_PER_TASK runs of every task through the service, a task's runs one after another:
    the oldest waiting runs, those every worker looks at first, mostly share a task."""
    caller = Caller(tenant.account_id, tenant.key_id(backbeat))
    return [
        backbeat.runs.trigger(caller, task_id) for task_id in task_ids for _ in range(RUNS_PER_TASK)
    ]


def all_runs(backbeat: Backbeat, run_ids: list[str]) -> list[Run]:
    with backbeat.uow() as uow:
        found = [uow.runs.get(run_id) for run_id in run_ids]
    assert all(run is not None for run in found)
    return [run for run in found if run is not None]


def finished(backbeat: Backbeat) -> int:
    final = [status.value for status in RunStatus if status.is_final]
    query = select(func.count()).select_from(runs_table).where(runs_table.c.status.in_(final))
    with backbeat.engine.connect() as connection:
        return int(connection.execute(query).scalar_one())


@pytest.fixture
def database() -> Iterator[str]:
    with postgres_database(prefix="backbeat_workers", migrated=True) as url:
        yield url


def test_many_workers_run_every_attempt_once_and_each_task_one_at_a_time(
    database: str, tmp_path: Path
) -> None:
    watcher = WatchingModel()
    # The services' clock reads a moment ago: the workers, on the real clock, see runs as due.
    backbeat = make_backbeat(database, FakeClock(datetime.now(UTC) - timedelta(seconds=1)))
    workers: list[WorkerProcess] = []
    with FakeModelServer() as models:
        models.always(watcher)
        try:
            # Start the processes first: they take seconds to import, while the tasks are made.
            workers = [
                start_worker(
                    database,
                    models.url_anthropic,
                    tmp_path / f"worker-{n}.log",
                    BACKBEAT_LEASE_SECONDS=str(LEASE_SECONDS),
                    BACKBEAT_WORKER_CONCURRENCY=str(CONCURRENCY),
                )
                for n in range(WORKERS)
            ]
            tenant = make_tenant(backbeat, "many@example.com")
            task_ids = create_tasks(backbeat, tenant)
            wait_until(
                lambda: all(worker.ready() for worker in workers),
                STARTUP_TIMEOUT,
                "the workers to start",
                workers,
            )
            queued = queue_runs(backbeat, tenant, task_ids)
            assert len(queued) == RUNS
            wait_until(
                lambda: finished(backbeat) == RUNS, FINISH_TIMEOUT, "every run to end", workers
            )

            # Asked to stop with nothing in hand, each worker exits cleanly.
            for worker in workers:
                worker.process.send_signal(signal.SIGTERM)
            for worker in workers:
                assert worker.process.wait(timeout=EXIT_TIMEOUT) == 0, worker.log()

            runs = all_runs(backbeat, [run.id for run in queued])
            not_completed = [
                (run.id, run.status, run.error)
                for run in runs
                if run.status is not RunStatus.COMPLETED
            ]
            assert not_completed == []
            # Exactly one attempt per run, which completed: no attempt ran twice.
            for run in runs:
                assert run.attempt_count == 1, run
                [attempt] = run.attempts
                assert (attempt.number, attempt.status) == (1, AttemptStatus.COMPLETED)
                assert run.output is not None
                assert run.output["text"] == f"Report: {(run.payload or {})['prompt']}"

            # One model request per run (a single-turn reply), three per task.
            assert len(models.requests) == RUNS
            assert watcher.requests == Counter({prompt_of(n): RUNS_PER_TASK for n in range(TASKS)})
            # No task ever had two requests in flight at once: its runs never overlapped.
            assert max(watcher.most_in_flight.values()) == 1

            # The recorded attempts say the same: per task, each attempt started after the
            # previous one had ended. (A claim stamps its start once its query has seen the key
            # free, so this holds to the microsecond, across processes on one clock.) Order is
            # not checked: runs of one task may execute out of their queued order (see the
            # module docstring).
            by_task: dict[Any, list[tuple[datetime, datetime]]] = defaultdict(list)
            for run in runs:
                [attempt] = run.attempts
                assert attempt.started_at is not None
                assert attempt.completed_at is not None
                by_task[run.task_id].append((attempt.started_at, attempt.completed_at))
            assert len(by_task) == TASKS
            for task_id, intervals in by_task.items():
                intervals.sort()
                for (_, ended), (started, _) in pairwise(intervals):
                    assert started >= ended, (task_id, intervals)

            # The work was shared between the processes.
            pids = {worker.process.pid for worker in workers}
            shares = Counter(run.attempts[0].worker_id for run in runs)
            for worker_id in shares:
                assert worker_id is not None
                assert int(worker_id.split(":")[1]) in pids
            assert len(shares) > 1, shares
        finally:
            for worker in workers:
                if worker.process.poll() is None:
                    worker.process.kill()
                    worker.process.wait()
            backbeat.close()
