"""Peers measured beside Backbeat in the same run (issue 16): APScheduler's in-memory
scheduler on jobs all due at one instant, and procrastinate's no-op job rate on PostgreSQL.
benchmarks/scheduler.py and `benchmarks/worker.py --parts peers` call these; alone:

    .venv/bin/python benchmarks/peers.py apscheduler --jobs 10000
    .venv/bin/python benchmarks/peers.py procrastinate --jobs 2000 --processes 4

They are the optional `bench` dependency group; without it these say how to install it.

* APScheduler 3.11 (4.0 is still alpha on PyPI): a BackgroundScheduler, the default
  MemoryJobStore, a ThreadPoolExecutor (10 threads, APScheduler's default; 1 or 50 were no
  faster here). `jobs` no-op jobs with a DateTrigger at one instant F are added while it is
  paused (timed apart), F placed after the adding ends; resumed, it sleeps until F. Time: F
  → the last job ran (a locked counter; exactly `jobs` runs expected). misfire_grace_time is
  None (no limit), so no job may be dropped as missed; missed or failed jobs are counted.
* procrastinate 3.x (its psycopg 3 connector): a throwaway database, procrastinate's schema,
  `jobs` no-op jobs batch-deferred (timed apart); `processes` worker processes (each
  `App.run_worker_async`, concurrency 10 unless told: Backbeat's worker default; 1 is
  procrastinate's, a little slower here) start, say they are ready and are told to go
  together. runs/s as worker.py takes Backbeat's: jobs ÷ (last job finished − first job
  started), from procrastinate_events; the wall time from go until procrastinate_jobs shows
  every job ended is printed too. Each job must succeed after exactly one start. CPU ms/job
  of the workers (/proc, go → done) and of the whole PostgreSQL server on this machine.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from subprocess import PIPE
from typing import Any

import psycopg

from backbeat.testing.databases import libpq, throwaway_postgres
from common import (
    PG_ADMIN_URL,
    fmt,
    machine_cpu,
    percent,
    postgres_cpu_seconds,
    process_cpu_seconds,
)

INSTALL = (
    "UV_PROJECT_ENVIRONMENT=$PWD/.venv .tools/bin/uv sync --frozen --inexact --group bench "
    "--compile-bytecode"
)
LEAD_SECONDS = 2.0  # F comes this long after the adding is expected to end
THREADS = 10  # APScheduler's ThreadPoolExecutor default
CONCURRENCY = 10  # per procrastinate worker: Backbeat's worker default (procrastinate's is 1)
TASK_NAME = "backbeat_bench_noop"
READY_LINE = "procrastinate worker: ready"
DEFER_BATCH = 1000


def missing(*modules: str) -> str | None:
    """A line saying how to install the bench group when a peer is not installed, else None."""
    absent = [name for name in modules if importlib.util.find_spec(name) is None]
    if not absent:
        return None
    return (
        f"peers skipped: {', '.join(absent)} not installed (the optional `bench` dependency "
        f"group); install it with `{INSTALL}`"
    )


# --- APScheduler ---------------------------------------------------------------------------


@dataclass
class ApschedulerResult:
    jobs: int
    threads: int
    add_seconds: float  # adding the jobs to the paused scheduler
    seconds: float  # F → the last job ran
    first_delay: float  # F → the first job ran
    executed: int
    missed: int
    errors: int
    overran: bool  # the adding ended after F: the wait for it is in `seconds`

    @property
    def rate(self) -> float:
        return self.jobs / self.seconds

    @property
    def ok(self) -> bool:
        return self.executed == self.jobs and not self.missed and not self.errors

    def describe(self) -> str:
        check = "every job ran once" if self.ok else "CHECK FAILED"
        late = "; the adding overran F (its wait is included)" if self.overran else ""
        return (
            f"APScheduler in memory ({self.threads} threads): {self.jobs:,} jobs due at one "
            f"instant, all run {self.seconds:.2f} s after it ({self.rate:,.0f} jobs/s; first "
            f"after {self.first_delay * 1000:.0f} ms); adding them took {self.add_seconds:.2f} s "
            f"({self.jobs / self.add_seconds:,.0f}/s); {self.executed:,} executions, "
            f"{self.missed} missed, {self.errors} errors: {check}{late}"
        )


class _Ran:
    """Executions counted under a lock, with the wall-clock times of the first and latest."""

    def __init__(self, expected: int) -> None:
        self.expected, self.count, self.first, self.last = expected, 0, 0.0, 0.0
        self.missed = self.errors = 0
        self.lock, self.done = threading.Lock(), threading.Event()

    def once(self) -> None:
        now = time.time()
        with self.lock:
            self.count += 1
            self.first = self.first or now
            self.last = now
            if self.count >= self.expected:
                self.done.set()


def _add_jobs(scheduler: Any, jobs: int, when: datetime, job: Any) -> float:
    from apscheduler.triggers.date import DateTrigger

    started = time.perf_counter()
    for _ in range(jobs):
        scheduler.add_job(job, DateTrigger(run_date=when))
    return time.perf_counter() - started


def _scheduler(threads: int) -> Any:
    from apscheduler.executors.pool import ThreadPoolExecutor
    from apscheduler.schedulers.background import BackgroundScheduler

    return BackgroundScheduler(
        executors={"default": ThreadPoolExecutor(threads)},
        job_defaults={"misfire_grace_time": None, "coalesce": False, "max_instances": 1},
        timezone=UTC,
    )


def apscheduler_dispatch(jobs: int, threads: int = THREADS) -> ApschedulerResult:
    """`jobs` no-op jobs due at one instant F, run by APScheduler's in-memory scheduler."""
    from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_MAX_INSTANCES, EVENT_JOB_MISSED

    ran = _Ran(jobs)

    def noop() -> None:
        ran.once()

    def on_event(event: Any) -> None:  # missed, failed, or refused (max instances)
        with ran.lock:
            ran.missed += event.code == EVENT_JOB_MISSED
            ran.errors += event.code != EVENT_JOB_MISSED

    # How long adding takes here: 1,000 jobs into a throwaway paused scheduler (it warms up
    # the code paths too), so that F can be placed after the real adding ends.
    trial = _scheduler(threads)
    trial.start(paused=True)
    sample = min(jobs, 1000)
    per_job = _add_jobs(trial, sample, datetime.now(UTC) + timedelta(days=1), noop) / sample
    trial.shutdown(wait=False)

    scheduler = _scheduler(threads)
    scheduler.add_listener(on_event, EVENT_JOB_MISSED | EVENT_JOB_ERROR | EVENT_JOB_MAX_INSTANCES)
    scheduler.start(paused=True)
    try:
        fire = time.time() + LEAD_SECONDS + per_job * jobs * 2
        add_seconds = _add_jobs(scheduler, jobs, datetime.fromtimestamp(fire, UTC), noop)
        overran = time.time() > fire
        scheduler.resume()
        timeout = max(120.0, jobs / 500)
        if not ran.done.wait(max(0.0, fire - time.time()) + timeout):
            print(f"  APScheduler: only {ran.count:,} of {jobs:,} jobs ran in {timeout:.0f} s")
        time.sleep(0.2)  # late duplicates or misfire events, if any, would arrive now
    finally:
        scheduler.shutdown(wait=False)
    with ran.lock:
        first, last = ran.first or fire, ran.last or fire  # fire: no job ran
        times = (add_seconds, last - fire, first - fire)
        counts = (ran.count, ran.missed, ran.errors)
        return ApschedulerResult(jobs, threads, *times, *counts, overran)


