"""Scheduler benchmark: dispatch throughput, fire lag, idle cost and memory.

Run from the repository root:

    .venv/bin/python benchmarks/scheduler.py                        # both databases, full size
    .venv/bin/python benchmarks/scheduler.py --database postgresql  # or sqlite
    .venv/bin/python benchmarks/scheduler.py --tasks 20000 --lag-tasks 2000 --lag-window 20 \
        --idle-seconds 10                                           # a quick run
    .venv/bin/python benchmarks/scheduler.py --database postgresql --processes 1 --profile
    .venv/bin/python benchmarks/scheduler.py --no-peers                # without APScheduler

PostgreSQL is reached at $BACKBEAT_BENCH_PG_URL (default: $BACKBEAT_TEST_PG_URL, else
postgresql+psycopg://postgres@127.0.0.1:5432/postgres); the script creates its own database
there and drops it afterwards. SQLite uses a file in a temporary directory. A full run of
both databases takes about 7 minutes; every scheduler process it starts is stopped at
the end of its part, and killed if it does not stop.

What it does, per database (PostgreSQL with 1 and 4 scheduler processes, SQLite with 1):

1. Idle cost. --tasks tasks (default 100,000), all enabled, none due for at least a day.
   The real `backbeat scheduler` command runs in a subprocess on the real clock for
   --idle-seconds (30). Its only addition: SQLAlchemy event listeners, installed before the
   command starts, that count the statements it sends. CPU comes from /proc (below).
   A tick sends two queries, both answered from the partial index ix_tasks_due on
   tasks.next_fire_at, so their cost does not grow with the number of tasks:
     * claim_due: SELECT … WHERE next_fire_at <= now ORDER BY next_fire_at LIMIT <batch>
       FOR UPDATE SKIP LOCKED: an index range scan that finds nothing;
     * earliest_due: SELECT min(next_fire_at): the first entry of the index;
   then the loop sleeps until that instant, but at most max_sleep (5 s), to notice tasks
   other processes created. The script prints both queries' plans (EXPLAIN ANALYZE on
   PostgreSQL, EXPLAIN QUERY PLAN on SQLite) and their cost beside a query that reads every
   task, and on PostgreSQL the tasks table's scan counters (pg_stat_user_tables) over the
   idle window and the CPU of the scheduler's backend.
2. Dispatch throughput. The same tasks are all on `0 0 * * *`, so they fall due at one
   instant F. The scheduler processes run the real SchedulerLoop on a SystemClock started
   so that F comes 2 s after they are told to go: they tick, sleep until F, wake and
   dispatch. Time is measured from F to the commit of the last run, so the wake-up is
   included; runs/s = tasks / that time. The processes are real processes (a
   `--child loop` of this script each). Afterwards the database is checked: every task has
   exactly one run, for F, and every cursor moved past F; duplicates must be 0.
3. Lag. --lag-tasks (10,000) more tasks, spread over a --lag-window (60 s). Cron has minute
   resolution, and waiting out 60 real minute boundaries would take an hour, so the tasks'
   cursors (tasks.next_fire_at: "the next fire time still to dispatch") are placed on the
   window's whole seconds, about 167 tasks per second. Each second then holds the burst a
   minute boundary holds for 10,000 tasks on `M * * * *` spread over the hour's 60 minutes;
   the instants are 1 s apart instead of 60 s. The scheduler handles a cursor at any
   instant as it handles one on a minute boundary: it claims it when due, creates the run
   for that fire time, moves the cursor to the schedule's next fire (tomorrow). The real
   SchedulerLoop runs on a SystemClock started 2 s before the window, so it sleeps until
   each fire time and wakes for it.
   Lag = fire time → the run's transaction committed. It is taken from TickReport.lags,
   which Scheduler.dispatch_batch computes from its clock right after the COMMIT.
   runs.created_at is not that: it is the clock read right after the claim, before the
   inserts, the cursor update and the COMMIT. The script prints the "claim lag"
   (created_at - scheduled_for, from the database) beside the commit lag to show what it
   leaves out. The throughput run's lags are printed too: there every run shares one fire
   time, so its lag is its place in the queue.
4. Memory. RSS (VmRSS, and the peak, VmHWM) from /proc/<pid>/status: of the idle
   `backbeat scheduler`, and of each dispatching process when ready and right after it
   dispatched its share of the 100,000.

5. Peer (issue 16), unless --no-peers: APScheduler's in-memory scheduler (the optional
   `bench` dependency group; benchmarks/peers.py says how) dispatches --tasks no-op jobs
   that all fall due at one instant, in this same run, and the summary prints the ratio of
   its time to Backbeat's on PostgreSQL. Target: 4 Backbeat processes at least 2× faster.
   Without the bench group the step says how to install it and is skipped.

Why SQLite gets one scheduler process: SQLite has one writer at a time (a dispatch batch
is a BEGIN IMMEDIATE transaction) and no SKIP LOCKED, so more processes would only take
turns on the write lock. The SQLite deployment is `backbeat serve`, which runs one scheduler
thread in the serving process by design; scheduler processes are PostgreSQL's scale-out.

How to read the figures:

* Each dispatch batch is timed by phase (the real Scheduler and repositories, subclassed
  only to read the time around each call): checkout + begin (on PostgreSQL the pool's
  pre-ping, on SQLite BEGIN IMMEDIATE, which waits for the write lock), claim (SELECT …
  FOR UPDATE SKIP LOCKED and Task objects), existence checks (the two SELECTs around the
  INSERT that tell which runs went in), INSERT runs (building the rows and the insert),
  UPDATE cursors, COMMIT, release, and the rest (Python: deciding, building Run objects,
  lags and logging). Means are per batch and per run.
* CPU per run is the scheduler processes' CPU over the dispatch, divided by the runs; on
  PostgreSQL the server's share is the CPU of the backends connected to the benchmark's
  database (found in pg_stat_activity; visible when the server runs on this machine; the
  WAL writer and checkpointer are not counted). CPU times are the threads' schedstat
  (nanoseconds; /proc/<pid>/stat counts in 10 ms ticks, more than an idle tick costs).
  `machine` is the share of all cores that was busy: near 100% means the processes
  competed for CPU, and on a shared machine it says how disturbed the figures are.
* --profile runs the 1-process dispatch's dispatch_batch calls under cProfile and prints
  the functions with the most own time (profiling slows the dispatch: ignore its timings).
* 4 processes on a 2-core machine cannot be 4 times faster; `× 1 process` shows what they
  gained. Targets: 100,000 due fires in under 10 s on PostgreSQL; p99 lag under 1 s; idle
  CPU near zero. `× target` is measured / target: below 1 meets it.
* Idle: statements/s are what SQLAlchemy sent (on SQLite including BEGIN; on PostgreSQL
  psycopg's implicit BEGIN and the COMMIT/ROLLBACK are not statements), transactions/s are
  SQLAlchemy's, pre-pings/s are the pool's checkouts (PostgreSQL pings the server at each).
  PostgreSQL's own counters (pg_stat_database, pg_stat_user_tables) are flushed by the
  server about once a second, so they may be off by one tick.

This is a benchmark, not a test: it asserts nothing about timings. It exits non-zero if a
fire was missed or dispatched twice.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import FrameType, TracebackType
from typing import IO, Any, TypeVar
from uuid import UUID, uuid4

import psycopg
from sqlalchemy import Connection, Engine, delete, event, func, insert, select, text, update
from sqlalchemy.pool import Pool

import peers
from backbeat.config import Settings
from backbeat.domain.clock import Clock, SystemClock
from backbeat.domain.models import Run
from backbeat.scheduler.loop import SchedulerLoop
from backbeat.services.keys import Caller
from backbeat.services.scheduler import Scheduler, SchedulerPolicy, TickReport
from backbeat.services.tasks import TaskDraft
from backbeat.store.engine import WRITE, make_engine
from backbeat.store.runs import SqlRunRepository
from backbeat.store.tables import attempts, runs, tasks
from backbeat.store.tasks import SqlScheduleRepository
from backbeat.store.uow import SqlUnitOfWork
from backbeat.testing import FakeClock
from backbeat.testing.databases import libpq
from backbeat.wiring import build
from common import (
    PG_ADMIN_URL,
    PROMPT,
    SECRET,
    database,
    machine_cpu,
    percent,
    percentile,
    process_cpu_seconds,
)

DISPATCH_SCHEDULE = "0 0 * * *"  # midnight UTC: every task falls due at the same instant
LAG_SCHEDULE = "0 6 * * *"  # the placed cursor fires; the next fire is hours later
TARGET_DISPATCH_SECONDS = 10.0
TARGET_P99_LAG_SECONDS = 1.0
TARGET_PEER_RATIO = 2.0  # 4 scheduler processes at least this much faster than APScheduler
LEAD_SECONDS = 2.0  # the schedulers' clocks start this long before the first fire time
STARTUP_TIMEOUT = 120.0  # several interpreters importing the app at once on a busy machine
STOP_TIMEOUT = 15.0
PROCESS_NAMES = "ABCDEFGHIJKLMNOP"

T = TypeVar("T")


# --- Databases and seeding -----------------------------------------------------------------


@dataclass(frozen=True)
class Seeded:
    """Tasks of one account, and the fire time each one's cursor was placed on."""

    account_id: UUID
    cursors: dict[UUID, datetime]

    @property
    def last_fire(self) -> datetime:
        return max(self.cursors.values())


