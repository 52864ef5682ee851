"""Queued → executing on PostgreSQL: how long a run waits for a worker that is idle, with the
worker's poll at `--poll` (1 s) and its LISTEN for the NOTIFY of the transaction that queued
the run (store/wakeups.py) off, then on, in the same run: `--parts wakeup` of
benchmarks/worker.py. Imported as `wakeup`.

One `backbeat worker` process (exactly as the CLI runs it; BACKBEAT_WORKER_LISTEN false, then
true) against a fake model that answers at once. This process queues `--wakeup-runs` runs
one at a time through the run-now service call (RunService.trigger, what
`POST /api/tasks/runs/trigger` does), each for a task of its own, at random gaps (uniform
20–200 ms: arrivals not in step with the poll), after WARMUP runs not measured (the first runs of
a worker pay for its first connections and model client, during which its loop looks at
nothing). The latency of a run is its first attempt's
`started_at` (stamped by the worker once its claim query answered) minus the run's
`created_at` (stamped by the service before its transaction commits): the commit, the wake-up
or the poll, and the claim. Printed: p50, p90, p99 and max per mode.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select

from backbeat.config import Settings
from backbeat.store.tables import attempts, runs
from backbeat.testing.fake_models import FakeModelServer
from backbeat.wiring import build
from common import (
    SECRET,
    clean_env,
    database,
    make_tenant,
    percentile,
    start_worker_process,
    wait_for,
)
from worker_db import count_ended, create_tasks, engine_for

GAPS = (0.02, 0.2)  # seconds between two runs queued, uniform
WARMUP = 10  # runs first, not measured


@dataclass(frozen=True)
class Mode:
    listen: bool
    latencies: list[float]  # seconds, one per run

    @property
    def label(self) -> str:
        return "LISTEN/NOTIFY + poll" if self.listen else "poll only"

    def ms(self, fraction: float) -> float:
        return percentile(self.latencies, fraction) * 1000


def measure(count: int, poll: float, directory: Path) -> list[Mode]:
    modes: list[Mode] = []
    with database("postgresql", prefix="backbeat_wakeup") as url, FakeModelServer() as models:
        for listen in (False, True):  # the first mode's runs stay, ended: count on from them
            log = directory / f"wakeup-worker-{'listen' if listen else 'poll'}.log"
            modes.append(
                Mode(listen, _one_mode(url, models.url_anthropic, listen, poll, count, log))
            )
    return modes


def _one_mode(
    url: str, model_url: str, listen: bool, poll: float, count: int, log: Path
) -> list[float]:
    env = clean_env() | {
        "PYTHONUNBUFFERED": "1",
        "BACKBEAT_DATABASE_URL": url,
        "BACKBEAT_SECRET_KEY": SECRET,
        "BACKBEAT_ANTHROPIC_API_KEY": "sk-bench",
        "BACKBEAT_ANTHROPIC_BASE_URL": model_url,
        "BACKBEAT_WORKER_POLL_SECONDS": f"{poll:g}",
        "BACKBEAT_WORKER_LISTEN": "true" if listen else "false",
        "BACKBEAT_LOG_FORMAT": "json",
        "BACKBEAT_LOG_LEVEL": "INFO",
    }
    backbeat = build(Settings(database_url=url, secret_key=SECRET))
    worker = start_worker_process(env, log)
    try:
        tenant = make_tenant(backbeat, f"wakeup-{listen}@example.com")
        tasks = create_tasks(backbeat, tenant, WARMUP + count)
        ready = '"worker.listening"' if listen else '"worker.started"'
        wait_for(lambda: ready in log.read_text(errors="replace"), worker, "the worker to start")
        with engine_for(url) as engine:
            ended = count_ended(engine)  # the previous mode's
            # Warm-up, not measured: the first runs of a worker pay for its first connections
            # and model client, during which its loop looks at nothing.
            for task in tasks[:WARMUP]:
                backbeat.runs.trigger(tenant.caller, task.id)
            wait_for(lambda: count_ended(engine) >= ended + WARMUP, worker, "the warm-up")
            rng = random.Random(16)
            run_ids: list[str] = []
            for task in tasks[WARMUP:]:
                time.sleep(rng.uniform(*GAPS))
                run_ids.append(backbeat.runs.trigger(tenant.caller, task.id).id)
            target = ended + WARMUP + count
            wait_for(lambda: count_ended(engine) >= target, worker, "every run to end")
            query = (
                select(runs.c.created_at, attempts.c.started_at)
                .join(attempts, attempts.c.run_id == runs.c.id)
                .where(runs.c.id.in_(run_ids), attempts.c.number == 1)
            )
            with engine.connect() as connection:
                rows = connection.execute(query).all()
    finally:
        worker.terminate()
        worker.wait(timeout=60)
        backbeat.close()
    assert len(rows) == count, f"{len(rows)} first attempts for {count} runs"
    ordered = sorted(rows)  # by created_at: the order queued
    return [(started - created).total_seconds() for created, started in ordered]


def report(modes: list[Mode], poll: float) -> None:
    for mode in modes:  # the tail: which runs (by the order queued) waited longest
        worst = sorted(range(len(mode.latencies)), key=lambda i: -mode.latencies[i])[:8]
        slowest = ", ".join(f"#{i} {mode.latencies[i] * 1000:.0f} ms" for i in worst)
        print(f"{mode.label}, slowest: {slowest}")
    print(f"\n## Queued → executing, one idle worker, poll {poll:g} s (PostgreSQL)\n")
    print(markdown(modes))


def markdown(modes: list[Mode]) -> str:
    lines = [
        "| wake-up | runs | p50 ms | p90 ms | p99 ms | max ms |",
        "|---|--:|--:|--:|--:|--:|",
    ]
    for mode in modes:
        lines.append(
            f"| {mode.label} | {len(mode.latencies)} | {mode.ms(0.5):.1f} | {mode.ms(0.9):.1f} "
            f"| {mode.ms(0.99):.1f} | {max(mode.latencies) * 1000:.1f} |"
        )
    return "\n".join(lines)