# --- procrastinate -------------------------------------------------------------------------


def _app(conninfo: str) -> Any:
    import procrastinate

    # It warns when the app is made in __main__ (the worker children run this file): its
    # task has an explicit name, so the worker finds it wherever the app is made.
    logging.getLogger("procrastinate.blueprints").setLevel(logging.ERROR)
    app = procrastinate.App(connector=procrastinate.PsycopgConnector(conninfo=conninfo))

    @app.task(name=TASK_NAME)
    def noop() -> None:
        return None

    return app


def worker_process(conninfo: str, concurrency: int) -> None:
    """A procrastinate worker (a child process): opens the app, says it is ready, waits for a
    line on stdin, then works until SIGTERM."""

    async def work() -> None:
        app = _app(conninfo)
        async with app.open_async():
            print(READY_LINE, flush=True)
            await asyncio.to_thread(sys.stdin.readline)
            await app.run_worker_async(concurrency=concurrency, wait=True)

    asyncio.run(work())


@dataclass
class ProcrastinateResult:
    jobs: int
    processes: int
    concurrency: int
    defer_seconds: float
    wall_seconds: float  # go → every job ended (polled)
    span_seconds: float  # first job started → last job finished (procrastinate_events)
    worker_cpu: float | None
    postgres_cpu: float | None
    machine: float | None
    problems: list[str] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return self.jobs / self.span_seconds

    def describe(self) -> str:
        def ms(cpu: float | None) -> str:
            return fmt(None if cpu is None else cpu / self.jobs * 1000, ".2f")

        cpu = f"workers {ms(self.worker_cpu)}, PostgreSQL (whole server) {ms(self.postgres_cpu)}"
        check = "; ".join(self.problems) or "every job succeeded after exactly one start"
        return (
            f"procrastinate no-op jobs, {self.processes} worker processes × concurrency "
            f"{self.concurrency}: {self.jobs:,} jobs, {self.rate:,.0f} runs/s "
            f"({self.span_seconds / self.jobs * 1000:.2f} ms/job; first start → last finish "
            f"{self.span_seconds:.2f} s, go → all ended {self.wall_seconds:.2f} s); deferring "
            f"took {self.defer_seconds:.2f} s; CPU ms/job: {cpu}; "
            f"machine {percent(self.machine)} busy ({os.cpu_count()} cores); {check}"
        )


