"""Several scheduler processes on one PostgreSQL database: every fire runs exactly once.

Four real processes (tests/scheduler/race_driver.py) tick against the same 1,000 tasks, all on
one cron, so every task falls due at the same instants and the processes compete for them,
25 tasks per transaction. The test owns the simulated time and drives several fire times.
During the second, every process is made to hold its first claimed batch open just before
committing (a hold file the driver obeys); three are released and dispatch every other task
around the fourth's locked rows; then the fourth is SIGKILLed with its batch uncommitted, and
the others must take its share over. At the end every (task, fire time) has exactly one run,
and nothing ran for a fire time that was never reached.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, text

from backbeat.store.engine import make_engine
from backbeat.testing import FakeClock
from tests.conftest import make_backbeat, make_tenant
from tests.databases import postgres_database
from tests.processes import clean_env
from tests.scheduler.many_tasks import create_identical_tasks

pytestmark = pytest.mark.slow(seconds=5)

TASKS = 1_000
DRIVERS = ("A", "B", "C", "D")
BATCH_SIZE = 25
SCHEDULE = "*/5 * * * *"
CREATED_AT = datetime(2026, 1, 5, 12, 0, 30, tzinfo=UTC)  # first fire: 12:05
FIRES = [datetime(2026, 1, 5, 12, 5, tzinfo=UTC) + timedelta(minutes=5 * i) for i in range(5)]
KILL_DURING = FIRES[1]
VICTIM = "B"
NEVER_REACHED = FIRES[-1] + timedelta(minutes=5)  # every cursor must end here, unfired
PAST_THE_FIRE = timedelta(seconds=2)  # where the simulated "now" sits for each fire
STARTUP_TIMEOUT = 60.0  # four interpreters importing the whole app at once, on a busy CI box
FIRE_TIMEOUT = 20.0
EXIT_TIMEOUT = 10.0
NOT_EXACTLY_ONCE = (
    "SELECT task_id, scheduled_for, count(*) FROM runs"
    " GROUP BY task_id, scheduled_for HAVING count(*) <> 1"
)


@dataclass
class Driver:
    name: str
    process: subprocess.Popen[bytes]
    control: Path

    @property
    def progress_path(self) -> Path:
        return self.control / f"{self.name}.progress"

    @property
    def stderr_path(self) -> Path:
        return self.control / f"{self.name}.stderr"

    def progress(self) -> list[dict[str, Any]]:
        if not self.progress_path.exists():
            return []
        lines = self.progress_path.read_text().splitlines()
        return [json.loads(line) for line in lines if line]

    def started(self) -> bool:
        return any(entry["event"] == "started" for entry in self.progress())

    def runs_created_by_fire(self) -> Counter[datetime]:
        """Runs this process reported creating, by the fire time it was ticking for."""
        created: Counter[datetime] = Counter()
        for entry in self.progress():
            if entry["event"] == "tick":
                created[fire_of(entry["now"])] += entry["runs_created"]
        return created

    def duplicates(self) -> int:
        return sum(entry.get("duplicates", 0) for entry in self.progress())

    def stderr(self) -> str:
        return self.stderr_path.read_text() if self.stderr_path.exists() else ""


def all_started(drivers: list[Driver]) -> bool:
    for driver in drivers:
        if driver.process.poll() is not None:
            raise AssertionError(f"driver {driver.name} exited early:\n{driver.stderr()}")
    return all(driver.started() for driver in drivers)


def fire_of(now: str) -> datetime:
    return datetime.fromisoformat(now) - PAST_THE_FIRE


def set_simulated_now(control: Path, instant: datetime) -> None:
    """Publish the instant every driver ticks at; atomically, so no driver reads half a line."""
    pending = control / "now.pending"
    pending.write_text(instant.isoformat())
    os.replace(pending, control / "now")


def start_driver(name: str, url: str, control: Path) -> Driver:
    # Inherited BACKBEAT_* settings must not reach the driver; it gets its settings in argv.
    env = clean_env()
    command = [
        sys.executable,
        "-m",
        "tests.scheduler.race_driver",
        "--name",
        name,
        # The application name lets the test find this process's backend in pg_stat_activity.
        "--database-url",
        f"{url}?application_name=race-{name}",
        "--control-dir",
        str(control),
        "--batch-size",
        str(BATCH_SIZE),
    ]
    with (control / f"{name}.stderr").open("wb") as stderr:
        process = subprocess.Popen(
            command,
            cwd=Path(__file__).resolve().parents[2],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
    return Driver(name, process, control)


def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.005)


def create_tasks(url: str) -> None:
    """One account and artist, and TASKS tasks on one cron."""
    backbeat = make_backbeat(url, FakeClock(CREATED_AT))
    try:
        tenant = make_tenant(backbeat, "race@example.com")
        create_identical_tasks(backbeat, tenant, TASKS, SCHEDULE)
    finally:
        backbeat.close()


def scalar(engine: Engine, sql: str, **params: Any) -> Any:
    with engine.connect() as connection:
        return connection.execute(text(sql), params).scalar()


def rows(engine: Engine, sql: str) -> list[Any]:
    with engine.connect() as connection:
        return list(connection.execute(text(sql)))


def tasks_still_due(engine: Engine, fire: datetime) -> int:
    return int(scalar(engine, "SELECT count(*) FROM tasks WHERE next_fire_at <= :f", f=fire))


def runs_for(engine: Engine, fire: datetime) -> int:
    return int(scalar(engine, "SELECT count(*) FROM runs WHERE scheduled_for = :f", f=fire))


def dispatch_state(engine: Engine, driver: Driver) -> str | None:
    """The state of the driver's backend if it is inside a transaction that has claimed or
    written rows, else None.

    In a dispatch transaction the only things that assign a transaction id are locking the
    claimed task rows (FOR UPDATE), inserting runs and moving cursors: so an xid means the
    process is between claiming a batch and committing it.
    """
    state: str | None = scalar(
        engine,
        "SELECT max(state) FROM pg_stat_activity WHERE datname = current_database()"
        " AND application_name = :app AND backend_xid IS NOT NULL",
        app=f"race-{driver.name}",
    )
    return state


def hold(control: Path, driver: Driver) -> Path:
    """The file that keeps the driver's dispatch transactions open before their commit."""
    return control / f"hold-{driver.name}"


