"""What one claim costs against the number of runs waiting, on SQLite and PostgreSQL: the
first part of benchmarks/worker.py (`--parts claims`).

For each database: one account with 10,000+ tasks and a history of completed runs (what a
service that has been running holds; on PostgreSQL analyzed once, as autovacuum would have,
and not again, so the burst below arrives on statistics that say almost nothing waits). Then,
per level (10, 1,000, 10,000 runs waiting, one per task, all due, as one scheduler tick
queues them): `--claims` claims through the worker's own service call (WorkQueue.claim: the
query, the runs started, their attempts added, one transaction), each timed on its own, with
as many runs queued again after each (not timed) so the level stays where it is. Printed: the
median and p90 per claim (wall; and the median of this process's CPU, which with SQLite
includes the database's work), the ratio of the largest level's median to the smallest's, and the
claim query's plan at each level (SQLite: EXPLAIN QUERY PLAN; PostgreSQL: EXPLAIN ANALYZE,
actual rows, in a transaction rolled back). Imported as `claim_cost`.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import delete, event, text, update

from backbeat.config import Settings
from backbeat.domain.failures import RetryPolicy
from backbeat.services.worker import WorkQueue
from backbeat.store.tables import attempts, runs
from backbeat.wiring import Backbeat, build
from common import SECRET, database, make_tenant, percentile
from worker_db import create_tasks, queue_runs

LEVELS = (10, 1_000, 10_000)
HISTORY = 20_000  # completed runs already in the table
CLAIMS = 50  # timed per level
WORKER = "bench-claims"


@dataclass(frozen=True)
class Level:
    waiting: int
    seconds: list[float]  # per claim, wall
    cpu: list[float]  # per claim, this process's thread (with SQLite: the database's work too)
    plan: list[str]

    @property
    def median_ms(self) -> float:
        return percentile(self.seconds, 0.5) * 1000

    @property
    def cpu_ms(self) -> float:
        return percentile(self.cpu, 0.5) * 1000

    @property
    def p90_ms(self) -> float:
        return percentile(self.seconds, 0.9) * 1000


@dataclass(frozen=True)
class Result:
    database: str
    limit: int
    levels: list[Level]

    @property
    def ratio(self) -> float:
        return self.levels[-1].median_ms / self.levels[0].median_ms


def measure(
    kind: str,
    levels: Sequence[int] = LEVELS,
    *,
    claims: int = CLAIMS,
    limit: int = 1,
    history: int = HISTORY,
) -> Result:
    with database(kind, "backbeat_bench_claims") as url:
        backbeat = build(Settings(database_url=url, secret_key=SECRET))
        try:
            tenant = make_tenant(backbeat, "claims@example.com")
            tasks = create_tasks(backbeat, tenant, max(levels) + claims * limit)
            seed_history(backbeat, tasks, history)
            queue = WorkQueue(
                backbeat.uow, backbeat.clock, lease=timedelta(minutes=5), retry=RetryPolicy()
            )
            found = [
                measure_level(backbeat, queue, tasks, waiting, claims, limit) for waiting in levels
            ]
        finally:
            backbeat.close()
    return Result(kind, limit, found)


def seed_history(backbeat: Backbeat, tasks: Sequence[Any], count: int) -> None:
    if count:
        queue_runs(backbeat, tasks, count, fired=timedelta(days=30))
    with backbeat.engine.begin() as connection:
        connection.execute(update(runs).values(status="COMPLETED"))
    if backbeat.engine.dialect.name == "postgresql":
        with backbeat.engine.connect() as connection:
            autocommit = connection.execution_options(isolation_level="AUTOCOMMIT")
            autocommit.execute(text("VACUUM ANALYZE runs"))


def measure_level(
    backbeat: Backbeat,
    queue: WorkQueue,
    tasks: Sequence[Any],
    waiting: int,
    claims: int,
    limit: int,
) -> Level:
    forget_waiting(backbeat)
    queue_runs(backbeat, tasks[:waiting], waiting)
    spare = list(tasks[waiting : waiting + claims * limit])
    statements: list[tuple[str, Any]] = []

    def capture(_c: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if "busy" in statement:  # the claim query (its subquery's alias)
            statements.append((statement, parameters))

    seconds: list[float] = []
    cpu: list[float] = []
    # The benchmark's own 10,000 tasks and runs out of the collector's way (a worker process
    # holds none of them): its full collections are not the claim's cost.
    gc.collect()
    gc.freeze()
    event.listen(backbeat.engine, "before_cursor_execute", capture)
    try:
        for number in range(claims):
            started, thread = time.perf_counter(), time.thread_time()
            claimed = queue.claim(WORKER, limit)
            seconds.append(time.perf_counter() - started)
            cpu.append(time.thread_time() - thread)
            if len(claimed) != limit:
                raise RuntimeError(f"claimed {len(claimed)} runs of {limit} with {waiting} waiting")
            queue_runs(backbeat, spare[number * limit : (number + 1) * limit], limit)
    finally:
        event.remove(backbeat.engine, "before_cursor_execute", capture)
        gc.unfreeze()
    return Level(waiting, seconds, cpu, explain(backbeat, *statements[-1]))


def forget_waiting(backbeat: Backbeat) -> None:
    """The previous level's runs gone (the history stays); on PostgreSQL vacuumed, as
    autovacuum would have, so their dead index entries are not walked over."""
    with backbeat.engine.begin() as connection:
        connection.execute(delete(attempts))
        connection.execute(delete(runs).where(runs.c.status != "COMPLETED"))
    if backbeat.engine.dialect.name == "postgresql":
        with backbeat.engine.connect() as connection:
            autocommit = connection.execution_options(isolation_level="AUTOCOMMIT")
            autocommit.execute(text("VACUUM runs"))  # no ANALYZE: statistics stay stale


def explain(backbeat: Backbeat, statement: str, parameters: Any) -> list[str]:
    with backbeat.engine.connect() as connection:
        if backbeat.engine.dialect.name == "sqlite":
            rows = connection.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters)
            depths: dict[int, int] = {}
            plan = []
            for node, parent, _, detail in rows:  # a node comes after its parent
                depths[node] = depths[parent] + 1 if parent in depths else 0
                plan.append("  " * depths[node] + str(detail))
        else:
            options = "ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF"
            rows = connection.exec_driver_sql(f"EXPLAIN ({options}) {statement}", parameters)
            plan = [str(row[0]) for row in rows]
        connection.rollback()
    return plan


def report(result: Result) -> None:
    name = "SQLite" if result.database == "sqlite" else "PostgreSQL"
    print(
        f"\n### {name}: one claim (WorkQueue.claim of {result.limit} run"
        f"{'s' if result.limit > 1 else ''}) against the runs waiting\n"
    )
    print("  waiting   median ms   p90 ms   CPU ms (median, in process)")
    for level in result.levels:
        print(
            f"  {level.waiting:>7,} {level.median_ms:>11.2f} {level.p90_ms:>8.2f} "
            f"{level.cpu_ms:>8.2f}"
        )
    first, last = result.levels[0], result.levels[-1]
    print(
        f"  → {last.waiting:,} waiting ÷ {first.waiting:,} waiting: {result.ratio:.2f}× "
        "(target: within 2×)"
    )
    for level in result.levels:
        print(f"\n  plan with {level.waiting:,} waiting:")
        for line in level.plan:
            print(f"    {line}")


def markdown(results: Sequence[Result]) -> str:
    if not results:
        return ""
    waiting = [level.waiting for level in results[0].levels]
    head = " | ".join(f"{n:,} waiting" for n in waiting)
    lines = [
        f"| Database (median ms per claim) | {head} | {waiting[-1]:,} ÷ {waiting[0]:,} |",
        "|---|" + "--:|" * (len(waiting) + 1),
    ]
    for result in results:
        cells = " | ".join(f"{level.median_ms:.2f}" for level in result.levels)
        lines.append(f"| {result.database} | {cells} | {result.ratio:.2f}× |")
    return "\n".join(lines)
