"""The scheduler loop survives PostgreSQL cutting its connections, losing and duplicating nothing.

A real SchedulerLoop runs in a thread over many due tasks with a tiny batch size, so one tick
is hundreds of short transactions. Meanwhile the test terminates every backend connected to
the test database (pg_terminate_backend, what a restart does to clients), in the middle of a
tick and while the loop sleeps. The loop must log, back off, reconnect and carry on; at the
end every (task, fire time) has exactly one run.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from backbeat.scheduler.loop import SchedulerLoop
from backbeat.services.scheduler import Scheduler
from backbeat.testing import FakeClock
from backbeat.testing.databases import libpq
from backbeat.wiring import Backbeat
from tests.conftest import make_backbeat, make_tenant
from tests.databases import postgres_database
from tests.scheduler.many_tasks import create_identical_tasks

TASKS = 400
BATCH_SIZE = 2  # 200 transactions per fire: a tick long enough to cut in the middle of
SCHEDULE = "*/5 * * * *"
CREATED_AT = datetime(2026, 1, 5, 12, 0, 30, tzinfo=UTC)  # first fire: 12:05
FIRES = [datetime(2026, 1, 5, 12, 5, tzinfo=UTC) + timedelta(minutes=5 * i) for i in range(4)]
PAST_THE_FIRE = timedelta(seconds=1)
TIMEOUT = 30.0

TERMINATE_OTHERS = (
    "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity"
    " WHERE datname = current_database() AND pid <> pg_backend_pid()"
)


class SchedulerEvents(logging.Handler):
    """Collects the `event` of each record the scheduler logs (from any thread)."""

    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.events: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.events.append(getattr(record, "event", ""))

    def count(self, event: str) -> int:
        return self.events.count(event)


class Database:
    """An admin connection to the test database, outside the pool the scheduler uses.

    It terminates everyone else's backends and answers the test's questions; it is never
    terminated itself (pid <> pg_backend_pid()).
    """

    def __init__(self, url: str) -> None:
        self._connection = psycopg.connect(libpq(url), autocommit=True)

    def close(self) -> None:
        self._connection.close()

    def _scalar(self, sql: str, *params: object) -> int:
        row = self._connection.execute(sql, params).fetchone()
        assert row is not None
        return int(row[0])

    def terminate_all_other_backends(self) -> int:
        return self._scalar(TERMINATE_OTHERS)

    def runs_for(self, fire: datetime) -> int:
        return self._scalar("SELECT count(*) FROM runs WHERE scheduled_for = %s", fire)

    def tasks_still_due(self, fire: datetime) -> int:
        return self._scalar("SELECT count(*) FROM tasks WHERE next_fire_at <= %s", fire)

    def open_write_transactions(self) -> int:
        """Backends of the test database in a transaction that has claimed or written rows."""
        return self._scalar(
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE datname = current_database() AND backend_xid IS NOT NULL"
        )

    def pairs_not_exactly_once(self) -> list[tuple[object, ...]]:
        return self._connection.execute(
            "SELECT task_id, scheduled_for, count(*) FROM runs"
            " GROUP BY task_id, scheduled_for HAVING count(*) <> 1"
        ).fetchall()

    def total_runs(self) -> int:
        return self._scalar("SELECT count(*) FROM runs")

    def fire_times(self) -> set[datetime]:
        rows = self._connection.execute("SELECT DISTINCT scheduled_for FROM runs").fetchall()
        return {row[0] for row in rows}


class RunningLoop:
    """A SchedulerLoop in a thread, with a way to cut its sleeps (backoff included) short."""

    def __init__(self, backbeat: Backbeat) -> None:
        policy = replace(backbeat.scheduler.policy, batch_size=BATCH_SIZE)
        scheduler = Scheduler(backbeat.uow, backbeat.clock, policy)
        self.wakeup = threading.Event()
        self.loop = SchedulerLoop(scheduler, backbeat.clock, self.wakeup)
        self.thread = threading.Thread(target=self.loop.run, name="scheduler-loop", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.loop.stop()
        if self.thread.ident is not None:  # started
            self.thread.join(timeout=TIMEOUT)

    def assert_alive(self) -> None:
        assert self.thread.is_alive(), "the scheduler loop died (see the thread's traceback)"

    def wait_until_asleep(self) -> None:
        """Return once the loop has finished a tick that began after the last wake-up: it is
        then sleeping towards the next fire (max_sleep, 5 s), holding no connection."""
        # The wake-up may have been set during the tick in hand, and then the loop ticks once
        # more at once; the tick after that one started with the event clear.
        ticks = self.loop.ticks
        deadline = time.monotonic() + TIMEOUT
        while self.loop.ticks < ticks + 2:
            assert time.monotonic() < deadline, "the loop never settled down to sleep"
            time.sleep(0.002)

    def wait_until(self, condition: Callable[[], bool], what: str) -> None:
        """Poll `condition`, waking the loop each time so that no backoff sleep, however long,
        stands between the test and the loop's next tick."""
        deadline = time.monotonic() + TIMEOUT
        while not condition():
            self.assert_alive()
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {TIMEOUT}s waiting for {what}")
            self.wakeup.set()
            time.sleep(0.002)


