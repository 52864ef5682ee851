"""`backbeat worker`, unchanged, with its database steps timed: the child process of
benchmarks/worker.py.

    BACKBEAT_DATABASE_URL=… BACKBEAT_ANTHROPIC_API_KEY=… BACKBEAT_ANTHROPIC_BASE_URL=… \\
        .venv/bin/python benchmarks/timed_worker.py TIMINGS.json

It wraps WorkQueue's steps (reap, claim, context, previous_outputs, emails_sent, finish),
`Executor.execute` and the model call (`run_agent`) with timers, counts the SQL statements,
transactions and new database connections of the process, then runs the CLI's `worker`
command as `backbeat worker` would. On exit (SIGTERM: the worker drains and returns) it
writes what it measured to TIMINGS.json. The wrappers cost a few microseconds per call.

Each WorkQueue step runs in a thread of its own (asyncio.to_thread), so its wall time is
taken in that thread, after it got a pool thread: PostgreSQL round trips, SQLAlchemy's own
work, and any wait for the GIL while other threads or the event loop hold it. Its CPU time
(time.thread_time) is the Python part alone.

It also samples the event loop's lag (how late a 50 ms sleep wakes up: the loop busy, or
waiting for the GIL), and counts pool checkouts (each one pre-pinged: a `SELECT 1` round trip
that is not among the statements counted).

It prints one line to stderr when the worker's loop takes its first step (the parent waits
for it before queueing runs). SIGUSR1 forgets everything measured so far (after a warm-up),
and prints a line when done.
"""

from __future__ import annotations

import asyncio
import functools
import json
import os
import signal
import sys
import threading
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from types import FrameType
from typing import Any, ParamSpec, TypeVar

from sqlalchemy import Engine, event
from sqlalchemy.pool import Pool

import backbeat.worker.executor as executor_module
from backbeat.agents.loop import run_agent
from backbeat.services.worker import Claim, Outcome, WorkQueue
from backbeat.worker.executor import Executor
from backbeat.worker.loop import Worker

P = ParamSpec("P")
R = TypeVar("R")

READY_LINE = "timed worker: loop running"
RESET_LINE = "timed worker: measurements reset"
LAG_INTERVAL = 0.05  # the probe costs ~0.2% of a core (at 10 ms: ~1%)


class Recorder:
    """What the process measured. Lists are appended to from several threads (atomic in
    CPython); the counters are only approximately exact under contention, which is fine."""

    def __init__(self) -> None:
        self.worker_id: str | None = None
        self.steps = 0
        self.reset()

    def reset(self) -> None:
        self.started = time.time()
        # Per call of the batch steps: [wall s, CPU s, runs].
        self.calls: dict[str, list[list[float]]] = {"reap": [], "claim": []}
        # Per run: step → [wall s, CPU s]; the claim entry is its share of its transaction.
        self.runs: dict[str, dict[str, list[float]]] = {}
        self.errors: dict[str, int] = {}
        self.lag: list[float] = []  # seconds late, per LAG_INTERVAL sleep on the event loop
        self.statements = 0
        self.transactions = 0
        self.checkouts = 0
        self.connects = 0
        self._lock = threading.Lock()

    def run(self, run_id: str) -> dict[str, list[float]]:
        with self._lock:
            return self.runs.setdefault(run_id, {})

    def error(self, step: str) -> None:
        with self._lock:
            self.errors[step] = self.errors.get(step, 0) + 1

    def to_json(self) -> dict[str, Any]:
        return {
            "pid": os.getpid(),
            "worker_id": self.worker_id,
            "started": self.started,
            "calls": self.calls,
            "runs": self.runs,
            "errors": self.errors,
            "lag": self.lag,
            "statements": self.statements,
            "transactions": self.transactions,
            "checkouts": self.checkouts,
            "connects": self.connects,
        }


recorder = Recorder()


def _timed_batch(name: str, method: Callable[P, list[Any]]) -> Callable[P, list[Any]]:
    """reap and claim: one transaction for several runs."""

    @functools.wraps(method)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> list[Any]:
        wall, cpu = time.perf_counter(), time.thread_time()
        try:
            result = method(*args, **kwargs)
        except BaseException:
            recorder.error(name)
            raise
        wall, cpu = time.perf_counter() - wall, time.thread_time() - cpu
        recorder.calls[name].append([wall, cpu, len(result)])
        if name == "claim":
            if recorder.worker_id is None and len(args) > 1:
                recorder.worker_id = str(args[1])
            for claim in result:
                recorder.run(claim.run.id)["claim"] = [wall / len(result), cpu / len(result)]
        return result

    return wrapper


