"""Server-side cost of the dashboard's heaviest pages, beside `GET /api/tasks`, on SQLite and
on PostgreSQL.

Run from the repository root:

    .venv/bin/python benchmarks/dashboard.py                      # both databases
    .venv/bin/python benchmarks/dashboard.py --database sqlite    # or postgresql
    .venv/bin/python benchmarks/dashboard.py --repeat 30 --repeat-small 500

PostgreSQL is reached at $BACKBEAT_TEST_PG_URL (default
postgresql+psycopg://postgres@127.0.0.1:5432/postgres), as the tests reach it: the script
creates its own database there (tests/databases.py) and drops it afterwards. SQLite uses a
file in a temporary directory.

What it does, per database:

1. Seeds an account with 1,000 tasks (through `TaskService.create`, varied cron schedules in
   several time zones), 6 finished runs per task, and two more runs of its first task: one
   with 1 attempt and one with 20 (19 failed, then one completed, with tool calls in the
   output), their attempts written through the work repository (`add_attempt`). A second
   account has 1 task and its 6 runs.
2. Signs in to the dashboard as each account (the sign-in form, with its CSRF token) in an
   in-process starlette TestClient, so each request goes through the whole app (session
   cookie, key re-check, services, template, security headers) but not a socket.
3. Counts the SQL statements of one request (after a warm-up request) with a SQLAlchemy
   `before_cursor_execute` listener: the tasks page with 1 and with 1,000 tasks, the run page
   with 1 and with 20 attempts, and `GET /api/tasks` with 1 and 1,000 tasks.
4. Times each request after a warm-up, in the same process and the same run as
   `GET /api/tasks` for the same account, interleaved with it (one of each per round):
   `--repeat` rounds of the 1,000-task requests, `--repeat-small` of the others; and how
   much of each page is the Jinja template.

How to read the figures:

* `best` is the fastest request (the least disturbed by anything else on the machine),
  `median` the typical one, in milliseconds, measured around `client.get` (the whole app,
  in process; no network, no browser).
* `× API` is a page's time over that of `GET /api/tasks` for the same account (1,000
  tasks) in the same run, of the best and of the median requests: machine-independent,
  unlike the milliseconds. The tasks page and the API listing read the same tasks, recent
  runs and fire times; the page renders HTML, the API a larger JSON body (prompts and 5
  full runs per task).
* On the 1,000-task requests, the gap between best and median is Python's cyclic garbage
  collector: a full collection every few requests, set off by the objects a listing
  allocates (with `gc.disable()` the samples are within a few percent of the best). A
  server pays it too, so it stays on: `best` is the request without it, `median` with its
  share.
* `template` is the median time spent in Jinja's `render` for that page; the rest is the
  session, the services (database) and the response.
* `per task` is (tasks page with 1,000 tasks − with 1) ÷ 999, `per attempt` (run page with 20
  attempts − with 1) ÷ 19, from the best times (the collector's pauses would swamp them):
  what one more row costs.
* SQL statements per request must not grow with the number of tasks or attempts (no N+1);
  the script exits with status 1 if they do. On SQLite each unit of work's BEGIN is counted.

This is a benchmark, not a test: it asserts nothing about timings.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import statistics
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

import jinja2
from sqlalchemy import event
from starlette.testclient import TestClient

from backbeat.asgi import create_app
from backbeat.config import Settings
from backbeat.dashboard.session import CSRF_FIELD
from backbeat.domain.ids import new_attempt_id, new_run_id
from backbeat.domain.models import Attempt, Run
from backbeat.domain.runs import AttemptStatus, RunStatus, Trigger
from backbeat.wiring import Backbeat, build
from common import PROMPT, SECRET, Tenant, create_tasks, database, describe, fmt, make_tenant

TASKS = 1_000
RUNS_PER_TASK = 6
ATTEMPTS = 20
OUTPUT: dict[str, Any] = {
    "text": "## Weekly pulse\n\nStreams are **up 12%** week on week.\n\n"
    + "".join(f"- Track {n}: {1000 * n:,} listeners\n" for n in range(1, 11)),
    "model": "anthropic/claude-sonnet-4.6",
    "provider": "anthropic",
    "turns": 3,
    "tool_calls": [
        {
            "name": "fetch_web_page",
            "arguments": {"url": "https://example.com/charts"},
            "is_error": False,
            "result": "URL: https://example.com/charts\nStatus: 200\n" + "Chart line\n" * 20,
        },
        {
            "name": "send_email",
            "arguments": {"to": ["owner@example.com"], "subject": "Pulse"},
            "is_error": False,
            "result": "Sent to owner@example.com (subject: 'Pulse').",
        },
    ],
    "emails_sent": [{"to": "owner@example.com", "subject": "Pulse"}],
    "pages_fetched": [{"url": "https://example.com/charts", "status": 200}],
    "usage": {"input_tokens": 5200, "output_tokens": 640, "requests": 3},
    "price_known": True,
}


# --- Seeding -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Dataset:
    url: str
    big: Tenant  # 1,000 tasks, and the runs with 1 and 20 attempts
    small: Tenant  # 1 task
    one_attempt: str  # run ids
    many_attempts: str
    runs: int


def a_run(
    tenant: Tenant,
    task_id: UUID,
    created_at: datetime,
    status: RunStatus,
    *,
    attempts: int = 1,
    output: dict[str, Any] | None = None,
) -> Run:
    started_at = created_at + timedelta(seconds=1)
    finished_at = started_at + timedelta(seconds=40)
    failed = status is not RunStatus.COMPLETED
    return Run(
        id=new_run_id(),
        task_id=task_id,
        account_id=tenant.account_id,
        artist_account_id=tenant.artist_id,
        task_identifier="customer-prompt-task",
        status=status,
        trigger=Trigger.SCHEDULED,
        trigger_function="scheduled",
        idempotency_key=None,
        scheduled_for=created_at,
        is_test=False,
        created_at=created_at,
        updated_at=finished_at,
        max_attempts=max(attempts, 3),
        attempt_count=attempts,
        tags=["scheduled"],
        metadata={"model": "anthropic/claude-sonnet-4.6"},
        payload={"prompt": PROMPT, "title": "Weekly pulse #0", "model": "anthropic/x"},
        output=None if failed else (output or {"text": "Streams up 12% week on week. " * 40}),
        error={"message": "model provider timed out"} if failed else None,
        started_at=started_at,
        finished_at=finished_at,
        duration_ms=40_000,
        cost_in_cents=12.5,
    )


def add_runs(
    backbeat: Backbeat, tenant: Tenant, tasks: list[UUID], rng: random.Random, now: datetime
) -> int:
    """RUNS_PER_TASK finished runs per task, spread over the past week."""
    added = 0
    for start in range(0, len(tasks), 250):
        with backbeat.uow(write=True) as uow:
            for task_id in tasks[start : start + 250]:
                gap = timedelta(minutes=rng.randrange(30, 7 * 24 * 60 // RUNS_PER_TASK))
                for number in range(RUNS_PER_TASK):
                    status = rng.choices((RunStatus.COMPLETED, RunStatus.FAILED), (8, 2))[0]
                    run = a_run(tenant, task_id, now - gap * (number + 1), status)
                    added += uow.runs.add(run)
            uow.commit()
    return added


def attempted_run(
    backbeat: Backbeat, tenant: Tenant, task_id: UUID, attempts: int, now: datetime
) -> str:
    """A completed run whose first attempts failed (rate limited), with its attempt rows."""
    created_at = now - timedelta(minutes=attempts)  # "run now": no fire time to collide on
    run = replace(
        a_run(tenant, task_id, created_at, RunStatus.COMPLETED, attempts=attempts, output=OUTPUT),
        trigger=Trigger.MANUAL,
        trigger_function="trigger",
        scheduled_for=None,
    )
    with backbeat.uow(write=True) as uow:
        if not uow.runs.add(run):
            raise RuntimeError(f"run {run.id} was not inserted")
        for number in range(1, attempts + 1):
            at = run.created_at + timedelta(seconds=30 * number)
            last = number == attempts
            uow.work.add_attempt(
                Attempt(
                    id=new_attempt_id(),
                    run_id=run.id,
                    number=number,
                    status=AttemptStatus.COMPLETED if last else AttemptStatus.FAILED,
                    created_at=at,
                    updated_at=at + timedelta(seconds=20),
                    started_at=at,
                    completed_at=at + timedelta(seconds=20),
                    error=None
                    if last
                    else {
                        "name": "RateLimit",
                        "message": "429 Too Many Requests: retry after 30 s",
                        "kind": "rate_limited",
                    },
                    worker_id="bench-worker",
                )
            )
        uow.commit()
    return run.id


def seed(url: str) -> Dataset:
    rng = random.Random(20260105)
    backbeat = build(Settings(database_url=url, secret_key=SECRET))
    try:
        now = backbeat.clock.now().replace(microsecond=0)
        big = make_tenant(backbeat, "big@example.com")
        small = make_tenant(backbeat, "small@example.com")
        big_tasks = [task.id for task in create_tasks(backbeat, big, TASKS, rng)]
        small_tasks = [task.id for task in create_tasks(backbeat, small, 1, rng)]
        runs = add_runs(backbeat, big, big_tasks, rng, now)
        runs += add_runs(backbeat, small, small_tasks, rng, now)
        one = attempted_run(backbeat, big, big_tasks[0], 1, now)
        many = attempted_run(backbeat, big, big_tasks[0], ATTEMPTS, now)
    finally:
        backbeat.close()
    return Dataset(url, big, small, one, many, runs + 2)


# --- Measuring -----------------------------------------------------------------------------

_CSRF = re.compile(rf'name="{CSRF_FIELD}" value="([^"]+)"')


def signed_in(app: Any, tenant: Tenant) -> TestClient:
    """A client with its own cookies, signed in to the dashboard through the sign-in form."""
    client = TestClient(app)
    found = _CSRF.search(client.get("/").text)
    if found is None:
        raise RuntimeError("no CSRF token on the sign-in page")
    response = client.post(
        "/dashboard/sign-in",
        data={CSRF_FIELD: found.group(1), "key": tenant.key},
        follow_redirects=False,
    )
    if response.status_code != 303:
        raise RuntimeError(f"sign-in answered {response.status_code}: {response.text[:200]}")
    return client


@dataclass(frozen=True)
class Request:
    label: str
    client: TestClient
    path: str
    headers: dict[str, str] | None = None
    template: str | None = None  # the page's template, for its share of the time


@dataclass
class Timing:
    label: str
    ms: list[float]
    template_ms: list[float]
    size: int
    api: Timing | None = None  # GET /api/tasks for the same account, in the same run

    @property
    def best(self) -> float:
        return min(self.ms)

    @property
    def median(self) -> float:
        return statistics.median(self.ms)

    @property
    def template(self) -> float | None:
        return statistics.median(self.template_ms) if self.template_ms else None

    @property
    def ratio_best(self) -> float | None:
        return None if self.api is None else self.best / self.api.best

    @property
    def ratio_median(self) -> float | None:
        return None if self.api is None else self.median / self.api.median


@dataclass
class RenderClock:
    """Time spent in jinja2.Template.render, per template name (patched in only while timing)."""

    spent: dict[str, float] = field(default_factory=dict)

    @contextmanager
    def installed(self) -> Iterator[None]:
        original = jinja2.Template.render

        def render(template: jinja2.Template, *args: Any, **kwargs: Any) -> str:
            started = time.perf_counter()
            try:
                return original(template, *args, **kwargs)
            finally:
                name = template.name or "?"
                self.spent[name] = self.spent.get(name, 0.0) + time.perf_counter() - started

        jinja2.Template.render = render  # type: ignore[method-assign,assignment]
        try:
            yield
        finally:
            jinja2.Template.render = original  # type: ignore[method-assign]


def get(request: Request) -> int:
    response = request.client.get(request.path, headers=request.headers, follow_redirects=False)
    if response.status_code != 200:
        raise RuntimeError(f"{request.label}: {response.status_code} {response.text[:300]}")
    return len(response.content)


def time_requests(requests: list[Request], repeat: int) -> list[Timing]:
    """Each request `repeat` times, interleaved (one of each per round), so that whatever
    drifts on the machine during the measurement falls on all of them alike."""
    for request in requests:
        get(request)  # warm: statement caches, fire-time cache, compiled templates
    clock = RenderClock()
    timings = [Timing(request.label, [], [], 0) for request in requests]
    with clock.installed():
        for _ in range(repeat):
            for request, timing in zip(requests, timings, strict=True):
                clock.spent.clear()
                started = time.perf_counter()
                timing.size = get(request)
                timing.ms.append((time.perf_counter() - started) * 1000)
                if request.template is not None:
                    timing.template_ms.append(clock.spent.get(request.template, 0.0) * 1000)
    return timings


def count_statements(backbeat: Backbeat, request: Request) -> list[str]:
    statements: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    get(request)  # warm-up, not counted
    event.listen(backbeat.engine, "before_cursor_execute", record)
    try:
        get(request)
    finally:
        event.remove(backbeat.engine, "before_cursor_execute", record)
    return statements


@dataclass(frozen=True)
class Counted:
    label: str
    small: str  # "1 task"
    large: str  # "1,000 tasks"
    small_statements: list[str]
    large_statements: list[str]

    @property
    def constant(self) -> bool:
        return len(self.small_statements) == len(self.large_statements)


@dataclass
class Report:
    database: str
    seed_seconds: float
    runs: int
    counts: list[Counted]
    timings: list[Timing]
    per_task_ms: float
    per_attempt_ms: float


def bench_database(kind: str, repeat: int, repeat_small: int) -> Report:
    print(f"\n## {kind}\n")
    with database(kind) as url:
        started = time.perf_counter()
        data = seed(url)
        seed_seconds = time.perf_counter() - started
        print(
            f"seeded in {seed_seconds:.1f}s: {TASKS:,} tasks + 1, {data.runs:,} runs "
            f"(one with 1 attempt, one with {ATTEMPTS})"
        )
        backbeat = build(Settings(database_url=url, secret_key=SECRET))
        try:
            with TestClient(create_app(backbeat)) as anonymous:
                big = signed_in(anonymous.app, data.big)
                small = signed_in(anonymous.app, data.small)
                run_path = "/dashboard/runs/{}"
                tasks_big = Request(
                    f"GET /dashboard/tasks ({TASKS:,} tasks)",
                    big,
                    "/dashboard/tasks",
                    template="tasks.html",
                )
                tasks_small = Request(
                    "GET /dashboard/tasks (1 task)",
                    small,
                    "/dashboard/tasks",
                    template="tasks.html",
                )
                run_many = Request(
                    f"GET /dashboard/runs/{{id}} ({ATTEMPTS} attempts)",
                    big,
                    run_path.format(data.many_attempts),
                    template="run.html",
                )
                run_one = Request(
                    "GET /dashboard/runs/{id} (1 attempt)",
                    big,
                    run_path.format(data.one_attempt),
                    template="run.html",
                )
                api_big = Request(
                    f"GET /api/tasks ({TASKS:,} tasks)",
                    anonymous,
                    "/api/tasks",
                    headers=data.big.headers,
                )
                api_small = Request(
                    "GET /api/tasks (1 task)", anonymous, "/api/tasks", headers=data.small.headers
                )

                counts = [
                    Counted(
                        "GET /dashboard/tasks",
                        "1 task",
                        f"{TASKS:,} tasks",
                        count_statements(backbeat, tasks_small),
                        count_statements(backbeat, tasks_big),
                    ),
                    Counted(
                        "GET /dashboard/runs/{id}",
                        "1 attempt",
                        f"{ATTEMPTS} attempts",
                        count_statements(backbeat, run_one),
                        count_statements(backbeat, run_many),
                    ),
                    Counted(
                        "GET /api/tasks",
                        "1 task",
                        f"{TASKS:,} tasks",
                        count_statements(backbeat, api_small),
                        count_statements(backbeat, api_big),
                    ),
                ]
                print("\nSQL statements per request (session or key check included):")
                for counted in counts:
                    verdict = "equal" if counted.constant else "DIFFERENT (grows with rows!)"
                    print(
                        f"  {counted.label:<26} {counted.small}: "
                        f"{len(counted.small_statements)}, {counted.large}: "
                        f"{len(counted.large_statements)}  → {verdict}"
                    )
                    kinds = ", ".join(describe(s) for s in counted.large_statements)
                    print(f"  {'':<26} [{kinds}]")

                # Interleaved with the API listing of the same account, in the same run.
                api_big_t, tasks_big_t = time_requests([api_big, tasks_big], repeat)
                run_many_t, run_one_t, api_small_t, tasks_small_t = time_requests(
                    [run_many, run_one, api_small, tasks_small], repeat_small
                )
        finally:
            backbeat.close()
    timings = [api_big_t, tasks_big_t, run_many_t, api_small_t, tasks_small_t, run_one_t]
    for timing in (tasks_big_t, run_many_t, run_one_t):
        timing.api = api_big_t  # all three are the big account's
    tasks_small_t.api = api_small_t
    per_task = (tasks_big_t.best - tasks_small_t.best) / (TASKS - 1)
    per_attempt = (run_many_t.best - run_one_t.best) / (ATTEMPTS - 1)

    print(
        f"\nServer side, in process, after a warm-up ({repeat} requests each with "
        f"{TASKS:,} tasks, {repeat_small} each of the others, interleaved; ms):"
    )
    print(
        f"  {'request':<38} {'best':>8} {'median':>8} {'× API best / median':>20}"
        f" {'template':>9} {'bytes':>10}"
    )
    for timing in timings:
        ratios = f"{fmt(timing.ratio_best, '.2f')} / {fmt(timing.ratio_median, '.2f')}"
        print(
            f"  {timing.label:<38} {timing.best:>8.2f} {timing.median:>8.2f} {ratios:>20}"
            f" {fmt(timing.template, '.2f'):>9} {timing.size:>10,}"
        )
    print(
        f"\n  one more task on the tasks page: {per_task * 1000:.0f} µs; "
        f"one more attempt on the run page: {per_attempt * 1000:.0f} µs (best times)"
    )
    return Report(kind, seed_seconds, data.runs, counts, timings, per_task, per_attempt)


def markdown(reports: list[Report]) -> str:
    lines = [
        "| database | request | best ms | median ms | × `GET /api/tasks`, best / median "
        "| template ms | body |",
        "|---|---|--:|--:|--:|--:|--:|",
    ]
    for report in reports:
        for timing in report.timings:
            lines.append(
                f"| {report.database} | {timing.label} | {timing.best:.1f} | "
                f"{timing.median:.1f} | "
                f"{fmt(timing.ratio_best, '.2f')} / {fmt(timing.ratio_median, '.2f')} | "
                f"{fmt(timing.template, '.1f')} | {timing.size / 1000:,.0f} kB |"
            )
    lines += ["", "| database | request | SQL statements | constant |", "|---|---|---|---|"]
    for report in reports:
        for counted in report.counts:
            lines.append(
                f"| {report.database} | {counted.label} | "
                f"{len(counted.small_statements)} with {counted.small}, "
                f"{len(counted.large_statements)} with {counted.large} | "
                f"{'yes' if counted.constant else '**no**'} |"
            )
    notes = [
        "",
        "In process (starlette TestClient: the whole app, no socket), one request at a time "
        f"on a {os.cpu_count() or 1}-CPU machine. × `GET /api/tasks` = the page's time ÷ "
        "the API listing's for the same account in the same run (best, then median).",
        *(
            f"{r.database}: one more task costs the tasks page {r.per_task_ms * 1000:.0f} µs, "
            f"one more attempt the run page {r.per_attempt_ms * 1000:.0f} µs (best times)."
            for r in reports
        ),
    ]
    return "\n".join(lines + notes)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--database", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument(
        "--repeat",
        type=int,
        default=15,
        help=f"timed requests of each {TASKS:,}-task listing (default 15)",
    )
    parser.add_argument(
        "--repeat-small",
        type=int,
        default=200,
        help="timed requests of each of the other pages (default 200)",
    )
    args = parser.parse_args()
    started = time.perf_counter()
    kinds = ["sqlite", "postgresql"] if args.database == "both" else [args.database]
    reports = [bench_database(kind, args.repeat, args.repeat_small) for kind in kinds]
    print(f"\n## Summary (took {time.perf_counter() - started:.0f}s)\n")
    print(markdown(reports))
    if not all(counted.constant for report in reports for counted in report.counts):
        print("\nSQL statements grew with the number of rows: see above.", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
