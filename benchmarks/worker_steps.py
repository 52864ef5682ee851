"""The worker's three database steps in process, one run at a time: SQL statements and CPU
per step (claim, the run's context, finish), without the event loop, the model call or HTTP.

    .venv/bin/python benchmarks/worker_steps.py                 # PostgreSQL, 1,000 runs
    .venv/bin/python benchmarks/worker_steps.py --database sqlite --runs 300

Each run is created through RunService.trigger (not counted), then claimed, its context read
and its outcome recorded through the same WorkQueue the worker uses; CPU is this thread's
(time.thread_time), so it leaves out the database server's. The first 50 runs warm up (the
compiled-statement cache, psycopg's prepared statements) and are not counted. About 30 s.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from datetime import timedelta
from typing import Any, TypeVar

from sqlalchemy import event

from backbeat.config import Settings
from backbeat.domain.failures import RetryPolicy
from backbeat.services.webhooks import RunEvents
from backbeat.services.worker import Outcome, WorkQueue
from backbeat.wiring import build
from common import create_tasks, database, make_tenant

WARMUP = 50
TASKS = 50
STEPS = ("claim", "context", "finish")
T = TypeVar("T")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database", choices=("postgresql", "sqlite"), default="postgresql")
    parser.add_argument("--runs", type=int, default=1000)
    args = parser.parse_args()
    with database(args.database) as url:
        backbeat = build(Settings(database_url=url, secret_key="k" * 40))
        tenant = make_tenant(backbeat, "steps@example.com")
        tasks = create_tasks(backbeat, tenant, TASKS, random.Random(1))
        queue = WorkQueue(
            backbeat.uow,
            backbeat.clock,
            lease=timedelta(seconds=60),
            retry=RetryPolicy(),
            events=RunEvents(None),
            box=backbeat.box,
        )
        statements: Counter[str] = Counter()
        current = ["-"]
        event.listen(
            backbeat.engine, "before_cursor_execute", lambda *_: statements.update(current)
        )
        cpu: defaultdict[str, list[float]] = defaultdict(list)

        def step(name: str, call: Callable[..., T], *arguments: Any) -> T:
            current[0] = name
            started = time.thread_time()
            result = call(*arguments)
            cpu[name].append((time.thread_time() - started) * 1000)
            return result

        outcome = Outcome(
            output={"text": "report " * 50, "tokens": 1000, "tool_calls": []},
            failure=None,
            cost_in_cents=1.2,
        )
        for number in range(WARMUP + args.runs):
            if number == WARMUP:
                statements.clear()
                cpu.clear()
            backbeat.runs.trigger(tenant.caller, tasks[number % TASKS].id)
            [claim] = step("claim", queue.claim, "bench-worker", 1)
            step("context", queue.context, claim.run, 5)
            step("finish", queue.finish, claim, outcome)
        backbeat.close()
    print(f"{args.database}, {args.runs:,} runs, one at a time")
    print(f"{'step':8} {'statements':>10} {'CPU ms p50':>11} {'CPU ms mean':>12}")
    for name in STEPS:
        per_run = statements[name] / args.runs
        p50, mean = statistics.median(cpu[name]), statistics.mean(cpu[name])
        print(f"{name:8} {per_run:10.1f} {p50:11.2f} {mean:12.2f}")
    total = sum(statistics.mean(cpu[name]) for name in STEPS)
    print(f"{'total':8} {sum(statements.values()) / args.runs:10.1f} {'':11} {total:12.2f}")


if __name__ == "__main__":
    main()