def _timed_per_run(name: str, method: Callable[P, R], run_id: Callable[..., str]) -> Callable[P, R]:
    """A step taken once per run: its wall and CPU time, filed under the run."""

    @functools.wraps(method)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        wall, cpu = time.perf_counter(), time.thread_time()
        try:
            result = method(*args, **kwargs)
        except BaseException:
            recorder.error(name)
            raise
        wall, cpu = time.perf_counter() - wall, time.thread_time() - cpu
        recorder.run(run_id(*args))[name] = [wall, cpu]
        return result

    return wrapper


def _timed_async(
    name: str, function: Callable[P, Awaitable[R]], run_id: Callable[..., str]
) -> Callable[P, Awaitable[R]]:
    """A coroutine on the event loop: wall time only (its CPU is shared with everything)."""

    @functools.wraps(function)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        wall = time.perf_counter()
        try:
            return await function(*args, **kwargs)
        finally:
            recorder.run(run_id(*args))[name] = [time.perf_counter() - wall, 0.0]

    return wrapper


async def _probe_loop_lag() -> None:
    while True:
        started = time.perf_counter()
        await asyncio.sleep(LAG_INTERVAL)
        recorder.lag.append(time.perf_counter() - started - LAG_INTERVAL)


def _first_step_announced(step: Callable[[Worker], Awaitable[int]]) -> Callable[[Worker], Any]:
    probes: list[asyncio.Task[None]] = []  # a reference, or the task may be collected

    @functools.wraps(step)
    async def wrapper(self: Worker) -> int:
        if recorder.steps == 0:
            probes.append(asyncio.create_task(_probe_loop_lag()))
            print(READY_LINE, file=sys.stderr, flush=True)
        recorder.steps += 1
        return await step(self)

    return wrapper


def _reset(_signum: int, _frame: FrameType | None) -> None:
    recorder.reset()
    print(RESET_LINE, file=sys.stderr, flush=True)


def instrument() -> None:
    queue: Any = WorkQueue  # assigning to methods: typed as Any on purpose
    queue.reap = _timed_batch("reap", WorkQueue.reap)
    queue.claim = _timed_batch("claim", WorkQueue.claim)
    # One read before the model call: the run's context with the task's earlier outputs.
    queue.context = _timed_per_run("context", WorkQueue.context, lambda _q, run, _n: run.id)

    def finished_run(_queue: WorkQueue, claim: Claim, _outcome: Outcome) -> str:
        return claim.run.id

    queue.finish = _timed_per_run("finish", WorkQueue.finish, finished_run)
    executor: Any = Executor
    executor.execute = _timed_async(
        "execute", Executor.execute, lambda _executor, claim: claim.run.id
    )
    # The model call, with the SDK's request building and parsing: run_agent's 6th argument
    # is the run's ToolContext.
    module: Any = executor_module
    module.run_agent = _timed_async("model", run_agent, lambda *args: args[5].run_id)
    worker: Any = Worker
    worker.step = _first_step_announced(Worker.step)

    def on_statement(*_args: Any) -> None:
        recorder.statements += 1

    def on_begin(*_args: Any) -> None:
        recorder.transactions += 1

    def on_checkout(*_args: Any) -> None:
        recorder.checkouts += 1

    def on_connect(*_args: Any) -> None:
        recorder.connects += 1

    event.listen(Engine, "before_cursor_execute", on_statement)
    event.listen(Engine, "begin", on_begin)
    event.listen(Pool, "checkout", on_checkout)
    event.listen(Pool, "connect", on_connect)
    signal.signal(signal.SIGUSR1, _reset)


def main() -> None:
    if len(sys.argv) != 2:
        raise SystemExit("usage: timed_worker.py TIMINGS.json")
    output = Path(sys.argv[1])
    instrument()
    from backbeat.cli import app

    try:
        app(["worker"], prog_name="backbeat")
    finally:
        output.write_text(json.dumps(recorder.to_json()))


if __name__ == "__main__":
    main()
