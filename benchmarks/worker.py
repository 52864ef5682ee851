"""The worker: what one claim costs against the runs waiting (SQLite and PostgreSQL), a
burst drained on the embedded SQLite default, and throughput on PostgreSQL: runs completed
per second by 1 and 4 `backbeat worker` processes against a fake model server, the database
overhead per run, and how concurrency keeps throughput up when the model is slow.

Run from the repository root:

    .venv/bin/python benchmarks/worker.py                    # everything, about 10 minutes
    .venv/bin/python benchmarks/worker.py --quick            # smaller sizes, about 4 minutes
    .venv/bin/python benchmarks/worker.py --parts claims     # claim cost only, under a minute
    .venv/bin/python benchmarks/worker.py --parts burst      # SQLite burst only, about 7 min
    .venv/bin/python benchmarks/worker.py --parts throughput --model instant --workers 1 2 4
    .venv/bin/python benchmarks/worker.py --parts throughput --model slow --concurrency 20
    .venv/bin/python benchmarks/worker.py --parts wakeup     # queued → executing, about 1 min
    .venv/bin/python benchmarks/worker.py --parts ratelimit  # the 09:00 burst, about 6 min
    .venv/bin/python benchmarks/worker.py --parts throughput peers --model instant --workers 4

`--parts claims` (benchmarks/claim_cost.py says how): per database, the median time of one
claim (the worker's own WorkQueue.claim) with 10, 1,000 and 10,000 runs waiting, the ratio of
the largest to the smallest, and the claim query's plan at each level.

`--parts wakeup` (benchmarks/wakeup.py says how): PostgreSQL, queued → executing latency
(p50, p99) of runs queued one at a time for one idle worker, with the poll at `--poll` (1 s),
its LISTEN off, then on, in the same run.

`--parts ratelimit` (benchmarks/ratelimit.py says how): PostgreSQL, `--ratelimit-runs`
(10,000) runs due at once drained by one worker with many slots against a fake model server
that enforces requests and tokens per minute: drain time against the time the limit allows,
failed runs and 429s.

`--parts peers` (issue 16; benchmarks/peers.py says how): procrastinate's no-op job rate on
PostgreSQL with 4 worker processes at --concurrency each, --runs jobs, run after this
invocation's throughput cases and printed beside its instant-model outcomes with the ratio
(target: Backbeat's 4 workers at least procrastinate's rate). It needs the optional `bench`
dependency group; without it the part says how to install it and is skipped.

`--parts burst`: SQLite, the embedded default. `--burst-runs` (2,000) runs due at one
instant, drained by one `backbeat worker` with the default settings (concurrency 10, poll
1 s) against a fake model that answers in `--slow-seconds` (2): ideal 10 ÷ 2 = 5 runs/s, so
2,000 runs take at least 400 s. Measured and checked as the cases below.

PostgreSQL is reached at $BACKBEAT_BENCH_PG_URL (default: $BACKBEAT_TEST_PG_URL, else
postgresql+psycopg://postgres@127.0.0.1:5432/postgres); the script creates its own database
there and drops it afterwards.

What it does, per throughput case (a model speed × a number of worker processes; the
burst is one more, on SQLite):

1. Starts the fake model server (backbeat.testing.fake_models, `--record 0`) as processes of
   its own, so it does not share a GIL with anything: one answers at once ("instant"; with
   `--model-servers 2` the workers are spread over two), the other after `--slow-seconds`.
2. Starts W worker processes, each `backbeat worker` exactly as the CLI runs it, with
   concurrency C (BACKBEAT_WORKER_CONCURRENCY) and Backbeat's poll interval (1 s), through
   benchmarks/timed_worker.py, which times the database steps of every run in process.
3. While they start, creates one task per run (one task never has two runs executing at
   once, so runs of one task would wait for each other). Once every worker's loop is
   running, warms them up with one run per slot (connections, the SDK client, caches;
   not measured, `--no-warmup` to include it), then queues all the runs in one
   transaction, the way a scheduler tick does (same `available_at`), and waits until
   every run has ended.
4. Checks that every run COMPLETED, with exactly one attempt, executed by one worker once
   (one model call, one finish), with the fake model's answer as its output.

How to read the figures:

* `runs/s` is runs ÷ (last attempt completed − first attempt started), from the attempts'
  own timestamps. It leaves out the wait for the workers' first look at the queue (up to
  the poll interval, printed as `first claim`), which a steady queue does not pay.
  `runs in flight` (from the same timestamps): if the mean is close to the slots, every
  slot was always busy and throughput = slots ÷ the time a run spends in hand, so with an
  instant model it is the per-run database steps (and the waits for a thread, a
  connection or the GIL between them) that set it.
* Slow model: each worker holds C runs at once, so the ideal is W × C ÷ the model's
  seconds per answer. `× ideal` is runs/s over that. The ramp-up (workers first look at
  different moments within the poll interval) and the few milliseconds of database work
  between one answer and the next claim are what keep it below 1. With several workers,
  the sum of each worker's own rate (over its own first claim → last completion) leaves
  the start skew out, which tells the two apart.
* `claim + record` is, per run, its share of the claim transaction (a claim starts several
  runs at once) plus its finish transaction, wall time in the worker's thread: PostgreSQL
  round trips, SQLAlchemy, and any wait for the GIL. `DB ms/run` adds every other database
  step of a run (reap, the one read before the model call). The
  `CPU` columns of the breakdown are the Python part of those steps (time.thread_time).
* `SQL statements`, `transactions` and pool checkouts (each pre-pinged with a `SELECT 1`)
  per run, and the database connections opened while measuring: with more threads running
  database steps at once than the pool keeps (BACKBEAT_DB_POOL_SIZE), overflow connections
  are opened and closed over and over. `event loop lag`: how late a 50 ms sleep on a
  worker's event loop wakes up (the loop busy, or waiting for the GIL).
* `CPU ms/run` is each process group's CPU time (from /proc) divided by the runs: the
  workers, PostgreSQL (the whole server, other databases included), the fake model
  server. With a slow model the workers' figure also carries their idle polling and lease
  renewals, shared by fewer runs. 1000 ÷ the worker's figure is roughly what one worker
  process can do per second when it is CPU-bound (the GIL: one core of Python per
  process); the machine's cores ÷ the sum is the ceiling of this machine for all of them
  together. The `busy` line says
  who was saturated: a worker near 100% of a core is GIL-bound; a machine near 100% of all
  its cores means the processes are competing for CPU (4 workers, PostgreSQL and the fake
  server on a 2-core machine always do), and anything else running disturbs the figures.

This is a benchmark, not a test: it checks correctness, but asserts nothing about timings.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import claim_cost
import peers
import ratelimit
import wakeup
from backbeat.config import Settings
from backbeat.wiring import build
from common import (
    PG_ADMIN_URL,
    SECRET,
    Tenant,
    clean_env,
    database,
    fmt,
    machine_cpu,
    make_tenant,
    percent,
    percentile,
    postgres_cpu_seconds,
    process_cpu_seconds,
)
from worker_db import (
    AttemptRow,
    count_ended,
    create_tasks,
    empty_work,
    engine_for,
    load_attempts,
    queue_runs,
)

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
TIMED_WORKER = HERE / "timed_worker.py"
# What timed_worker.py prints on its first step, and after a SIGUSR1 reset.
READY_LINE = "timed worker: loop running"
RESET_LINE = "timed worker: measurements reset"
STARTUP_TIMEOUT = 120.0  # W interpreters importing the app at once, on a busy machine
STOP_TIMEOUT = 60.0
PARTS = ("claims", "burst", "throughput", "wakeup", "ratelimit", "peers")
PEER_PROCESSES = 4
STEPS = ("claim", "context", "model", "finish")
DB_STEPS = ("claim", "context", "finish")


# --- Processes -------------------------------------------------------------------------------


@dataclass
class Child:
    name: str
    process: subprocess.Popen[bytes]
    log: Path

    def text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def check_alive(self) -> None:
        if self.process.poll() is not None:
            raise RuntimeError(
                f"{self.name} exited ({self.process.returncode}):\n{self.text()[-3000:]}"
            )

    def cpu(self) -> float | None:
        return process_cpu_seconds(self.process.pid)

    def stop(self, timeout: float = STOP_TIMEOUT) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@contextmanager
def model_server(delay: float, log: Path) -> Iterator[tuple[Child, str]]:
    """The fake model server as a process of its own: (the process, its base URL)."""
    command = [sys.executable, "-m", "backbeat.testing.fake_models", "--port", "0"]
    command += ["--record", "0", "--delay", f"{delay:g}"]
    with log.open("wb") as sink:
        process = subprocess.Popen(
            command, cwd=REPO, env=clean_env(), stdout=subprocess.PIPE, stderr=sink
        )
    child = Child(f"fake model server {log.stem}", process, log)
    try:
        assert process.stdout is not None
        url = process.stdout.readline().decode().strip()  # its first line is its base URL
        if not url.startswith("http"):
            child.check_alive()
            raise RuntimeError(f"the fake model server printed {url!r}")
        yield child, url
    finally:
        child.stop(timeout=10)
        if process.stdout is not None:
            process.stdout.close()


def start_worker(
    number: int, database_url: str, model_url: str, options: Options, directory: Path
) -> Child:
    env = clean_env()
    env.update(
        PYTHONUNBUFFERED="1",
        BACKBEAT_DATABASE_URL=database_url,
        BACKBEAT_SECRET_KEY=SECRET,
        BACKBEAT_ANTHROPIC_API_KEY="sk-bench",
        BACKBEAT_ANTHROPIC_BASE_URL=model_url,
        BACKBEAT_WORKER_CONCURRENCY=str(options.concurrency),
        BACKBEAT_WORKER_POLL_SECONDS=f"{options.poll:g}",
    )
    if options.pool_size is not None:
        env["BACKBEAT_DB_POOL_SIZE"] = str(options.pool_size)
    log = directory / f"worker-{number}.log"
    command = [sys.executable, str(TIMED_WORKER), str(directory / f"worker-{number}.json")]
    with log.open("wb") as sink:
        process = subprocess.Popen(command, cwd=REPO, env=env, stdout=sink, stderr=sink)
    return Child(f"worker {number}", process, log)


def wait_ready(workers: Sequence[Child]) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while not all(READY_LINE in worker.text() for worker in workers):
        for worker in workers:
            worker.check_alive()
        if time.monotonic() > deadline:
            raise RuntimeError(f"the workers did not start within {STARTUP_TIMEOUT:g} s")
        time.sleep(0.05)


def reset_measurements(workers: Sequence[Child]) -> None:
    """Make the workers forget what they measured so far (the warm-up), and wait until they
    have."""
    seen = [worker.text().count(RESET_LINE) for worker in workers]
    for worker in workers:
        worker.process.send_signal(signal.SIGUSR1)
    deadline = time.monotonic() + 30
    while any(w.text().count(RESET_LINE) <= n for w, n in zip(workers, seen, strict=True)):
        for worker in workers:
            worker.check_alive()
        if time.monotonic() > deadline:
            raise RuntimeError("the workers did not confirm the reset")
        time.sleep(0.02)


def wait_finished(url: str, count: int, timeout: float, workers: Sequence[Child]) -> None:
    deadline = time.monotonic() + timeout
    with engine_for(url) as engine:
        while (ended := count_ended(engine)) < count:
            for worker in workers:
                worker.check_alive()
            if time.monotonic() > deadline:
                raise RuntimeError(f"only {ended} of {count} runs ended in time")
            time.sleep(0.1)


@dataclass
class CpuSample:
    wall: float
    workers: list[float | None]
    servers: list[float | None]
    postgres: float | None
    machine: tuple[float, float] | None

    @classmethod
    def take(cls, workers: Sequence[Child], servers: Sequence[Child], postgres: bool) -> CpuSample:
        return cls(
            time.perf_counter(),
            [worker.cpu() for worker in workers],
            [server.cpu() for server in servers],
            postgres_cpu_seconds() if postgres else None,
            machine_cpu(),
        )


def cpu_used(before: Sequence[float | None], after: Sequence[float | None]) -> float | None:
    """CPU seconds used by a group of processes between two samples; None if any is unknown."""
    used = 0.0
    for start, end in zip(before, after, strict=True):
        if start is None or end is None:
            return None
        used += end - start
    return used


# --- One case --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Options:
    concurrency: int
    poll: float
    pool_size: int | None
    warmup: bool


@dataclass(frozen=True)
class Case:
    model: str  # "instant" or "slow"
    delay: float  # seconds per answer
    workers: int
    concurrency: int
    runs: int
    servers: int  # fake model server processes
    database: str = "postgresql"  # or "sqlite"

    @property
    def label(self) -> str:
        where = "SQLite" if self.database == "sqlite" else "PostgreSQL"
        return f"{where}, {self.model} model, {self.workers} × {self.concurrency}"

    @property
    def ideal(self) -> float | None:
        """Runs per second if every slot were always busy with a model call."""
        return self.workers * self.concurrency / self.delay if self.delay > 0 else None


@dataclass
class Outcome:
    case: Case
    queued_at: datetime
    attempts: list[AttemptRow]
    timings: list[dict[str, Any]]
    before: CpuSample
    after: CpuSample
    worker_warnings: int
    problems: list[str] = field(default_factory=list)

    # Throughput, from the attempts' timestamps.

    @property
    def first_start(self) -> datetime:
        return min(row.started_at for row in self.attempts if row.started_at is not None)

    @property
    def last_end(self) -> datetime:
        return max(row.completed_at for row in self.attempts if row.completed_at is not None)

    @property
    def span(self) -> float:
        return (self.last_end - self.first_start).total_seconds()

    @property
    def rate(self) -> float:
        return self.case.runs / self.span

    @property
    def ratio(self) -> float | None:
        ideal = self.case.ideal
        return None if ideal is None else self.rate / ideal

    def mean_in_flight(self) -> float:
        """Attempts in hand on average (claimed, outcome not yet stamped) over the span."""
        busy = sum(
            (row.completed_at - row.started_at).total_seconds()
            for row in self.attempts
            if row.started_at is not None and row.completed_at is not None
        )
        return busy / self.span

    def peak_in_flight(self) -> int:
        edges: list[tuple[datetime, int]] = []
        for row in self.attempts:
            if row.started_at is not None and row.completed_at is not None:
                edges += [(row.started_at, 1), (row.completed_at, -1)]
        peak = current = 0
        for _, step in sorted(edges):  # an end sorts before a start at the same instant
            current += step
            peak = max(peak, current)
        return peak

    def shares(self) -> Counter[str]:
        return Counter(row.worker_id or "?" for row in self.attempts)

    def per_worker(self) -> list[tuple[float, float]]:
        """Per worker process: (its first claim, seconds after the runs were queued; its own
        runs/s, over its first claim → its last completion)."""
        spans: dict[str, list[datetime]] = {}
        for row in self.attempts:
            if row.started_at is not None and row.completed_at is not None:
                spans.setdefault(row.worker_id or "?", []).extend(
                    (row.started_at, row.completed_at)
                )
        shares = self.shares()
        found = []
        for worker_id, stamps in spans.items():
            first, last = min(stamps), max(stamps)
            rate = shares[worker_id] / (last - first).total_seconds()
            found.append(((first - self.queued_at).total_seconds(), rate))
        return sorted(found)

    # The workers' own measurements.

    def per_run(self, step: str, index: int = 0) -> list[float]:
        """Milliseconds per run of one step (index 0 wall, 1 CPU), over all workers."""
        return [
            values[step][index] * 1000
            for timing in self.timings
            for values in timing["runs"].values()
            if step in values
        ]

    def claim_record(self) -> list[float]:
        return [
            (values["claim"][0] + values["finish"][0]) * 1000
            for timing in self.timings
            for values in timing["runs"].values()
            if "claim" in values and "finish" in values
        ]

    def calls(self, step: str) -> list[list[float]]:
        return [call for timing in self.timings for call in timing["calls"][step]]

    def amortized_ms(self, step: str, index: int = 0) -> float:
        """A batch step's total time over all workers, per run."""
        return sum(call[index] for call in self.calls(step)) * 1000 / self.case.runs

    def db_ms_per_run(self) -> float:
        per_step = sum(sum(self.per_run(step)) for step in DB_STEPS) / self.case.runs
        return per_step + self.amortized_ms("reap")

    def total(self, key: str) -> int:
        return sum(int(timing[key]) for timing in self.timings)

    def loop_lag_ms(self) -> list[float]:
        return [lag * 1000 for timing in self.timings for lag in timing["lag"]]

    # CPU.

    @property
    def seconds(self) -> float:
        return self.after.wall - self.before.wall

    def cpu_ms_per_run(self, group: str) -> float | None:
        if group == "postgres":
            if self.before.postgres is None or self.after.postgres is None:
                return None
            used: float | None = self.after.postgres - self.before.postgres
        else:
            used = cpu_used(getattr(self.before, group), getattr(self.after, group))
        return None if used is None else used * 1000 / self.case.runs

    def busy(self, group: str) -> float | None:
        """A group's CPU as a share of one core, per process for workers and servers."""
        per_run = self.cpu_ms_per_run(group)
        if per_run is None:
            return None
        share = per_run * self.case.runs / 1000 / self.seconds
        return share / len(getattr(self.before, group)) if group != "postgres" else share

    def machine_busy(self) -> float | None:
        if self.before.machine is None or self.after.machine is None:
            return None
        busy = self.after.machine[0] - self.before.machine[0]
        return busy / (self.after.machine[1] - self.before.machine[1])