def create_tasks(
    url: str, email: str, count: int, schedule: str, cursor: Callable[[int], datetime]
) -> Seeded:
    """`count` tasks of a new account, task n's cursor on cursor(n).

    The first is created through TaskService.create; the rest are copies of it inserted in
    bulk (as tests/scheduler/many_tasks.py does): 100,000 service calls would take minutes.
    """
    clock = FakeClock(cursor(0) - timedelta(hours=1))
    backbeat = build(Settings(database_url=url, secret_key=SECRET), clock=clock)
    try:
        account = backbeat.admin.create_account(email)
        artist = backbeat.admin.create_artist(f"Artist of {email}", account_id=account.id)
        caller = Caller(account.id, backbeat.admin.create_key(account.id).key.id)
        draft = TaskDraft("Pulse 0", PROMPT, schedule, artist.id)
        first = replace(backbeat.tasks.create(caller, draft).task, next_fire_at=cursor(0))
        copies = [
            asdict(replace(first, id=uuid4(), title=f"Pulse {n}", next_fire_at=cursor(n)))
            for n in range(1, count)
        ]
        with backbeat.uow(write=True) as uow:
            uow.tasks.update(first)
            uow.commit()
        with backbeat.engine.begin() as connection:
            for start in range(0, len(copies), 10_000):
                connection.execute(insert(tasks), copies[start : start + 10_000])
    finally:
        backbeat.close()
    cursors = {first.id: cursor(0), **{row["id"]: row["next_fire_at"] for row in copies}}
    return Seeded(account.id, cursors)


def reset(engine: Engine, seeded: Seeded) -> None:
    """Delete every run and put these tasks' cursors back where they were placed."""
    by_fire: dict[datetime, list[UUID]] = defaultdict(list)
    for task_id, fire in seeded.cursors.items():
        by_fire[fire].append(task_id)
    with engine.begin() as connection:
        connection.execute(delete(attempts))
        connection.execute(delete(runs))
        for fire, ids in by_fire.items():
            for start in range(0, len(ids), 10_000):
                chunk = ids[start : start + 10_000]
                connection.execute(
                    update(tasks).where(tasks.c.id.in_(chunk)).values(next_fire_at=fire)
                )
    vacuum(engine)


def vacuum(engine: Engine) -> None:
    """On PostgreSQL, VACUUM ANALYZE: every measured run starts from the same state
    (no dead rows left by the previous run, fresh planner statistics)."""
    if engine.dialect.name != "postgresql":
        return
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.exec_driver_sql("VACUUM ANALYZE tasks")
        connection.exec_driver_sql("VACUUM ANALYZE runs")


# --- /proc ---------------------------------------------------------------------------------


def precise_cpu_seconds(pid: int) -> float | None:
    """CPU time of a process: the sum of its live threads' schedstat (nanoseconds: an idle
    tick costs a few milliseconds, below the 10 ms resolution of /proc/<pid>/stat), else
    utime + stime; None where unavailable."""
    try:
        threads = list(Path(f"/proc/{pid}/task").iterdir())
        return sum(int((t / "schedstat").read_text().split()[0]) for t in threads) / 1e9
    except (OSError, ValueError):
        return process_cpu_seconds(pid)


def memory_mb(pid: int) -> tuple[float, float] | None:
    """(VmRSS, VmHWM) of a process in MB, from /proc; None where unavailable."""
    try:
        lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    except OSError:
        return None
    values = {
        key: int(rest.split()[0]) / 1024
        for key, _, rest in (line.partition(":") for line in lines)
        if key in ("VmRSS", "VmHWM")
    }
    return values["VmRSS"], values["VmHWM"]


def backend_cpu_seconds(database_name: str) -> dict[int, float] | None:
    """CPU of each PostgreSQL backend connected to the database, by pid; None when the
    server's processes are not visible here (a remote server). Asked of the admin
    database, so that asking adds no backend to this one."""
    with psycopg.connect(libpq(PG_ADMIN_URL), autocommit=True) as admin:
        pids = admin.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = %s", (database_name,)
        ).fetchall()
    found = {pid: precise_cpu_seconds(pid) for (pid,) in pids}
    if any(cpu is None for cpu in found.values()):
        return None
    return {pid: cpu for pid, cpu in found.items() if cpu is not None}


@dataclass(frozen=True)
class CpuSample:
    at: float
    processes: dict[int, float | None]
    backends: dict[int, float] | None  # PostgreSQL backends of the benchmark's database
    machine: tuple[int, int] | None


def sample_cpu(pids: Sequence[int], url: str) -> CpuSample:
    postgres = not url.startswith("sqlite")
    return CpuSample(
        at=time.monotonic(),
        processes={pid: precise_cpu_seconds(pid) for pid in pids},
        backends=backend_cpu_seconds(database_name(url)) if postgres else None,
        machine=machine_cpu(),
    )


def database_name(url: str) -> str:
    return url.rpartition("/")[2].partition("?")[0]


