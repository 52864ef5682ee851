"""The 09:00 burst against a provider's rate limit: `--parts ratelimit` of
benchmarks/worker.py. Imported as `ratelimit`.

`--ratelimit-runs` (10,000) runs due at one instant on PostgreSQL, drained by one
`backbeat worker` (exactly as the CLI runs it) with `--ratelimit-slots` (200) slots against
the fake model server in a process of its own, answering in `--ratelimit-delay` (1 s) and
enforcing `--ratelimit-rpm` requests (1,800) and `--ratelimit-tpm` tokens per minute for its
Anthropic API, as Anthropic does: buckets that hold a minute's worth and refill
continuously, 429 with `retry-after` past them, the `anthropic-ratelimit-*` headers on every
answer (backbeat/testing/fake_model_limits.py).

Each mode is one worker:

* `settings`: BACKBEAT_ANTHROPIC_REQUESTS_PER_MINUTE and _TOKENS_PER_MINUTE set to the
  server's limits;
* `headers`: no limit set; the worker keeps to what the answers' headers say (and their
  429s' `retry-after`).

What the limit allows: the server's buckets start full (a minute's worth), then let in
`rpm / 60` requests and `tpm / 60` tokens a second, so N requests using T tokens in all need
at least max((N − rpm) ÷ (rpm / 60), (T − tpm) ÷ (tpm / 60)) seconds, counted from the first
request (tokens as the server counted them). `drain` is the first attempt's start → the last
run's completion; `× allowed` is drain ÷ that (1.0 is the limit's own pace; the target is ≤
1.1). Failed runs, runs that needed more than one attempt, and the 429s the server sent are
counted. A benchmark, not a test: nothing is asserted about time.
"""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from backbeat.config import Settings
from backbeat.wiring import build
from common import (
    REPO,
    SECRET,
    clean_env,
    database,
    make_tenant,
    start_worker_process,
    wait_for,
)
from worker_db import count_ended, create_tasks, engine_for, load_attempts, queue_runs

MODES = ("settings", "headers")


@dataclass(frozen=True)
class Limit:
    runs: int
    slots: int
    delay: float
    rpm: float
    tpm: float


@dataclass(frozen=True)
class Outcome:
    mode: str
    limit: Limit
    drain: float  # seconds, first attempt started → last run completed
    from_queued: float  # seconds, runs queued → last run completed
    completed: int
    failed: int
    retried: int  # runs that took more than one attempt
    admitted: int  # requests the server let in
    refused: int  # 429s the server sent
    tokens: int  # tokens the server counted

    @property
    def allowed(self) -> float:
        rate_requests, rate_tokens = self.limit.rpm / 60, self.limit.tpm / 60
        return max(
            (self.admitted - self.limit.rpm) / rate_requests,
            (self.tokens - self.limit.tpm) / rate_tokens,
            0.0,
        )

    @property
    def ratio(self) -> float:
        return self.drain / self.allowed if self.allowed else float("nan")


@contextmanager
def model_server(limit: Limit, log: Path) -> Iterator[str]:
    """The rate-limited fake model server as a process of its own: its base URL."""
    command = [sys.executable, "-m", "backbeat.testing.fake_models", "--port", "0"]
    command += ["--record", "0", "--delay", f"{limit.delay:g}"]
    command += ["--requests-per-minute", f"{limit.rpm:g}", "--tokens-per-minute", f"{limit.tpm:g}"]
    with log.open("wb") as sink:
        process = subprocess.Popen(
            command, cwd=REPO, env=clean_env(), stdout=subprocess.PIPE, stderr=sink
        )
    try:
        assert process.stdout is not None
        url = process.stdout.readline().decode().strip()
        if not url.startswith("http"):
            raise RuntimeError(f"the fake model server printed {url!r}")
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)
        if process.stdout is not None:
            process.stdout.close()


def measure(limit: Limit, modes: list[str], directory: Path) -> list[Outcome]:
    outcomes: list[Outcome] = []
    for mode in modes:  # a database of its own each
        with database("postgresql", prefix="backbeat_ratelimit") as url:
            outcome = _one_mode(url, mode, limit, directory)
        report_one(outcome)
        outcomes.append(outcome)
    return outcomes