async def _prepare(conninfo: str, jobs: int) -> float:
    """procrastinate's schema, then `jobs` no-op jobs deferred; returns the deferring's time."""
    app = _app(conninfo)
    async with app.open_async():
        await app.schema_manager.apply_schema_async()
        task = app.tasks[TASK_NAME]
        started = time.perf_counter()
        for offset in range(0, jobs, DEFER_BATCH):
            await task.batch_defer_async(*({} for _ in range(min(DEFER_BATCH, jobs - offset))))
        return time.perf_counter() - started


Sample = tuple[list[float | None], float | None, tuple[int, int] | None]


def _sample(children: list[subprocess.Popen[str]]) -> Sample:
    """CPU seconds of each worker and of PostgreSQL, and the machine's (busy, total) jiffies."""
    return [process_cpu_seconds(c.pid) for c in children], postgres_cpu_seconds(), machine_cpu()


def _between(before: Sample, after: Sample) -> tuple[float | None, float | None, float | None]:
    """(workers' CPU seconds, PostgreSQL's, the machine's busy share) between two samples."""
    workers: float | None = 0.0
    for b, a in zip(before[0], after[0], strict=True):
        workers = None if workers is None or a is None or b is None else workers + a - b
    postgres = None if before[1] is None or after[1] is None else after[1] - before[1]
    machine = None
    if before[2] is not None and after[2] is not None:
        total = after[2][1] - before[2][1]
        machine = (after[2][0] - before[2][0]) / total if total else None
    return workers, postgres, machine


def _stop(children: list[subprocess.Popen[str]]) -> None:
    for child in children:
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
    for child in children:
        try:
            child.wait(timeout=15)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