@dataclass(frozen=True)
class CpuUse:
    seconds: float  # wall time between the samples
    processes: float | None  # CPU seconds of the sampled processes
    postgres: float | None  # CPU seconds of the PostgreSQL backends serving the database
    machine: float | None  # share of all cores that was busy

    @staticmethod
    def between(before: CpuSample, after: CpuSample) -> CpuUse:
        processes: float | None = 0.0
        for pid, start in before.processes.items():
            end = after.processes.get(pid)
            if processes is None or start is None or end is None:
                processes = None
            else:
                processes += end - start
        postgres = None
        if before.backends is not None and after.backends is not None:
            # A backend that started in between started at zero; one that ended is lost.
            earlier = before.backends
            postgres = sum(cpu - earlier.get(pid, 0.0) for pid, cpu in after.backends.items())
        machine = None
        if before.machine is not None and after.machine is not None:
            total = after.machine[1] - before.machine[1]
            machine = (after.machine[0] - before.machine[0]) / total if total else None
        return CpuUse(after.at - before.at, processes, postgres, machine)


# --- A scheduler process: the real loop, its batches timed (`--child loop`) ---------------

CHECKOUT = "checkout + begin"
CLAIM = "claim (SELECT due tasks, locking them)"
EXISTING = "existence checks (2 SELECTs)"
ADD_MANY = "add_many"  # INSERT = add_many minus the existence checks
INSERT = "INSERT runs"
ADVANCE = "UPDATE cursors"
COMMIT = "COMMIT"
RELEASE = "release connection"
PYTHON = "rest: decide, build runs, log (Python)"
PHASES = (CHECKOUT, CLAIM, PYTHON, EXISTING, INSERT, ADVANCE, COMMIT, RELEASE)


class Phases:
    """Seconds spent in each part of the batch in hand, and its oldest fire time."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self.oldest_fire: datetime | None = None

    def clear(self) -> None:
        self.seconds.clear()
        self.oldest_fire = None

    @contextmanager
    def timing(self, name: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            elapsed = time.perf_counter() - started
            self.seconds[name] = self.seconds.get(name, 0.0) + elapsed


class TimedSchedules(SqlScheduleRepository):
    def __init__(self, connection: Any, phases: Phases) -> None:
        super().__init__(connection)
        self._phases = phases

    def claim_due(self, now: datetime, limit: int) -> Any:
        with self._phases.timing(CLAIM):
            return super().claim_due(now, limit)

    def advance(self, moves: Sequence[tuple[UUID, datetime, datetime | None]]) -> int:
        with self._phases.timing(ADVANCE):
            return super().advance(moves)


class TimedRuns(SqlRunRepository):
    def __init__(self, connection: Any, phases: Phases) -> None:
        super().__init__(connection)
        self._phases = phases

    def add_many(self, new_runs: Sequence[Run]) -> set[str]:
        fires = [run.scheduled_for for run in new_runs if run.scheduled_for is not None]
        self._phases.oldest_fire = min(fires, default=None)
        with self._phases.timing(ADD_MANY):
            return super().add_many(new_runs)

    def _existing(self, ids: list[str]) -> set[str]:
        with self._phases.timing(EXISTING):
            return super()._existing(ids)


class TimedUnitOfWork(SqlUnitOfWork):
    """The real unit of work, with the repositories the scheduler uses timed."""

    def __init__(self, engine: Engine, phases: Phases, *, write: bool = False) -> None:
        super().__init__(engine, write=write)
        self._phases = phases

    def __enter__(self) -> TimedUnitOfWork:
        with self._phases.timing(CHECKOUT):
            super().__enter__()
        return self

    def _bind(self, connection: Connection) -> None:
        super()._bind(connection)
        self._schedules = TimedSchedules(connection, self._phases)
        self._runs = TimedRuns(connection, self._phases)

    def commit(self) -> None:
        with self._phases.timing(COMMIT):
            super().commit()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        with self._phases.timing(RELEASE):
            super().__exit__(exc_type, exc, tb)


def record(progress: IO[str], **fields: object) -> None:
    progress.write(json.dumps(fields) + "\n")
    progress.flush()


class TimedScheduler(Scheduler):
    """The real Scheduler; each batch that handled tasks is reported as one JSON line."""

    def __init__(
        self,
        uow: Callable[..., TimedUnitOfWork],
        clock: Clock,
        policy: SchedulerPolicy,
        phases: Phases,
        progress: IO[str],
        profiler: cProfile.Profile | None = None,
    ) -> None:
        super().__init__(uow, clock, policy)
        self._phases = phases
        self._progress = progress
        self._profiler = profiler  # on only while a batch is dispatched, not while asleep

    def dispatch_batch(self, now: datetime) -> TickReport:
        self._phases.clear()
        started, started_at = time.perf_counter(), self._clock.now()
        if self._profiler is not None:
            self._profiler.enable()
        report = super().dispatch_batch(now)
        if self._profiler is not None:
            self._profiler.disable()
        elapsed = time.perf_counter() - started
        if report.tasks:
            oldest = self._phases.oldest_fire
            record(
                self._progress,
                event="batch",
                seconds=elapsed,
                tasks=report.tasks,
                runs=report.runs_created,
                duplicates=report.duplicates,
                lags=[round(lag, 5) for lag in report.lags],
                oldest_fire=None if oldest is None else oldest.timestamp(),
                claim_delay=None if oldest is None else (started_at - oldest).total_seconds(),
                phases=self._phases.seconds,
            )
        return report


def wait_for_go(control: Path) -> tuple[datetime, datetime]:
    """(real instant, simulated instant): the clock must read the second at the first."""
    path = control / "go"
    while not path.exists():
        time.sleep(0.005)
    go = json.loads(path.read_text())
    return datetime.fromtimestamp(go["real"], UTC), datetime.fromtimestamp(go["simulated"], UTC)


def scheduler_process(
    url: str, name: str, control: Path, batch_size: int | None, profile: bool
) -> None:
    with (control / f"{name}.jsonl").open("a") as progress:
        backbeat = build(Settings(database_url=url, secret_key=SECRET), clock=FakeClock())
        phases = Phases()

        def uow(write: bool = False) -> TimedUnitOfWork:
            return TimedUnitOfWork(backbeat.engine, phases, write=write)

        policy = backbeat.scheduler.policy  # the configured policy, as `backbeat scheduler`
        if batch_size is not None:
            policy = replace(policy, batch_size=batch_size)
        # Warm, as a scheduler that has been running is: pool connected, queries compiled.
        Scheduler(uow, backbeat.clock, policy).tick(datetime(2000, 1, 1, tzinfo=UTC))
        record(progress, event="ready")

        real, simulated = wait_for_go(control)
        clock = SystemClock(simulated + (datetime.now(UTC) - real))
        profiler = cProfile.Profile() if profile else None
        scheduler = TimedScheduler(uow, clock, policy, phases, progress, profiler)
        loop = SchedulerLoop(scheduler, clock, backbeat.schedule_changed)
        signal.signal(signal.SIGTERM, lambda _signum, _frame: loop.stop())
        loop.run()
        if profiler is not None:
            profiler.dump_stats(control / f"{name}.prof")
        backbeat.close()
        record(progress, event="stopped")


# --- The idle `backbeat scheduler`, its statements counted (`--child idle`) ---------------


def statement_kind(statement: str) -> str:
    words = " ".join(statement.split())
    upper = words.upper()
    if "MIN(TASKS.NEXT_FIRE_AT)" in upper:
        return "earliest_due: SELECT min(next_fire_at) FROM tasks"
    if upper.startswith("SELECT") and "ORDER BY TASKS.NEXT_FIRE_AT" in upper:
        lock = " FOR UPDATE SKIP LOCKED" if "SKIP LOCKED" in upper else ""
        return f"claim_due: SELECT … FROM tasks … ORDER BY next_fire_at LIMIT n{lock}"
    return words[:60]


def idle_process(url: str, control: Path) -> None:
    """`backbeat --database-url URL scheduler`, with counters; SIGUSR1 writes them out."""
    statements: Counter[str] = Counter()
    totals = Counter[str]()

    def on_statement(*args: Any) -> None:
        statements[statement_kind(args[2])] += 1

    def on_transaction(*_args: Any) -> None:
        totals["transactions"] += 1

    def on_checkout(*_args: Any) -> None:
        totals["checkouts"] += 1

    def snapshot(_signum: int, _frame: FrameType | None) -> None:
        line = {"at": time.monotonic(), "statements": dict(statements), **totals}
        with (control / "idle.jsonl").open("a") as out:
            out.write(json.dumps(line) + "\n")

    event.listen(Engine, "before_cursor_execute", on_statement)
    event.listen(Engine, "begin", on_transaction)
    event.listen(Pool, "checkout", on_checkout)
    signal.signal(signal.SIGUSR1, snapshot)

    from backbeat.cli import app

    app(args=["--database-url", url, "scheduler"], prog_name="backbeat")


# --- Running scheduler processes ----------------------------------------------------------


def child_env() -> dict[str, str]:
    """This environment without BACKBEAT_* settings: children get theirs in argv."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("BACKBEAT_")}
    env["BACKBEAT_SECRET_KEY"] = SECRET
    return env