def kill_in_mid_dispatch(
    engine: Engine, drivers: list[Driver], control: Path, fire: datetime
) -> Driver:
    """SIGKILL the victim while it holds claimed tasks it has not committed.

    Every driver was told to hold (before the fire's instant was published), so each claims a
    batch and waits with its transaction open: "idle in transaction" with a transaction id.
    The others are released and dispatch every task but the victim's locked batch (SKIP
    LOCKED passes it by); then the victim dies there, and PostgreSQL rolls its work back.
    """
    victim = next(driver for driver in drivers if driver.name == VICTIM)

    def holding(driver: Driver) -> bool:
        return dispatch_state(engine, driver) == "idle in transaction"

    wait_until(lambda: all(holding(d) for d in drivers), FIRE_TIMEOUT, "every batch held")
    assert runs_for(engine, fire) == 0
    for driver in drivers:
        if driver is not victim:
            hold(control, driver).unlink()

    def all_but_the_held_batch() -> bool:
        return runs_for(engine, fire) == TASKS - BATCH_SIZE

    wait_until(all_but_the_held_batch, FIRE_TIMEOUT, "every task but the victim's batch")
    assert holding(victim)
    assert tasks_still_due(engine, fire) == BATCH_SIZE
    victim.process.kill()
    victim.process.wait(timeout=EXIT_TIMEOUT)
    hold(control, victim).unlink()
    return victim


def drive_fires(observer: Engine, drivers: list[Driver], control: Path) -> Driver:
    """Move the simulated time past each fire in turn, waiting each time for every task's
    cursor to pass it; during KILL_DURING, kill the victim mid-dispatch. Returns it."""
    killed: Driver | None = None
    for fire in FIRES:
        if fire == KILL_DURING:
            for driver in drivers:
                hold(control, driver).touch()
        set_simulated_now(control, fire + PAST_THE_FIRE)
        if fire == KILL_DURING:
            killed = kill_in_mid_dispatch(observer, drivers, control, fire)

        def all_moved_past(fire: datetime = fire) -> bool:
            return tasks_still_due(observer, fire) == 0

        wait_until(all_moved_past, FIRE_TIMEOUT, f"every task to move past {fire:%H:%M}")
    assert killed is not None
    return killed


@pytest.fixture
def race_database() -> Iterator[str]:
    with postgres_database(prefix="backbeat_race", migrated=True) as url:
        yield url


def test_racing_schedulers_dispatch_every_fire_exactly_once(
    race_database: str, tmp_path: Path
) -> None:
    observer = make_engine(race_database)
    set_simulated_now(tmp_path, CREATED_AT)  # nothing is due yet
    drivers: list[Driver] = []
    try:
        # Start the processes first: they take seconds to import, while the tasks are made.
        drivers = [start_driver(name, race_database, tmp_path) for name in DRIVERS]
        create_tasks(race_database)
        wait_until(lambda: all_started(drivers), STARTUP_TIMEOUT, "drivers to start")
        killed = drive_fires(observer, drivers, tmp_path)
        (tmp_path / "stop").touch()
        survivors = [driver for driver in drivers if driver is not killed]
        for driver in survivors:
            assert driver.process.wait(timeout=EXIT_TIMEOUT) == 0, driver.stderr()
        assert killed.process.returncode == -signal.SIGKILL

        # Exactly once: no (task, fire) pair twice, none missing, nothing for an unreached fire.
        assert rows(observer, NOT_EXACTLY_ONCE) == []
        assert scalar(observer, "SELECT count(*) FROM runs") == TASKS * len(FIRES)
        fired_at = rows(observer, "SELECT DISTINCT scheduled_for FROM runs")
        assert {row.scheduled_for for row in fired_at} == set(FIRES)
        # The killed process's claimed tasks were taken over: every cursor moved on, to the
        # fire time that was never reached.
        cursors = rows(observer, "SELECT next_fire_at, count(*) FROM tasks GROUP BY 1")
        assert [tuple(row) for row in cursors] == [(NEVER_REACHED, TASKS)]

        # Who created what, from each process's own reports (runs do not record it).
        created = {driver.name: driver.runs_created_by_fire() for driver in drivers}
        for fire in FIRES:
            reported = sum(by_fire[fire] for by_fire in created.values())
            assert reported == TASKS, (fire, created)
        # The victim committed nothing for the fire it died in: the others made every run.
        assert created[killed.name][KILL_DURING] == 0
        assert sum(created[driver.name][KILL_DURING] for driver in survivors) == TASKS
        shared = [fire for fire in FIRES if sum(c[fire] > 0 for c in created.values()) > 1]
        assert shared, f"one process did all the work: {created}"
        # SKIP LOCKED plus the cursor's compare-and-set mean no process even tries a fire that
        # another already dispatched: the unique key never has to refuse one.
        assert sum(driver.duplicates() for driver in drivers) == 0
    finally:
        for driver in drivers:
            if driver.process.poll() is None:
                driver.process.kill()
                driver.process.wait()
        observer.dispose()