def measured_only(timing: dict[str, Any], run_ids: set[str]) -> dict[str, Any]:
    """A worker's timings without the runs of the warm-up (one may finish just after the
    reset)."""
    runs = {run_id: steps for run_id, steps in timing["runs"].items() if run_id in run_ids}
    return {**timing, "runs": runs}


def check(outcome: Outcome, queued: int) -> list[str]:
    """Every run COMPLETED, exactly once: one attempt, one model call, one finish."""
    problems: list[str] = []
    if queued != outcome.case.runs:
        problems.append(f"{queued} runs queued instead of {outcome.case.runs}")
    by_run: dict[str, list[AttemptRow]] = {}
    for row in outcome.attempts:
        by_run.setdefault(row.run_id, []).append(row)
    if len(by_run) != outcome.case.runs:
        problems.append(f"{len(by_run)} runs in the database, {outcome.case.runs} queued")
    for run_id, rows in by_run.items():
        first = rows[0]
        if (
            first.run_status != "COMPLETED"
            or first.attempt_count != 1
            or len(rows) != 1
            or (first.number, first.status) != (1, "COMPLETED")
            or not (first.output_text or "").startswith("Report: Weekly report #")
        ):
            statuses = [(row.number, row.status) for row in rows]
            problems.append(
                f"{run_id}: {first.run_status}, attempt_count {first.attempt_count}, "
                f"attempts {statuses}, output {first.output_text!r:.60}"
            )
    for step in ("model", "finish"):
        counted = Counter(
            run_id
            for timing in outcome.timings
            for run_id, values in timing["runs"].items()
            if step in values
        )
        twice = [run_id for run_id, n in counted.items() if n > 1]
        if len(counted) != outcome.case.runs or twice:
            problems.append(
                f"{step}: {len(counted)} runs seen by the workers, {len(twice)} more than once"
            )
    errors = Counter[str]()
    for timing in outcome.timings:
        errors.update(timing["errors"])
    if errors:
        problems.append(f"database steps that raised: {dict(errors)}")
    return problems