@dataclass
class Batch:
    process: str
    seconds: float
    tasks: int
    runs: int
    duplicates: int
    lags: list[float]
    oldest_fire: float | None
    claim_delay: float | None
    phases: dict[str, float]


class SchedulerProcess:
    """One `--child loop` process and what it reported so far."""

    def __init__(self, name: str, url: str, control: Path, args: argparse.Namespace) -> None:
        self.name = name
        self.control = control
        self.progress_path = control / f"{name}.jsonl"
        self.batches: list[Batch] = []
        self.ready = False
        self._offset = 0
        command = [
            sys.executable,
            __file__,
            "--child",
            "loop",
            "--name",
            name,
            "--database-url",
            url,
            "--control-dir",
            str(control),
        ]
        if args.batch_size is not None:
            command += ["--batch-size", str(args.batch_size)]
        if args.profile:
            command.append("--profile")
        with (control / f"{name}.stderr").open("wb") as stderr:
            self.process = subprocess.Popen(
                command, env=child_env(), stdout=subprocess.DEVNULL, stderr=stderr
            )

    @property
    def pid(self) -> int:
        return self.process.pid

    def stderr(self) -> str:
        return (self.control / f"{self.name}.stderr").read_text(errors="replace")[-3000:]

    def poll(self) -> None:
        """Read the lines written since the last poll; fail if the process died."""
        if self.progress_path.exists():
            with self.progress_path.open("rb") as progress:
                progress.seek(self._offset)
                data = progress.read()
            complete = data[: data.rfind(b"\n") + 1]
            self._offset += len(complete)
            for line in complete.decode().splitlines():
                entry = json.loads(line)
                if entry["event"] == "ready":
                    self.ready = True
                elif entry["event"] == "batch":
                    del entry["event"]
                    self.batches.append(Batch(process=self.name, **entry))
        if self.process.poll() is not None and self.process.returncode != 0:
            raise RuntimeError(f"scheduler {self.name} exited:\n{self.stderr()}")

    def tasks_done(self) -> int:
        return sum(batch.tasks for batch in self.batches)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)

    def wait(self) -> None:
        try:
            self.process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(0.02)


@dataclass
class Dispatched:
    """What scheduler processes did for one set of fire times."""

    processes: int
    tasks: int
    batches: list[Batch]
    cpu: CpuUse
    memory_ready: list[tuple[float, float] | None]
    memory_after: list[tuple[float, float] | None]
    profile: str | None = None

    @property
    def lags(self) -> list[float]:
        return [lag for batch in self.batches for lag in batch.lags]

    @property
    def refused(self) -> int:
        return sum(batch.duplicates for batch in self.batches)

    @property
    def runs(self) -> int:
        return sum(batch.runs for batch in self.batches)

    def wake_delays(self) -> list[float]:
        """Per fire time: how long after it the first claim that dispatched it began."""
        first: dict[float, float] = {}
        for batch in self.batches:
            if batch.oldest_fire is None or batch.claim_delay is None:
                continue
            previous = first.get(batch.oldest_fire, batch.claim_delay)
            first[batch.oldest_fire] = min(previous, batch.claim_delay)
        return list(first.values())


def run_schedulers(
    url: str, count: int, first_fire: datetime, tasks: int, timeout: float, args: argparse.Namespace
) -> Dispatched:
    """Start `count` scheduler processes, let their clocks reach `first_fire` LEAD_SECONDS
    after they are all ready, and wait until they have handled `tasks` tasks."""
    with tempfile.TemporaryDirectory(prefix="backbeat-bench-") as directory:
        control = Path(directory)
        processes = [SchedulerProcess(name, url, control, args) for name in PROCESS_NAMES[:count]]
        try:

            def all_ready() -> bool:
                for process in processes:
                    process.poll()
                return all(process.ready for process in processes)

            wait_until(all_ready, STARTUP_TIMEOUT, "the scheduler processes to start")
            memory_ready = [memory_mb(process.pid) for process in processes]
            go = time.time() + LEAD_SECONDS
            pending = control / "go.pending"
            pending.write_text(json.dumps({"real": go, "simulated": first_fire.timestamp()}))
            os.replace(pending, control / "go")
            time.sleep(max(0.0, go - time.time()))
            before = sample_cpu([process.pid for process in processes], url)

            def all_done() -> bool:
                for process in processes:
                    process.poll()
                return sum(process.tasks_done() for process in processes) >= tasks

            wait_until(all_done, timeout, f"{tasks:,} tasks to be dispatched")
            after = sample_cpu([process.pid for process in processes], url)
            memory_after = [memory_mb(process.pid) for process in processes]
        finally:
            for process in processes:
                process.stop()
            for process in processes:
                process.wait()
        for process in processes:
            if process.process.returncode != 0:
                raise RuntimeError(f"scheduler {process.name} failed:\n{process.stderr()}")
            process.poll()
        profile = None
        if args.profile and count == 1:
            profile = profile_summary([control / f"{p.name}.prof" for p in processes])
    return Dispatched(
        processes=count,
        tasks=tasks,
        batches=[batch for process in processes for batch in process.batches],
        cpu=CpuUse.between(before, after),
        memory_ready=memory_ready,
        memory_after=memory_after,
        profile=profile,
    )


def profile_summary(paths: list[Path]) -> str:
    out = io.StringIO()
    stats = pstats.Stats(*[str(path) for path in paths if path.exists()], stream=out)
    stats.sort_stats("tottime").print_stats(25)
    text = out.getvalue()
    return text[text.index("ncalls") :] if "ncalls" in text else text


# --- Checks --------------------------------------------------------------------------------