def _one_mode(url: str, mode: str, limit: Limit, directory: Path) -> Outcome:
    env = clean_env() | {
        "PYTHONUNBUFFERED": "1",
        "BACKBEAT_DATABASE_URL": url,
        "BACKBEAT_SECRET_KEY": SECRET,
        "BACKBEAT_ANTHROPIC_API_KEY": "sk-bench",
        "BACKBEAT_WORKER_CONCURRENCY": str(limit.slots),
        "BACKBEAT_LOG_FORMAT": "json",
        "BACKBEAT_LOG_LEVEL": "INFO",
    }
    if mode == "settings":
        env["BACKBEAT_ANTHROPIC_REQUESTS_PER_MINUTE"] = f"{limit.rpm:g}"
        env["BACKBEAT_ANTHROPIC_TOKENS_PER_MINUTE"] = f"{limit.tpm:g}"
    backbeat = build(Settings(database_url=url, secret_key=SECRET))
    log = directory / f"ratelimit-worker-{mode}.log"
    with model_server(limit, directory / f"ratelimit-models-{mode}.log") as model_url:
        env["BACKBEAT_ANTHROPIC_BASE_URL"] = model_url
        worker = start_worker_process(env, log)
        try:
            tenant = make_tenant(backbeat, f"ratelimit-{mode}@example.com")
            tasks = create_tasks(backbeat, tenant, limit.runs)
            started = '"worker.started"'
            wait_for(lambda: started in log.read_text(errors="replace"), worker, "the worker")
            queued_at, run_ids = queue_runs(backbeat, tasks, limit.runs)
            with engine_for(url) as engine:
                wait_for(
                    lambda: count_ended(engine) >= limit.runs,
                    worker,
                    "every run to end",
                    timeout=600 + 4 * limit.runs * 60 / limit.rpm,
                )
            with urllib.request.urlopen(model_url + "/_control/limits", timeout=10) as answer:
                stats = json.loads(answer.read())
        finally:
            worker.terminate()
            worker.wait(timeout=60)
            backbeat.close()
    rows = load_attempts(url, run_ids)
    firsts = [row.started_at for row in rows if row.started_at is not None]
    lasts = [row.completed_at for row in rows if row.completed_at is not None]
    statuses = {row.run_id: (row.run_status, row.attempt_count) for row in rows}
    return Outcome(
        mode=mode,
        limit=limit,
        drain=(max(lasts) - min(firsts)).total_seconds(),
        from_queued=(max(lasts) - queued_at).total_seconds(),
        completed=sum(1 for status, _ in statuses.values() if status == "COMPLETED"),
        failed=sum(1 for status, _ in statuses.values() if status != "COMPLETED"),
        retried=sum(1 for _, count in statuses.values() if count > 1),
        admitted=int(stats["admitted"]),
        refused=int(stats["rate_limited"]),
        tokens=int(stats["tokens"]),
    )


def report_one(outcome: Outcome) -> None:
    limit = outcome.limit
    print(
        f"\n### The 09:00 burst, limits from the {outcome.mode}: {limit.runs:,} runs, one "
        f"worker × {limit.slots} slots, {limit.delay:g} s model, {limit.rpm:,.0f} requests "
        f"and {limit.tpm:,.0f} tokens a minute\n"
    )
    print(
        f"  drain {outcome.drain:.1f} s (first start → last completion; "
        f"{outcome.from_queued:.1f} s from the queueing); the limit allows "
        f"{outcome.allowed:.1f} s for {outcome.admitted:,} requests and {outcome.tokens:,} "
        f"tokens ({outcome.tokens / max(1, outcome.admitted):,.0f} a request): "
        f"× allowed {outcome.ratio:.3f}"
    )
    print(
        f"  runs: {outcome.completed:,} completed, {outcome.failed:,} failed, "
        f"{outcome.retried:,} needed another attempt; 429s from the server: {outcome.refused:,}"
    )


def markdown(outcomes: list[Outcome]) -> str:
    lines = [
        "| limits from | runs | slots | model | rpm / tpm | drain s | allowed s | × allowed "
        "| failed | retried | 429s |",
        "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for o in outcomes:
        limit = o.limit
        lines.append(
            f"| {o.mode} | {limit.runs:,} | {limit.slots} | {limit.delay:g} s | "
            f"{limit.rpm:,.0f} / {limit.tpm:,.0f} | {o.drain:.1f} | {o.allowed:.1f} | "
            f"{o.ratio:.3f} | {o.failed} | {o.retried} | {o.refused} |"
        )
    return "\n".join(lines)