def is_warning(line: str) -> bool:
    """A worker log line at warning or error level (its logs are JSON lines off a terminal);
    anything else it printed that is not its own banner counts too."""
    if line.startswith("{"):
        try:
            return json.loads(line).get("level") in ("warning", "error", "critical")
        except ValueError:
            return True
    ours = ("Backbeat ", "Model providers", READY_LINE, RESET_LINE)
    return bool(line) and not line.startswith(ours)


def run_case(case: Case, url: str, tenant: Tenant, options: Options, directory: Path) -> Outcome:
    empty_work(url)
    backbeat = build(Settings(database_url=url, secret_key=SECRET))
    warmup = case.workers * case.concurrency if options.warmup else 0
    waves = math.ceil(case.runs / (case.workers * case.concurrency))
    timeout = 120 + case.runs / 5 + waves * case.delay * 3
    options = replace(options, concurrency=case.concurrency)
    postgres = case.database == "postgresql"
    with ExitStack() as stack:
        servers = [
            stack.enter_context(model_server(case.delay, directory / f"models-{n}.log"))
            for n in range(case.servers)
        ]
        workers: list[Child] = []
        try:
            workers = [
                start_worker(n, url, servers[n % len(servers)][1], options, directory)
                for n in range(case.workers)
            ]
            # While the workers import the app: the tasks, one per run, and the warm-up's.
            tasks = create_tasks(backbeat, tenant, case.runs + warmup)
            wait_ready(workers)
            if warmup:
                # One run per slot: connections opened, the SDK client made, caches filled.
                queue_runs(backbeat, tasks[case.runs :], warmup, fired=timedelta(days=1))
                wait_finished(url, warmup, timeout, workers)
                reset_measurements(workers)
            before = CpuSample.take(workers, [server for server, _ in servers], postgres)
            queued_at, run_ids = queue_runs(backbeat, tasks[: case.runs], case.runs)
            wait_finished(url, warmup + case.runs, timeout, workers)
            after = CpuSample.take(workers, [server for server, _ in servers], postgres)
            for worker in workers:
                worker.stop()
            timings = []
            for n, worker in enumerate(workers):
                if worker.process.returncode != 0:
                    raise RuntimeError(f"{worker.name} exited with {worker.process.returncode}")
                timing = json.loads((directory / f"worker-{n}.json").read_text())
                timings.append(measured_only(timing, run_ids))
            warnings = sum(
                1 for worker in workers for line in worker.text().splitlines() if is_warning(line)
            )
        except BaseException:
            for worker in workers:
                print(f"--- {worker.name} log (tail) ---\n{worker.text()[-2000:]}", file=sys.stderr)
            raise
        finally:
            for worker in workers:
                worker.stop(timeout=10)
            backbeat.close()
    attempts = load_attempts(url, run_ids)
    outcome = Outcome(case, queued_at, attempts, timings, before, after, warnings)
    outcome.problems = check(outcome, len(run_ids))
    return outcome