@dataclass(frozen=True)
class ExactlyOnce:
    tasks: int
    runs: int
    missing: int  # tasks without a run
    duplicates: int  # runs beyond the first of a task
    wrong_time: int  # runs for another fire time than the task's placed cursor
    unmoved: int  # cursors still at or before the last fire time
    refused: int  # runs the unique key refused, as the schedulers reported

    @property
    def ok(self) -> bool:
        return not (self.missing or self.duplicates or self.wrong_time or self.unmoved)

    def describe(self) -> str:
        verdict = "ok" if self.ok else "FAILED"
        return (
            f"exactly once: {verdict}: {self.tasks:,} tasks, {self.runs:,} runs; "
            f"{self.missing} missing, {self.duplicates} duplicates "
            f"({self.refused} refused by the unique key), {self.wrong_time} for a wrong fire "
            f"time, {self.unmoved} cursors not moved on"
        )


def check_exactly_once(engine: Engine, seeded: Seeded, refused: int) -> ExactlyOnce:
    with engine.connect() as connection:
        found = connection.execute(
            select(runs.c.task_id, runs.c.scheduled_for).where(
                runs.c.account_id == seeded.account_id
            )
        ).all()
        unmoved = connection.execute(
            select(func.count())
            .select_from(tasks)
            .where(tasks.c.account_id == seeded.account_id)
            .where(tasks.c.next_fire_at <= seeded.last_fire)
        ).scalar_one()
    per_task = Counter(row.task_id for row in found)
    return ExactlyOnce(
        tasks=len(seeded.cursors),
        runs=len(found),
        missing=sum(1 for task_id in seeded.cursors if task_id not in per_task),
        duplicates=sum(count - 1 for count in per_task.values()),
        wrong_time=sum(1 for row in found if seeded.cursors.get(row.task_id) != row.scheduled_for),
        unmoved=int(unmoved),
        refused=refused,
    )


def claim_lags(engine: Engine, seeded: Seeded) -> list[float]:
    """created_at - scheduled_for of the account's runs: the lag to the claim, not the commit."""
    with engine.connect() as connection:
        found = connection.execute(
            select(runs.c.created_at, runs.c.scheduled_for).where(
                runs.c.account_id == seeded.account_id
            )
        ).all()
    return [(row.created_at - row.scheduled_for).total_seconds() for row in found]


# --- Idle ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class TaskScans:
    """The tasks table's scan counters (pg_stat_user_tables)."""

    seq_scan: int
    seq_tup_read: int
    idx_scan: int
    idx_tup_fetch: int

    @staticmethod
    def read(url: str) -> TaskScans:
        with psycopg.connect(libpq(url), autocommit=True) as connection:
            row = connection.execute(
                "SELECT seq_scan, seq_tup_read, coalesce(idx_scan, 0),"
                " coalesce(idx_tup_fetch, 0) FROM pg_stat_user_tables WHERE relname = 'tasks'"
            ).fetchone()
        assert row is not None
        return TaskScans(*(int(value) for value in row))

    def __sub__(self, other: TaskScans) -> TaskScans:
        return TaskScans(
            self.seq_scan - other.seq_scan,
            self.seq_tup_read - other.seq_tup_read,
            self.idx_scan - other.idx_scan,
            self.idx_tup_fetch - other.idx_tup_fetch,
        )


@dataclass
class QueryCost:
    label: str
    best_ms: float
    plan: list[str] = field(default_factory=list)


@dataclass
class Idle:
    tasks: int
    seconds: float
    memory: tuple[float, float] | None
    statements: Counter[str]
    transactions: int
    checkouts: int
    cpu: CpuUse  # the scheduler process, and on PostgreSQL its backend
    scans: TaskScans | None  # PostgreSQL: over the window
    queries: list[QueryCost]

    @property
    def ticks(self) -> int:
        return sum(n for kind, n in self.statements.items() if kind.startswith("earliest_due"))


def best_ms(action: Callable[[], T], repeat: int = 20) -> float:
    """The fastest of `repeat` runs (the least disturbed by anything else on the machine)."""
    action()
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        action()
        best = min(best, (time.perf_counter() - started) * 1000)
    return best


def tick_query_costs(url: str, now: datetime) -> list[QueryCost]:
    """The two queries of an idle tick, timed (best of 20) and explained, beside a query that
    reads every task."""
    backbeat = build(Settings(database_url=url, secret_key=SECRET), clock=FakeClock(now))
    engine = backbeat.engine
    batch = backbeat.scheduler.policy.batch_size
    try:
        with backbeat.uow(write=True) as uow:  # claim_due runs in a write transaction
            claim = QueryCost(
                f"claim_due(now, {batch}): nothing due",
                best_ms(lambda: uow.schedules.claim_due(now, batch)),
            )
        with backbeat.uow() as uow:
            earliest = QueryCost("earliest_due()", best_ms(uow.schedules.earliest_due))
        with engine.begin() as connection:
            scan = text("SELECT count(*) FROM tasks WHERE title <> ''")
            reference = QueryCost(
                "reference: a query that reads every task",
                best_ms(lambda: connection.execute(scan).scalar(), repeat=5),
            )
        claim.plan = explain(engine, lambda uow: uow.schedules.claim_due(now, batch))
        earliest.plan = explain(engine, lambda uow: uow.schedules.earliest_due())
    finally:
        backbeat.close()
    return [claim, earliest, reference]


def explain(engine: Engine, action: Callable[[SqlUnitOfWork], object]) -> list[str]:
    """The plan of the SELECT on tasks that `action` sends, with the parameters it sent.

    The statement is captured on the engine while `action` runs in a unit of work of its own,
    then explained on another connection of the same engine, in a write transaction as the
    action's was, once the action's has ended: nothing it locked is still locked, so the
    plan (EXPLAIN ANALYZE runs the query) reads what the action read. Run while nothing
    else uses the engine: every statement sent meanwhile is captured."""
    sent: list[tuple[str, Any]] = []

    def capture(*args: Any) -> None:
        sent.append((args[2], args[3]))

    event.listen(engine, "before_cursor_execute", capture)
    try:
        with SqlUnitOfWork(engine, write=True) as uow:
            action(uow)
    finally:
        event.remove(engine, "before_cursor_execute", capture)
    [(statement, parameters)] = [(s, p) for s, p in sent if s.lstrip().upper().startswith("SELECT")]
    with engine.connect().execution_options(**{WRITE: True}) as connection:
        if engine.dialect.name == "postgresql":
            prefix = "EXPLAIN (ANALYZE, BUFFERS, COSTS OFF, SUMMARY OFF) "
            rows = connection.exec_driver_sql(prefix + statement, parameters).all()
            return [row[0] for row in rows]
        rows = connection.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters).all()
        return [row[-1] for row in rows]