@pytest.fixture
def outage_url() -> Iterator[str]:
    # A database of its own: terminating "every backend" must not reach other tests' pools.
    with postgres_database(prefix="backbeat_outage", migrated=True) as url:
        yield url


@pytest.fixture
def events() -> Iterator[SchedulerEvents]:
    handler = SchedulerEvents()
    logger = logging.getLogger("backbeat.scheduler")
    logger.addHandler(handler)
    yield handler
    logger.removeHandler(handler)


def cut_connections_mid_tick(db: Database, running: RunningLoop, events: SchedulerEvents) -> None:
    """Terminate every backend while the loop is dispatching, until the loop has felt it.

    A termination that lands between two of the loop's transactions goes unnoticed (the pool
    pings connections on checkout and quietly replaces dead ones), so it is repeated until
    the loop logs a database error: the outage must have hit an open transaction.
    """
    errors_before = events.count("scheduler.db_error")
    deadline = time.monotonic() + TIMEOUT
    while events.count("scheduler.db_error") == errors_before:
        running.assert_alive()
        assert time.monotonic() < deadline, "no termination ever hit the loop mid-transaction"
        if db.open_write_transactions():
            db.terminate_all_other_backends()
        time.sleep(0.001)


def dispatch_fire(
    fire: datetime,
    clock: FakeClock,
    db: Database,
    running: RunningLoop,
    events: SchedulerEvents,
    *,
    cuts: int,
) -> None:
    """Move the clock just past `fire` and let the loop dispatch it, cutting every connection
    `cuts` times along the way, each time once the loop has made progress since the last."""
    clock.set(fire + PAST_THE_FIRE)
    running.wakeup.set()
    for _ in range(cuts):
        before = db.runs_for(fire)

        def made_progress(before: int = before) -> bool:
            return db.runs_for(fire) > before

        running.wait_until(made_progress, "dispatch to make progress")
        assert db.runs_for(fire) < TASKS, "the tick ended before the connections were cut"
        cut_connections_mid_tick(db, running, events)
    running.wait_until(lambda: db.tasks_still_due(fire) == 0, f"every task past {fire:%H:%M}")


def test_the_loop_survives_connections_cut_mid_tick(
    outage_url: str, events: SchedulerEvents
) -> None:
    clock = FakeClock(CREATED_AT)
    backbeat = make_backbeat(outage_url, clock)
    db = Database(outage_url)
    running = RunningLoop(backbeat)
    try:
        create_identical_tasks(backbeat, make_tenant(backbeat, "o@example.com"), TASKS, SCHEDULE)
        running.start()
        running.wait_until(lambda: running.loop.ticks >= 1, "the first tick")

        first, second, third, fourth = FIRES
        dispatch_fire(first, clock, db, running, events, cuts=1)
        dispatch_fire(second, clock, db, running, events, cuts=2)
        dispatch_fire(third, clock, db, running, events, cuts=0)
        # While the loop sleeps between fires, its pool's idle connections die under it. The
        # pool pings each connection it hands out and replaces dead ones: nothing to notice.
        running.wait_until_asleep()
        errors = events.count("scheduler.db_error")
        assert db.terminate_all_other_backends() >= 1
        dispatch_fire(fourth, clock, db, running, events, cuts=0)
        assert events.count("scheduler.db_error") == errors

        # It keeps ticking after the outages, and stops cleanly when asked.
        ticks = running.loop.ticks
        running.wait_until(lambda: running.loop.ticks > ticks + 2, "ticks after the outages")
        running.stop()
        assert not running.thread.is_alive()

        assert events.count("scheduler.db_error") >= 3  # each cut mid-tick was felt
        # Nothing lost, nothing duplicated, nothing for a fire time not yet reached.
        assert db.pairs_not_exactly_once() == []
        assert db.total_runs() == TASKS * len(FIRES)
        assert db.fire_times() == set(FIRES)
    finally:
        running.stop()
        db.close()
        backbeat.close()