# --- Report ----------------------------------------------------------------------------------


def mean(values: Sequence[float]) -> float:
    return sum(values) / len(values) if values else float("nan")


def print_outcome(outcome: Outcome) -> None:
    case = outcome.case
    print(f"\n### {case.label}: {case.runs:,} runs\n")
    if outcome.problems:
        print(f"  PROBLEMS ({len(outcome.problems)}):")
        for problem in outcome.problems[:10]:
            print(f"    {problem}")
    else:
        print(
            f"  checked: all {case.runs:,} runs COMPLETED, each with exactly one attempt, one "
            "model call and one finish"
        )
    shares = ", ".join(str(n) for _, n in sorted(outcome.shares().items()))
    print(f"  runs per worker process: {shares}")
    pickup = (outcome.first_start - outcome.queued_at).total_seconds()
    done = (outcome.last_end - outcome.queued_at).total_seconds()
    print(
        f"  first claim {pickup:.2f} s after the runs were queued, last completion {done:.2f} s "
        f"after; runs in flight: peak {outcome.peak_in_flight()}, mean "
        f"{outcome.mean_in_flight():.1f}, of {case.workers * case.concurrency} slots"
    )
    line = f"  throughput {outcome.rate:,.1f} runs/s over {outcome.span:.2f} s"
    if case.ideal is not None:
        line += f"; ideal {case.ideal:,.1f} runs/s (W × C / {case.delay:g} s): "
        line += f"× ideal {fmt(outcome.ratio, '.3f')}"
    print(line)
    if case.workers > 1:
        workers = outcome.per_worker()
        own = sum(rate for _, rate in workers)
        line = (
            f"  the workers first claimed {workers[0][0]:.2f}-{workers[-1][0]:.2f} s after the "
            f"runs were queued; the sum of their own rates (each over its own first claim → "
            f"last completion) is {own:,.1f} runs/s"
        )
        if case.ideal is not None:
            line += f", × ideal {own / case.ideal:.3f}"
        print(line)

    claims = outcome.calls("claim")
    claimed = [call[2] for call in claims if call[2] > 0]
    print(
        f"\n  per run, ms (wall in the worker's thread)   p50      p99     mean   CPU mean"
        f"\n    reap (amortized over runs)           {'':>16} "
        f"{outcome.amortized_ms('reap'):>8.2f} {outcome.amortized_ms('reap', 1):>8.2f}"
    )
    names = {
        "claim": f"claim (share; {mean(claimed):.1f} runs/claim)",
        "context": "context read (with earlier outputs)",
        "model": "model call (SDK + HTTP)",
        "finish": "finish (record outcome)",
    }
    for step in STEPS:
        wall = outcome.per_run(step)
        cpu = "" if step == "model" else f"{mean(outcome.per_run(step, 1)):>8.2f}"
        print(
            f"    {names[step]:<36} {percentile(wall, 0.5):>8.2f} {percentile(wall, 0.99):>8.2f}"
            f" {mean(wall):>8.2f} {cpu}"
        )
    both = outcome.claim_record()
    print(
        f"    = claim + record                     {percentile(both, 0.5):>8.2f} "
        f"{percentile(both, 0.99):>8.2f} {mean(both):>8.2f}"
        f"\n    = all database steps                 {'':>17}{outcome.db_ms_per_run():>8.2f}"
    )
    empty = sum(1 for call in claims if call[2] == 0)
    print(
        f"\n  per run: {outcome.total('statements') / case.runs:.1f} SQL statements in "
        f"{outcome.total('transactions') / case.runs:.1f} transactions "
        f"(+ {outcome.total('checkouts') / case.runs:.1f} pre-ping round trips); "
        f"{len(claims):,} claims ({empty:,} found nothing); "
        f"{outcome.total('connects')} database connections opened"
    )
    lag = outcome.loop_lag_ms()
    print(
        f"  event loop lag (a 50 ms sleep wakes this late): p50 {percentile(lag, 0.5):.1f} ms, "
        f"p99 {percentile(lag, 0.99):.1f} ms, max {max(lag, default=float('nan')):.1f} ms"
    )
    worker_ms = outcome.cpu_ms_per_run("workers")
    postgres_ms = outcome.cpu_ms_per_run("postgres")
    server_ms = outcome.cpu_ms_per_run("servers")
    database = (
        f"PostgreSQL {fmt(postgres_ms, '.2f')} ms"
        if case.database == "postgresql"
        else "SQLite (in the worker's figure)"
    )
    print(
        f"  CPU per run: workers {fmt(worker_ms, '.2f')} ms, {database}, fake model server "
        f"{fmt(server_ms, '.2f')} ms"
    )
    if case.database == "sqlite":
        postgres_ms = 0.0
    if worker_ms and postgres_ms is not None and server_ms is not None:
        cores = os.cpu_count() or 1
        print(
            f"  → one worker process, CPU-bound, tops out near {1000 / worker_ms:,.0f} runs/s;"
            f" this machine ({cores} cores) near "
            f"{cores * 1000 / (worker_ms + postgres_ms + server_ms):,.0f} runs/s for all of them"
        )
    postgres_busy = (
        f"PostgreSQL {percent(outcome.busy('postgres'))}, " if case.database == "postgresql" else ""
    )
    print(
        f"  busy: each worker {percent(outcome.busy('workers'))} of a core, fake server "
        f"{percent(outcome.busy('servers'))}, {postgres_busy}"
        f"machine {percent(outcome.machine_busy())} of {os.cpu_count()} cores"
    )
    if outcome.worker_warnings:
        print(f"  the workers logged {outcome.worker_warnings} warning lines (see their logs)")