def measure_idle(url: str, tasks_count: int, seconds: float) -> Idle:
    """Watch the real `backbeat scheduler` for `seconds`, once it has ticked."""
    postgres = not url.startswith("sqlite")
    with tempfile.TemporaryDirectory(prefix="backbeat-bench-") as directory:
        control = Path(directory)
        out_path, err_path = control / "idle.out", control / "idle.stderr"
        counts_path = control / "idle.jsonl"
        command = [sys.executable, __file__, "--child", "idle", "--database-url", url]
        command += ["--control-dir", str(control)]
        with out_path.open("wb") as out, err_path.open("wb") as err:
            process = subprocess.Popen(command, env=child_env(), stdout=out, stderr=err)

        def snapshot(number: int) -> dict[str, Any]:
            """Ask the process for its counters (SIGUSR1); they are line `number`."""
            process.send_signal(signal.SIGUSR1)

            def written() -> bool:
                return counts_path.exists() and counts_path.read_text().count("\n") >= number

            wait_until(written, 10, "the idle scheduler's counters")
            line: dict[str, Any] = json.loads(counts_path.read_text().splitlines()[number - 1])
            return line

        def started() -> bool:
            if process.poll() is not None:
                raise RuntimeError(f"`backbeat scheduler` exited:\n{err_path.read_text()}")
            return "scheduler on" in out_path.read_text()

        try:
            wait_until(started, STARTUP_TIMEOUT, "`backbeat scheduler` to start")
            time.sleep(2.0)  # past its first tick
            scans_before = TaskScans.read(url) if postgres else None
            first = snapshot(1)
            cpu_before = sample_cpu([process.pid], url)
            time.sleep(seconds)
            cpu_after = sample_cpu([process.pid], url)
            last = snapshot(2)
            scans_after = TaskScans.read(url) if postgres else None
            memory = memory_mb(process.pid)
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
    statements = Counter(last["statements"])
    statements.subtract(first["statements"])
    scans = None
    if scans_before is not None and scans_after is not None:
        scans = scans_after - scans_before
    return Idle(
        tasks=tasks_count,
        seconds=last["at"] - first["at"],
        memory=memory,
        statements=+statements,
        transactions=last.get("transactions", 0) - first.get("transactions", 0),
        checkouts=last.get("checkouts", 0) - first.get("checkouts", 0),
        cpu=CpuUse.between(cpu_before, cpu_after),
        scans=scans,
        queries=tick_query_costs(url, datetime.now(UTC)),
    )


# --- Report --------------------------------------------------------------------------------


def seconds_text(value: float) -> str:
    """Milliseconds below a second, seconds above."""
    return f"{value * 1000:.0f} ms" if abs(value) < 1 else f"{value:.2f} s"


def spread(values: Sequence[float]) -> str:
    return (
        f"p50 {seconds_text(percentile(values, 0.5))}, p99 {seconds_text(percentile(values, 0.99))}"
        f", max {seconds_text(max(values, default=float('nan')))}"
    )


def mb(memory: tuple[float, float] | None) -> str:
    return "n/a" if memory is None else f"{memory[0]:.0f} MB"


def verdict(ratio: float) -> str:
    return "met" if ratio < 1 else "MISSED"


@dataclass
class DispatchRun:
    database: str
    dispatched: Dispatched
    check: ExactlyOnce

    @property
    def seconds(self) -> float:
        """From the fire time to the commit of the last run."""
        return max(self.dispatched.lags, default=float("nan"))

    @property
    def rate(self) -> float:
        return self.dispatched.tasks / self.seconds


@dataclass
class LagRun:
    database: str
    dispatched: Dispatched
    check: ExactlyOnce
    claim_lags: list[float]
    window: int

    @property
    def p99(self) -> float:
        return percentile(self.dispatched.lags, 0.99)


def batch_phases(batch: Batch) -> dict[str, float]:
    """Seconds per phase of one batch, INSERT and the Python rest derived."""
    phases = {name: seconds for name, seconds in batch.phases.items() if name != ADD_MANY}
    phases[INSERT] = batch.phases.get(ADD_MANY, 0.0) - batch.phases.get(EXISTING, 0.0)
    phases[PYTHON] = batch.seconds - sum(phases.values())
    return phases


def print_phases(batches: list[Batch]) -> None:
    per_batch = [batch_phases(batch) for batch in batches]
    runs = sum(batch.runs for batch in batches) or 1
    whole = sum(batch.seconds for batch in batches) or 1
    print(
        f"  per batch ({len(batches)} batches of {runs / len(batches):.0f} runs), in each process:"
        "\n       mean ms   p50 ms   max ms   µs/run  share"
    )
    rows = [(name, [phases.get(name, 0.0) for phases in per_batch]) for name in PHASES]
    rows.append(("whole batch", [batch.seconds for batch in batches]))
    for name, values in rows:
        print(
            f"    {sum(values) / len(values) * 1000:9.2f} {percentile(values, 0.5) * 1000:8.2f} "
            f"{max(values) * 1000:8.2f} {sum(values) / runs * 1e6:8.1f} {sum(values) / whole:6.0%}"
            f"  {name}"
        )


def print_cpu(cpu: CpuUse, runs: int, processes: int) -> None:
    """CPU per run, and how busy each process was: a scheduler well below 100% of a core
    was waiting (for the database, for I/O, or for a core the machine gave to others)."""
    parts = []
    if cpu.processes is not None:
        busy = cpu.processes / cpu.seconds / processes
        parts.append(
            f"schedulers {cpu.processes:.2f} s ({cpu.processes / runs * 1e6:.0f} µs/run; "
            f"each {busy:.0%} of a core)"
        )
    if cpu.postgres is not None:
        busy = cpu.postgres / cpu.seconds / processes
        parts.append(
            f"PostgreSQL {cpu.postgres:.2f} s ({cpu.postgres / runs * 1e6:.0f} µs/run; "
            f"each backend {busy:.0%})"
        )
    print(
        f"  CPU over {cpu.seconds:.2f} s: {', '.join(parts) or 'n/a'}; machine "
        f"{percent(cpu.machine)} busy ({os.cpu_count()} cores)"
    )


def print_memory(dispatched: Dispatched) -> None:
    pairs = zip(dispatched.memory_ready, dispatched.memory_after, strict=True)
    described = [
        f"{ready[0]:.0f} → {after[0]:.0f} MB (peak {after[1]:.0f})"
        for ready, after in pairs
        if ready is not None and after is not None
    ]
    print(f"  RSS per process, ready → after dispatching: {'; '.join(described) or 'n/a'}")


def print_dispatch(run: DispatchRun, one_process: DispatchRun | None) -> None:
    dispatched = run.dispatched
    shares = Counter[str]()
    for batch in dispatched.batches:
        shares[batch.process] += batch.runs
    ratio = run.seconds / TARGET_DISPATCH_SECONDS
    print(
        f"\nDispatch: {dispatched.tasks:,} tasks due at one instant, "
        f"{dispatched.processes} scheduler process(es)"
    )
    print(
        f"  every run committed {run.seconds:.2f} s after the fire time: {run.rate:,.0f} runs/s, "
        f"{run.seconds / dispatched.tasks * 1e6:.0f} µs/run"
    )
    print(
        f"  target < {TARGET_DISPATCH_SECONDS:.0f} s for 100,000: "
        + (
            f"{verdict(ratio)} ({ratio:.2f}× the target)"
            if dispatched.tasks == 100_000
            else f"at this rate 100,000 take {100_000 / run.rate:.1f} s "
            f"({100_000 / run.rate / TARGET_DISPATCH_SECONDS:.2f}× the target)"
        )
    )
    if one_process is not None and one_process is not run:
        print(f"  × 1 process: {run.rate / one_process.rate:.2f} the runs/s")
    delays = dispatched.wake_delays()
    print(
        f"  first claim began {seconds_text(min(delays, default=float('nan')))} after the fire "
        f"time; runs per process: "
        + ", ".join(f"{name} {count:,}" for name, count in sorted(shares.items()))
    )
    print(f"  lag (fire → run committed), queue position included: {spread(dispatched.lags)}")
    print_cpu(dispatched.cpu, dispatched.runs, dispatched.processes)
    print_phases(dispatched.batches)
    print_memory(dispatched)
    print(f"  {run.check.describe()}")
    if dispatched.profile:
        print(
            "\n  cProfile of the process's dispatch_batch calls (profiling inflates the times),"
            " top 25 by own time:"
        )
        print("    " + "\n    ".join(dispatched.profile.strip().splitlines()))