def _check(connection: psycopg.Connection[Any], jobs: int) -> tuple[float, list[str]]:
    """(first start → last finish in seconds, problems found)."""
    problems: list[str] = []
    statuses = dict(
        connection.execute("SELECT status::text, count(*) FROM procrastinate_jobs GROUP BY 1")
    )
    if statuses != {"succeeded": jobs}:
        problems.append(f"job statuses {statuses}, expected {jobs} succeeded")
    row = connection.execute(
        "SELECT count(*) FILTER (WHERE started <> 1 OR succeeded <> 1), min(first), max(last)"
        " FROM (SELECT job_id, count(*) FILTER (WHERE type = 'started') AS started,"
        " count(*) FILTER (WHERE type = 'succeeded') AS succeeded,"
        " min(at) FILTER (WHERE type = 'started') AS first,"
        " max(at) FILTER (WHERE type = 'succeeded') AS last"
        " FROM procrastinate_events GROUP BY job_id) AS per_job"
    ).fetchone()
    assert row is not None
    if row[0]:
        problems.append(f"{row[0]} jobs not started and succeeded exactly once")
    span = (row[2] - row[1]).total_seconds() if row[1] and row[2] else float("nan")
    return span, problems


def procrastinate_noop(
    jobs: int, processes: int, pg_admin_url: str = PG_ADMIN_URL, concurrency: int = CONCURRENCY
) -> ProcrastinateResult:
    """`jobs` no-op procrastinate jobs drained by `processes` worker processes."""
    with throwaway_postgres(pg_admin_url, "backbeat_bench_peer") as url:
        conninfo = libpq(url)
        defer_seconds = asyncio.run(_prepare(conninfo, jobs))
        command = [
            sys.executable,
            __file__,
            "--worker",
            conninfo,
            "--concurrency",
            f"{concurrency}",
        ]
        env = {key: value for key, value in os.environ.items() if not key.startswith("BACKBEAT")}
        children = [
            subprocess.Popen(command, stdin=PIPE, stdout=PIPE, text=True, env=env)
            for _ in range(processes)
        ]
        try:
            for child in children:  # each prints one line once its app is open
                assert child.stdout is not None
                if child.stdout.readline().strip() != READY_LINE:
                    raise RuntimeError(f"a procrastinate worker exited ({child.wait()})")
            before = _sample(children)
            started = time.perf_counter()
            for child in children:
                assert child.stdin is not None
                child.stdin.write("go\n")
                child.stdin.flush()
            timeout = max(120.0, jobs / 50)
            with psycopg.connect(conninfo, autocommit=True) as connection:
                query = (
                    "SELECT count(*) FROM procrastinate_jobs WHERE status NOT IN ('todo', 'doing')"
                )
                while True:
                    row = connection.execute(query).fetchone()
                    if row is not None and row[0] >= jobs:
                        break
                    if any(child.poll() is not None for child in children):
                        raise RuntimeError("a procrastinate worker exited while working")
                    if time.perf_counter() - started > timeout:
                        raise RuntimeError(f"only {row and row[0]} of {jobs} jobs ended in time")
                    time.sleep(0.1)
                wall = time.perf_counter() - started
                after = _sample(children)
                _stop(children)
                span, problems = _check(connection, jobs)
        finally:
            _stop(children)
    cpu = _between(before, after)
    return ProcrastinateResult(
        jobs, processes, concurrency, defer_seconds, wall, span, *cpu, problems
    )


# --- Alone ---------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("peer", nargs="?", choices=("apscheduler", "procrastinate"))
    parser.add_argument("--jobs", type=int, default=10_000, help="jobs (default 10,000)")
    parser.add_argument("--threads", type=int, default=THREADS, help="APScheduler's pool (10)")
    parser.add_argument("--processes", type=int, default=4, help="procrastinate workers (4)")
    parser.add_argument(
        "--concurrency", type=int, default=CONCURRENCY, help="per procrastinate worker (10)"
    )
    parser.add_argument("--worker", metavar="CONNINFO", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker_process(args.worker, args.concurrency)
        return
    if args.peer is None:
        parser.error("name a peer: apscheduler or procrastinate")
    skipped = missing(args.peer)
    if skipped:
        print(skipped)
        return
    if args.peer == "apscheduler":
        print(apscheduler_dispatch(args.jobs, args.threads).describe())
    else:
        result = procrastinate_noop(args.jobs, args.processes, concurrency=args.concurrency)
        print(result.describe())
        if result.problems:
            raise SystemExit(1)


if __name__ == "__main__":
    main()