def markdown(outcomes: Sequence[Outcome], options: Options) -> str:
    lines = [
        "| Database | Model | Workers × concurrency | Runs | runs/s | × ideal | claim + record ms "
        "p50 / p99 | DB ms/run | CPU ms/run: worker / PG / fake | busy: worker / machine |",
        "|---|---|---|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for outcome in outcomes:
        case = outcome.case
        both = outcome.claim_record()
        model = "instant" if case.delay == 0 else f"{case.delay:g} s"
        cpu = " / ".join(
            fmt(outcome.cpu_ms_per_run(group), ".2f")
            for group in ("workers", "postgres", "servers")
        )
        flag = " ⚠" if outcome.problems else ""
        lines.append(
            f"| {case.database} | {model}{flag} | {case.workers} × {case.concurrency} | "
            f"{case.runs:,} | "
            f"{outcome.rate:,.1f} | {fmt(outcome.ratio, '.3f') if case.ideal else '—'} | "
            f"{percentile(both, 0.5):.1f} / {percentile(both, 0.99):.1f} | "
            f"{outcome.db_ms_per_run():.1f} | {cpu} | "
            f"{percent(outcome.busy('workers'))} / {percent(outcome.machine_busy())} |"
        )
    notes = [
        f"`backbeat worker` processes with BACKBEAT_WORKER_POLL_SECONDS="
        f"{options.poll:g}"
        + (f", BACKBEAT_DB_POOL_SIZE={options.pool_size}" if options.pool_size else "")
        + f", the fake model server in its own process(es), all on one {os.cpu_count()}-CPU "
        "machine. runs/s: runs ÷ (last completion − first start). × ideal: runs/s ÷ "
        "(workers × concurrency ÷ seconds per answer). claim + record: a run's share of its "
        "claim transaction plus its finish transaction, wall time in the worker. DB ms/run: "
        "every database step of a run. CPU: per run, from /proc (PG: the whole server; "
        "SQLite works inside the worker process).",
    ]
    if any(outcome.problems for outcome in outcomes):
        notes.append("⚠: the correctness check found problems (printed above).")
    return "\n".join(lines) + "\n\n" + "\n".join(notes)


def measure_peer(jobs: int, concurrency: int) -> peers.ProcrastinateResult | None:
    print(f"\n## Peer: procrastinate no-op jobs, {PEER_PROCESSES} worker processes\n")
    skipped = peers.missing("procrastinate")
    if skipped:
        print(skipped)
        return None
    result = peers.procrastinate_noop(jobs, PEER_PROCESSES, PG_ADMIN_URL, concurrency)
    print(result.describe())
    return result


def peer_lines(outcomes: Sequence[Outcome], peer: peers.ProcrastinateResult) -> list[str]:
    """This invocation's instant-model outcomes beside procrastinate's no-op rate."""
    theirs = (
        f"procrastinate {peer.processes} processes × {peer.concurrency}: {peer.rate:,.1f} runs/s"
    )
    instant = [o for o in outcomes if o.case.delay == 0 and o.case.database == "postgresql"]
    if not instant:
        return [
            f"{theirs} (no instant-model throughput in this invocation to compare: add "
            "`--parts throughput peers --model instant --workers 4`)"
        ]
    lines = []
    for outcome in instant:
        case, ratio = outcome.case, outcome.rate / peer.rate
        target = ""
        if case.workers == PEER_PROCESSES:
            target = f" (target ≥ 1×: {'met' if ratio >= 1 else 'MISSED'})"
        lines.append(
            f"Backbeat {case.workers} workers × {case.concurrency}: {outcome.rate:,.1f} runs/s, "
            f"{theirs}, ratio = {ratio:.2f}×{target}"
        )
    if peer.problems:
        lines.append("⚠ procrastinate's run failed its check (printed above)")
    return lines


# --- Main ------------------------------------------------------------------------------------


def configuration(options: Options) -> str:
    pool = options.pool_size or Settings.model_fields["db_pool_size"].default
    threads = min(32, (os.cpu_count() or 1) + 4)  # asyncio.to_thread's default executor
    return (
        f"Each worker: concurrency {options.concurrency}, poll every {options.poll:g} s, "
        f"database pool {pool} (+{pool} overflow, closed when returned), {threads} threads for "
        "its database steps (asyncio's default executor); "
        + ("warmed up with one run per slot first." if options.warmup else "no warm-up.")
    )


def cases(args: argparse.Namespace) -> list[Case]:
    found: list[Case] = []
    if "burst" in args.parts:  # SQLite, the embedded default: one worker, default settings
        concurrency = Settings.model_fields["worker_concurrency"].default
        burst = Case("slow", args.slow_seconds, 1, concurrency, args.burst_runs, 1, "sqlite")
        found.append(burst)
    if "throughput" not in args.parts:
        return found
    for workers in args.workers:
        if "instant" in args.model:
            found.append(
                Case("instant", 0.0, workers, args.concurrency, args.runs, args.model_servers)
            )
    for workers in args.workers:
        if "slow" in args.model:
            runs = args.slow_waves * workers * args.concurrency
            found.append(Case("slow", args.slow_seconds, workers, args.concurrency, runs, 1))
    return found


def run_cases(kind: str, chosen: Sequence[Case], options: Options, logs: Path) -> list[Outcome]:
    outcomes: list[Outcome] = []
    with database(kind, "backbeat_bench_worker") as url:
        backbeat = build(Settings(database_url=url, secret_key=SECRET))
        try:
            tenant = make_tenant(backbeat, "bench@example.com")
        finally:
            backbeat.close()
        name = "SQLite" if kind == "sqlite" else "PostgreSQL"
        print(f"\n## Worker throughput on {name} ({os.cpu_count()} CPUs)\n")
        print(configuration(replace(options, concurrency=chosen[0].concurrency)))
        for case in chosen:
            directory = logs / f"{kind}-{case.model}-{case.workers}"
            directory.mkdir()
            outcome = run_case(case, url, tenant, options, directory)
            print_outcome(outcome)
            outcomes.append(outcome)
    return outcomes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--model",
        nargs="+",
        choices=("instant", "slow"),
        default=["instant", "slow"],
        help="which model speeds to run (default both)",
    )
    parser.add_argument(
        "--workers", type=int, nargs="+", default=[1, 4], help="worker processes (default 1 4)"
    )
    parser.add_argument(
        "--concurrency", type=int, default=10, help="BACKBEAT_WORKER_CONCURRENCY (default 10)"
    )
    parser.add_argument(
        "--runs", type=int, default=2000, help="runs for the instant model (default 2000)"
    )
    parser.add_argument(
        "--slow-seconds", type=float, default=2.0, help="the slow model's answer time (default 2)"
    )
    parser.add_argument(
        "--slow-waves",
        type=int,
        default=6,
        help="slow model: runs = waves × workers × concurrency (default 6)",
    )
    parser.add_argument(
        "--model-servers",
        type=int,
        default=1,
        help="fake model server processes for the instant model (default 1)",
    )
    parser.add_argument(
        "--poll", type=float, default=1.0, help="BACKBEAT_WORKER_POLL_SECONDS (default 1)"
    )
    parser.add_argument(
        "--pool-size", type=int, default=None, help="BACKBEAT_DB_POOL_SIZE (default: Backbeat's)"
    )
    parser.add_argument(
        "--no-warmup",
        action="store_true",
        help="measure from the workers' first run (default: one run per slot first, unmeasured)",
    )
    parser.add_argument(
        "--parts",
        nargs="+",
        choices=PARTS,
        default=list(PARTS),
        help="claims: one claim's cost against the runs waiting (SQLite and PostgreSQL); "
        "burst: SQLite, a burst drained by one worker with the default settings; "
        "throughput: the PostgreSQL cases above; "
        "wakeup: queued → executing with and without LISTEN/NOTIFY; "
        "ratelimit: the 09:00 burst against a rate-limited provider; "
        "peers: procrastinate's no-op job rate, 4 processes (the bench group) (default: all)",
    )
    parser.add_argument(
        "--claim-levels",
        type=int,
        nargs="+",
        default=list(claim_cost.LEVELS),
        help="claims: runs waiting (default 10 1000 10000)",
    )
    parser.add_argument(
        "--claim-limit", type=int, default=1, help="claims: runs per claim (default 1)"
    )
    parser.add_argument(
        "--burst-runs", type=int, default=2000, help="burst: runs due at once (default 2000)"
    )
    parser.add_argument(
        "--wakeup-runs", type=int, default=300, help="wakeup: runs queued (default 300)"
    )
    parser.add_argument("--ratelimit-runs", type=int, default=10_000, help="ratelimit: runs")
    parser.add_argument("--ratelimit-slots", type=int, default=200, help="ratelimit: slots")
    parser.add_argument(
        "--ratelimit-delay", type=float, default=1.0, help="ratelimit: model seconds (1)"
    )
    parser.add_argument(
        "--ratelimit-rpm", type=float, default=1800, help="ratelimit: requests a minute (1800)"
    )
    parser.add_argument(
        "--ratelimit-tpm",
        type=float,
        default=3_000_000,
        help="ratelimit: tokens a minute (3,000,000)",
    )
    parser.add_argument(
        "--ratelimit-modes",
        nargs="+",
        choices=ratelimit.MODES,
        default=["settings"],
        help="ratelimit: where the worker's limits come from (settings; headers: none set)",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="smaller sizes: --runs 500 --slow-waves 3 --burst-runs 500",
    )
    args = parser.parse_args()
    if args.quick:
        args.runs, args.slow_waves, args.burst_runs = 500, 3, 500
    options = Options(args.concurrency, args.poll, args.pool_size, not args.no_warmup)

    started = time.perf_counter()
    claims: list[claim_cost.Result] = []
    if "claims" in args.parts:
        print(f"## One claim against the runs waiting ({os.cpu_count()} CPUs)")
        for kind in ("sqlite", "postgresql"):
            result = claim_cost.measure(kind, args.claim_levels, limit=args.claim_limit)
            claim_cost.report(result)
            claims.append(result)
    outcomes: list[Outcome] = []
    wakeups: list[wakeup.Mode] = []
    bursts: list[ratelimit.Outcome] = []
    with tempfile.TemporaryDirectory(prefix="bench-worker-") as logs:
        if "ratelimit" in args.parts:
            limit = ratelimit.Limit(
                args.ratelimit_runs,
                args.ratelimit_slots,
                args.ratelimit_delay,
                args.ratelimit_rpm,
                args.ratelimit_tpm,
            )
            bursts = ratelimit.measure(limit, args.ratelimit_modes, Path(logs))
        if "wakeup" in args.parts:
            wakeups = wakeup.measure(args.wakeup_runs, args.poll, Path(logs))
            wakeup.report(wakeups, args.poll)
        for kind in ("sqlite", "postgresql"):
            chosen = [case for case in cases(args) if case.database == kind]
            if chosen:
                outcomes += run_cases(kind, chosen, options, Path(logs))
    peer = measure_peer(args.runs, args.concurrency) if "peers" in args.parts else None
    print(f"\n## Summary (took {time.perf_counter() - started:.0f}s)\n")
    if claims:
        print(claim_cost.markdown(claims) + "\n")
    if wakeups:
        print(wakeup.markdown(wakeups) + "\n")
    if bursts:
        print(ratelimit.markdown(bursts) + "\n")
    if outcomes:
        print(markdown(outcomes, options))
    if peer is not None:
        print("\n" + "\n".join(peer_lines(outcomes, peer)))
    if any(outcome.problems for outcome in outcomes):
        raise SystemExit(1)


if __name__ == "__main__":
    main()