def print_lag(run: LagRun) -> None:
    dispatched = run.dispatched
    per_second = dispatched.tasks / run.window
    ratio = run.p99 / TARGET_P99_LAG_SECONDS
    print(
        f"\nLag: {dispatched.tasks:,} tasks over {run.window} s ({per_second:.0f} per fire time), "
        f"{dispatched.processes} scheduler process(es)"
    )
    print(f"  fire → run committed (TickReport.lags):   {spread(dispatched.lags)}")
    print(
        f"  target p99 < {TARGET_P99_LAG_SECONDS:.0f} s: {verdict(ratio)} ({ratio:.3f}× the target)"
    )
    print(f"  fire → claimed (runs.created_at, for contrast): {spread(run.claim_lags)}")
    print(
        f"  the loop began claiming after each fire time: {spread(dispatched.wake_delays())} "
        f"({len(dispatched.wake_delays())} fire times, {len(dispatched.batches)} batches)"
    )
    print_cpu(dispatched.cpu, dispatched.runs, dispatched.processes)
    print(f"  {run.check.describe()}")


def print_idle(idle: Idle) -> None:
    ticks = idle.ticks or 1
    print(
        f"\nIdle: `backbeat scheduler` with {idle.tasks:,} enabled tasks, none due, watched for "
        f"{idle.seconds:.1f} s"
    )
    cpu = idle.cpu
    if cpu.processes is not None:
        print(
            f"  CPU {cpu.processes * 1000:.1f} ms = {cpu.processes / cpu.seconds:.3%} of a core; "
            f"{cpu.processes / ticks * 1000:.2f} ms per tick"
        )
    if cpu.postgres is not None:
        print(
            f"  its PostgreSQL backend: CPU {cpu.postgres * 1000:.1f} ms = "
            f"{cpu.postgres / cpu.seconds:.3%} of a core; {cpu.postgres / ticks * 1000:.2f} ms "
            "per tick"
        )
    statements = sum(idle.statements.values())
    print(
        f"  {idle.ticks} ticks ({idle.ticks / idle.seconds:.2f}/s: it sleeps max_sleep between "
        f"them); per second: {statements / idle.seconds:.2f} statements, "
        f"{idle.transactions / idle.seconds:.2f} transactions, "
        f"{idle.checkouts / idle.seconds:.2f} pool checkouts"
    )
    for kind, count in idle.statements.most_common():
        print(f"    {count / ticks:5.2f} per tick  {kind}")
    if idle.scans is not None:
        scans = idle.scans
        print(
            f"  tasks table over the window (pg_stat_user_tables): {scans.seq_scan} sequential "
            f"scans ({scans.seq_tup_read} rows), {scans.idx_scan} index scans fetching "
            f"{scans.idx_tup_fetch} rows ({scans.idx_tup_fetch / ticks:.1f} per tick)"
        )
    peak = "n/a" if idle.memory is None else f"{idle.memory[1]:.0f} MB"
    print(f"  RSS {mb(idle.memory)} (peak {peak})")
    print(f"  the tick's queries with {idle.tasks:,} tasks (best of 20):")
    for query in idle.queries:
        print(f"    {query.best_ms:8.3f} ms  {query.label}")
        for line in query.plan:
            print(f"                 {line}")


def markdown(
    dispatches: list[DispatchRun],
    lags: list[LagRun],
    idles: dict[str, Idle],
    args: argparse.Namespace,
) -> str:
    lag_by = {(run.database, run.dispatched.processes): run for run in lags}
    lines = [
        f"| Database | Processes | {args.tasks:,} due: all committed | runs/s | × 10 s target"
        f" | duplicates | CPU µs/run (scheduler + DB) | lag p50 / p99 / max "
        f"({args.lag_tasks:,} over {args.lag_window} s) | p99 × 1 s target |",
        "|---|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for run in dispatches:
        d = run.dispatched
        scale = 100_000 / d.tasks
        cpu = "n/a"
        if d.cpu.processes is not None:
            cpu = f"{d.cpu.processes / d.runs * 1e6:.0f}"
            if d.cpu.postgres is not None:
                cpu += f" + {d.cpu.postgres / d.runs * 1e6:.0f}"
        lag = lag_by.get((run.database, d.processes))
        lag_text, lag_ratio = "n/a", "n/a"
        if lag is not None:
            values = lag.dispatched.lags
            lag_text = " / ".join(
                seconds_text(v)
                for v in (percentile(values, 0.5), percentile(values, 0.99), max(values))
            )
            lag_ratio = f"{lag.p99 / TARGET_P99_LAG_SECONDS:.3f}"
        duplicates = run.check.duplicates + (lag.check.duplicates if lag else 0)
        lines.append(
            f"| {run.database} | {d.processes} | {run.seconds:.2f} s | {run.rate:,.0f} | "
            f"{run.seconds * scale / TARGET_DISPATCH_SECONDS:.2f} | {duplicates} | {cpu} | "
            f"{lag_text} | {lag_ratio} |"
        )
    lines += [
        "",
        f"| Database | Idle CPU, {args.tasks:,} tasks | CPU per tick | ticks/s | statements/s"
        " | task rows read per tick | RSS idle | RSS after dispatching (peak) |",
        "|---|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for database_kind, idle in idles.items():
        ticks = idle.ticks or 1
        spent = idle.cpu.processes
        cpu = "n/a" if spent is None else f"{spent / idle.cpu.seconds:.3%}"
        per_tick = "n/a" if spent is None else f"{spent / ticks * 1000:.2f} ms"
        rows_read = "n/a" if idle.scans is None else f"{idle.scans.idx_tup_fetch / ticks:.1f}"
        if idle.scans is not None and idle.scans.seq_scan:
            rows_read += f" + {idle.scans.seq_tup_read / ticks:.0f} scanned"
        after = [
            memory
            for run in dispatches
            if run.database == database_kind and run.dispatched.processes == 1
            for memory in run.dispatched.memory_after
            if memory is not None
        ]
        after_text = f"{after[0][0]:.0f} MB ({after[0][1]:.0f} MB)" if after else "n/a"
        lines.append(
            f"| {database_kind} | {cpu} | {per_tick} | {idle.ticks / idle.seconds:.2f} | "
            f"{sum(idle.statements.values()) / idle.seconds:.2f} | {rows_read} | "
            f"{mb(idle.memory)} | {after_text} |"
        )
    scaled = "" if args.tasks == 100_000 else f" (scaled from {args.tasks:,} to 100,000)"
    lines += [
        "",
        f"`× 10 s target`: the time for 100,000{scaled} over 10 s; below 1 meets it. Lag: fire "
        "time → the run's transaction committed, with the real SchedulerLoop on a real clock. "
        "Duplicates: runs beyond one per task, throughput and lag runs together. SQLite runs "
        "one scheduler by design (one writer at a time; `backbeat serve` runs it in-process). "
        f"{os.cpu_count()} CPUs, scheduler processes and database on the same machine.",
    ]
    return "\n".join(lines)


def measure_peer(tasks: int) -> peers.ApschedulerResult | None:
    """APScheduler's in-memory scheduler on the same number of jobs due at one instant."""
    print(f"\n## Peer: APScheduler in memory, {tasks:,} jobs due at one instant\n")
    skipped = peers.missing("apscheduler")
    if skipped:
        print(skipped)
        return None
    result = peers.apscheduler_dispatch(tasks)
    print(result.describe())
    return result


def peer_lines(dispatches: list[DispatchRun], peer: peers.ApschedulerResult) -> list[str]:
    """Backbeat on PostgreSQL beside APScheduler in memory, measured in this run."""
    found = [run for run in dispatches if run.database == "postgresql"]
    if not found:
        return [f"APScheduler in memory: {peer.seconds:.2f} s (no PostgreSQL dispatch to compare)"]
    lines = []
    for run in found:
        count = run.dispatched.processes
        ratio = peer.seconds / run.seconds
        target = ""
        if count == 4:
            met = "met" if ratio >= TARGET_PEER_RATIO else "MISSED"
            target = f" (target ≥ {TARGET_PEER_RATIO:g}×: {met})"
        lines.append(
            f"Backbeat {count} process{'es' if count > 1 else ''}: {run.seconds:.2f} s, "
            f"APScheduler in memory: {peer.seconds:.2f} s, ratio Y/X = {ratio:.2f}×{target}"
        )
    if not peer.ok:
        lines.append("⚠ APScheduler's run failed its check (printed above)")
    return lines


# --- Per database --------------------------------------------------------------------------


@dataclass
class Timeline:
    """Fire times in the future of the real clock, so the idle `backbeat scheduler` (on the
    real clock) finds nothing due; the measured processes' clocks are started just before."""

    dispatch: datetime  # a midnight UTC at least a day ahead
    lag_window: datetime  # an hour later

    @staticmethod
    def ahead() -> Timeline:
        today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        dispatch = today + timedelta(days=2)
        return Timeline(dispatch, dispatch + timedelta(hours=1))


def bench_database(
    kind: str, args: argparse.Namespace
) -> tuple[list[DispatchRun], list[LagRun], Idle]:
    print(f"\n## {kind}")
    counts = [1] if kind == "sqlite" else args.processes
    if kind == "sqlite" and args.processes != [1]:
        print("(SQLite: one scheduler process only; see the docstring)")
    timeline = Timeline.ahead()
    with database(kind, "backbeat_bench_sched") as url:
        engine = make_engine(url)
        try:
            started = time.perf_counter()
            seeded = create_tasks(
                url,
                "dispatch@example.com",
                args.tasks,
                DISPATCH_SCHEDULE,
                lambda _: timeline.dispatch,
            )
            vacuum(engine)
            print(f"\nseeded {args.tasks:,} tasks in {time.perf_counter() - started:.1f}s")

            idle = measure_idle(url, args.tasks, args.idle_seconds)
            print_idle(idle)

            dispatches: list[DispatchRun] = []
            timeout = max(120.0, args.tasks / 200)
            for count in counts:
                if dispatches:
                    reset(engine, seeded)
                dispatched = run_schedulers(
                    url, count, timeline.dispatch, args.tasks, timeout, args
                )
                check = check_exactly_once(engine, seeded, dispatched.refused)
                dispatches.append(DispatchRun(kind, dispatched, check))
                print_dispatch(dispatches[-1], dispatches[0])

            window = args.lag_window

            def lag_cursor(n: int) -> datetime:
                return timeline.lag_window + timedelta(seconds=n * window // args.lag_tasks)

            lag_seeded = create_tasks(
                url, "lag@example.com", args.lag_tasks, LAG_SCHEDULE, lag_cursor
            )
            lag_runs: list[LagRun] = []
            for count in counts:
                reset(engine, lag_seeded)
                dispatched = run_schedulers(
                    url, count, timeline.lag_window, args.lag_tasks, window + timeout, args
                )
                check = check_exactly_once(engine, lag_seeded, dispatched.refused)
                lag_runs.append(
                    LagRun(kind, dispatched, check, claim_lags(engine, lag_seeded), window)
                )
                print_lag(lag_runs[-1])
        finally:
            engine.dispose()
    return dispatches, lag_runs, idle


def process_counts(value: str) -> list[int]:
    counts = sorted({int(part) for part in value.split(",") if part.strip()})
    if not counts or counts[0] < 1 or counts[-1] > len(PROCESS_NAMES):
        raise argparse.ArgumentTypeError(f"process counts between 1 and {len(PROCESS_NAMES)}")
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument(
        "--tasks", type=int, default=100_000, help="tasks due at one instant (default 100,000)"
    )
    parser.add_argument(
        "--lag-tasks", type=int, default=10_000, help="tasks of the lag test (default 10,000)"
    )
    parser.add_argument(
        "--lag-window", type=int, default=60, help="seconds the lag test spreads them over (60)"
    )
    parser.add_argument(
        "--idle-seconds", type=float, default=30, help="how long to watch the idle scheduler (30)"
    )
    parser.add_argument(
        "--processes",
        type=process_counts,
        default=[1, 4],
        help="scheduler process counts on PostgreSQL, comma-separated (default 1,4)",
    )
    parser.add_argument(
        "--batch-size",
        type=int,
        help="override SchedulerPolicy.batch_size (default: as configured)",
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="run the 1-process dispatch under cProfile and print the top functions",
    )
    parser.add_argument(
        "--no-peers",
        action="store_true",
        help="leave out APScheduler's in-memory scheduler (default: measured in the same run)",
    )
    parser.add_argument("--child", choices=("loop", "idle"), help=argparse.SUPPRESS)
    parser.add_argument("--name", help=argparse.SUPPRESS)
    parser.add_argument("--database-url", help=argparse.SUPPRESS)
    parser.add_argument("--control-dir", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child == "loop":
        scheduler_process(
            args.database_url, args.name, args.control_dir, args.batch_size, args.profile
        )
        return
    if args.child == "idle":
        idle_process(args.database_url, args.control_dir)
        return
    if args.lag_tasks < args.lag_window:
        parser.error("--lag-tasks must be at least --lag-window (one task per fire time)")

    started = time.perf_counter()
    kinds = ["sqlite", "postgresql"] if args.database == "both" else [args.database]
    dispatches: list[DispatchRun] = []
    lags: list[LagRun] = []
    idles: dict[str, Idle] = {}
    for kind in kinds:
        found, lag_runs, idles[kind] = bench_database(kind, args)
        dispatches += found
        lags += lag_runs
    peer = None if args.no_peers else measure_peer(args.tasks)
    print(f"\n## Summary (took {time.perf_counter() - started:.0f}s)\n")
    print(markdown(dispatches, lags, idles, args))
    if peer is not None:
        print("\n" + "\n".join(peer_lines(dispatches, peer)))
    checks = [run.check for run in dispatches] + [run.check for run in lags]
    if not all(check.ok for check in checks):
        sys.exit("a fire was missed or dispatched twice: see the checks above")


if __name__ == "__main__":
    main()
