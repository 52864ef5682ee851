"""HTTP benchmark of the Tasks API, on SQLite and on PostgreSQL.

Run from the repository root:

    .venv/bin/python benchmarks/api.py                        # both databases
    .venv/bin/python benchmarks/api.py --database sqlite      # or postgresql
    .venv/bin/python benchmarks/api.py --requests 5000 --list-requests 200 --concurrency 16

PostgreSQL is reached at $BACKBEAT_BENCH_PG_URL (default: $BACKBEAT_TEST_PG_URL, else
postgresql+psycopg://postgres@127.0.0.1:5432/postgres); the script creates its own database
there and drops it afterwards. SQLite uses a file in a temporary directory.

What it does, per database:

1. Seeds an account with 1,000 tasks (through `TaskService.create`, with varied cron
   schedules in several time zones) and 6 finished runs per task (through the run
   repository), an account with 1 task, and an account that receives the POSTs.
2. Counts the SQL statements of one `GET /api/tasks` for the 1-task and the 1,000-task
   account, in process (starlette TestClient and a `before_cursor_execute` listener).
3. Times the phases of listing 1,000 tasks in process, without HTTP (single thread).
4. Starts the real app under uvicorn in a subprocess (one worker, loopback, the same
   `uvicorn.run(...)` call as `backbeat serve`), with one extra route, `GET /bench/ping`
   (no auth, returns {"ok": true}), and drives it from this process with an async httpx
   client at a fixed concurrency.

How to read the figures:

* `req/s` is throughput at the given concurrency; `p50`/`p99` are client-side latencies
  (request sent → body fully read), in milliseconds. With concurrency C, a request waits
  behind up to C-1 others, so p50 ≈ C × the per-request cost once the server is saturated.
  With few requests (the 1,000-task listing) p99 is simply the slowest one.
* `× ceiling` is an endpoint's req/s divided by `/bench/ping`'s on the same server in the
  same run. Absolute numbers depend on the machine; the ratios travel better. The ping
  route goes through the same middleware stack, so the ceiling is "this app doing nothing".
* `server CPU ms/req` is the server process's CPU time (all threads, from /proc) divided by
  the requests served: what a request costs, whoever is the bottleneck. Its ratio to the
  ping's is printed too. The `busy` line says who was the bottleneck: the server process
  (near 100% of a core means saturated: the app is GIL-bound), this client process (httpx
  costs ~1 ms of CPU per request, so the ping is usually client-bound on a small machine,
  which makes the req/s ratios flatter the slower endpoints), or the machine as a whole
  (PostgreSQL's processes, or anything else running, compete for the same cores; a machine
  near 100% while server + client are well below it means the figures are disturbed).
* The `GET /api/tasks` response for 1,000 tasks carries 5 recent runs and 5 upcoming fire
  times per task; its size is printed.
* SQL statements per listing should not grow with the number of tasks (no N+1). Each is
  named by its table; on SQLite the BEGIN of each unit of work is counted too.

This is a benchmark, not a test: it asserts nothing about timings.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Coroutine, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import httpx
import orjson
from sqlalchemy import event
from starlette.testclient import TestClient

from backbeat.asgi import create_app
from backbeat.config import Settings
from backbeat.domain.ids import new_run_id
from backbeat.domain.models import Run, Task
from backbeat.domain.runs import RunStatus, Trigger
from backbeat.edge.serialize import task_json
from backbeat.ops import logs
from backbeat.services.keys import Caller, authenticate
from backbeat.services.tasks import RECENT_RUNS, UPCOMING
from backbeat.wiring import Backbeat, build
from common import (
    PROMPT,
    SECRET,
    ZONES,
    Tenant,
    create_tasks,
    cron_schedule,
    database,
    describe,
    machine_cpu,
    make_tenant,
    percent,
    percentile,
    process_cpu_seconds,
)

SECRET_ENV = "BACKBEAT_BENCH_SECRET"
TASKS = 1_000
RUNS_PER_TASK = 6
T = TypeVar("T")


# --- Seeding -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Dataset:
    url: str
    big: Tenant  # 1,000 tasks
    small: Tenant  # 1 task
    writer: Tenant  # receives the POSTs, so the big account stays at 1,000 tasks
    distinct_schedules: int
    runs: int


def finished_run(tenant: Tenant, task: Task, created_at: datetime, rng: random.Random) -> Run:
    status = rng.choices((RunStatus.COMPLETED, RunStatus.FAILED, RunStatus.CRASHED), (8, 2, 1))[0]
    duration = timedelta(milliseconds=rng.randrange(5_000, 180_000))
    started_at = created_at + timedelta(seconds=rng.uniform(0.1, 3))
    failed = status is not RunStatus.COMPLETED
    return Run(
        id=new_run_id(),
        task_id=task.id,
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
        updated_at=started_at + duration,
        max_attempts=3,
        attempt_count=3 if failed else 1,
        tags=["scheduled", f"task_{task.id.hex[:8]}"],
        metadata={"model": "anthropic/claude-sonnet-4.5"},
        payload={"prompt": PROMPT, "schedule": task.schedule, "timezone": task.timezone},
        output=None if failed else {"text": "Streams up 12% week on week. " * 40},
        error={"message": "model provider timed out"} if failed else None,
        started_at=started_at,
        finished_at=started_at + duration,
        duration_ms=int(duration.total_seconds() * 1000),
        cost_in_cents=round(rng.uniform(0.5, 40), 2),
    )


def add_runs(backbeat: Backbeat, tenant: Tenant, tasks: list[Task], rng: random.Random) -> int:
    """RUNS_PER_TASK finished runs per task, spread over the past 30 days."""
    now = backbeat.clock.now().replace(second=0, microsecond=0)
    added = 0
    for start in range(0, len(tasks), 250):
        with backbeat.uow(write=True) as uow:
            for task in tasks[start : start + 250]:
                gap = timedelta(minutes=rng.randrange(30, 7 * 24 * 60 // RUNS_PER_TASK))
                for number in range(RUNS_PER_TASK):
                    created_at = now - gap * (number + 1)
                    added += uow.runs.add(finished_run(tenant, task, created_at, rng))
            uow.commit()
    return added


def seed(url: str) -> Dataset:
    rng = random.Random(20260105)
    backbeat = build(Settings(database_url=url, secret_key=SECRET))
    try:
        big = make_tenant(backbeat, "big@example.com")
        small = make_tenant(backbeat, "small@example.com")
        writer = make_tenant(backbeat, "writer@example.com")
        big_tasks = create_tasks(backbeat, big, TASKS, rng)
        small_tasks = create_tasks(backbeat, small, 1, rng)
        runs = add_runs(backbeat, big, big_tasks, rng) + add_runs(backbeat, small, small_tasks, rng)
    finally:
        backbeat.close()
    distinct = len({(task.schedule, task.timezone) for task in big_tasks})
    return Dataset(url, big, small, writer, distinct, runs)


# --- In-process measurements ---------------------------------------------------------------


def count_queries(data: Dataset) -> dict[str, list[str]]:
    """The SQL statements of one GET /api/tasks, per account (after a warm-up request)."""
    backbeat = build(Settings(database_url=data.url, secret_key=SECRET))
    statements: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    event.listen(backbeat.engine, "before_cursor_execute", record)
    found = {}
    try:
        with TestClient(create_app(backbeat)) as client:
            for label, tenant in (("1 task", data.small), (f"{TASKS:,} tasks", data.big)):
                client.get("/api/tasks", headers=tenant.headers)
                statements.clear()
                response = client.get("/api/tasks", headers=tenant.headers)
                if response.status_code != 200:
                    raise RuntimeError(f"GET /api/tasks answered {response.status_code}")
                found[label] = list(statements)
    finally:
        backbeat.close()
    return found


def best_ms(action: Callable[[], T], repeat: int = 5) -> tuple[float, T]:
    """The fastest of `repeat` runs (the least disturbed by anything else on the machine)."""
    result = action()
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        result = action()
        best = min(best, (time.perf_counter() - started) * 1000)
    return best, result


def phases(data: Dataset) -> list[tuple[str, float]]:
    """Where a 1,000-task listing spends its time, in process, single-threaded, no HTTP."""
    backbeat = build(Settings(database_url=data.url, secret_key=SECRET))
    tenant = data.big
    try:
        backbeat.tasks.list_tasks(tenant.caller)  # warm: statement cache, upcoming cache
        results: list[tuple[str, float]] = []

        def auth() -> Caller:
            with backbeat.uow() as uow:
                return authenticate(uow, backbeat.settings.secret, tenant.key, backbeat.clock.now())

        results.append(("authenticate (1 query)", best_ms(auth)[0]))
        with backbeat.uow() as uow:
            ms, tasks = best_ms(lambda: uow.tasks.list_for_account(tenant.account_id))
            results.append(("tasks query + Task objects", ms))
            ids = [task.id for task in tasks]
            ms, _ = best_ms(lambda: uow.accounts.emails({tenant.account_id}))
            results.append(("owner emails query", ms))
            ms, _ = best_ms(lambda: uow.runs.recent_by_task(ids, RECENT_RUNS))
            results.append((f"recent runs query + Run objects ({RECENT_RUNS}/task)", ms))
        now = backbeat.clock.now()
        ms, _ = best_ms(lambda: [t.parsed_schedule().upcoming(now, UPCOMING) for t in tasks])
        results.append((f"upcoming fire times ({UPCOMING}/task, cached)", ms))
        ms, views = best_ms(lambda: backbeat.tasks.list_tasks(tenant.caller))
        results.append(("= TaskService.list_tasks (all of the above but auth)", ms))
        ms, body = best_ms(lambda: {"status": "success", "tasks": [task_json(v) for v in views]})
        results.append(("task_json for every task (dicts, ISO dates)", ms))
        ms, _ = best_ms(lambda: orjson.dumps(body))
        results.append(("orjson.dumps", ms))
    finally:
        backbeat.close()
    return results


# --- The server ----------------------------------------------------------------------------


def serve(url: str, port: int) -> None:
    """The subprocess: the real app plus /bench/ping, as `backbeat serve` runs it."""
    import uvicorn

    config = Settings(database_url=url, secret_key=os.environ[SECRET_ENV])
    # Logs as `backbeat serve` configures them (cli/common.py: one handler, library noise
    # at WARNING), or each request would cost what an unconfigured process's logging costs.
    logs.configure(config.log_level, config.log_format, config.secret_values())
    backbeat = build(config)
    app = create_app(backbeat)

    @app.get("/bench/ping", include_in_schema=False)
    async def ping() -> dict[str, bool]:
        return {"ok": True}

    uvicorn.run(app, host="127.0.0.1", port=port, log_level="info")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass(frozen=True)
class Server:
    pid: int
    base_url: str


@contextmanager
def running_server(url: str, log_path: Path) -> Iterator[Server]:
    port = free_port()
    command = [sys.executable, __file__, "--serve", url, "--port", str(port)]
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, SECRET_ENV: SECRET}
        )
    server = Server(process.pid, f"http://127.0.0.1:{port}")
    try:
        deadline = time.monotonic() + 30
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"server exited: {log_path.read_text()[-2000:]}")
            try:
                if httpx.get(f"{server.base_url}/bench/ping", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise
            time.sleep(0.1)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


# --- Load ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Endpoint:
    label: str
    method: str
    path: str
    requests: int
    headers: dict[str, str] = field(default_factory=dict)
    body: Callable[[int], bytes] | None = None


@dataclass
class Result:
    database: str
    endpoint: str
    requests: int
    errors: int
    seconds: float
    latencies: list[float]
    response_bytes: int
    server_cpu: float | None  # CPU seconds of the server process per second, ~1.0 = one core
    client_cpu: float  # the same for this process
    machine_cpu: float | None  # share of all the machine's cores that was busy
    ceiling: Result | None = None  # the ping on the same server, filled in afterwards

    @property
    def rps(self) -> float:
        return self.requests / self.seconds

    def percentile_ms(self, fraction: float) -> float:
        return percentile(self.latencies, fraction) * 1000

    @property
    def server_ms(self) -> float | None:
        """Server CPU per request: independent of how fast the client can send."""
        if self.server_cpu is None:
            return None
        return self.server_cpu * self.seconds / self.requests * 1000

    @property
    def ratio(self) -> float:
        return self.rps / self.ceiling.rps if self.ceiling else float("nan")

    @property
    def cpu_ratio(self) -> float:
        """The ping's server CPU per request over this endpoint's: a client-independent ratio."""
        if self.ceiling is None or self.ceiling.server_ms is None or not self.server_ms:
            return float("nan")
        return self.ceiling.server_ms / self.server_ms


async def load(
    server: Server, database: str, endpoint: Endpoint, concurrency: int, warmup: int
) -> Result:
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=server.base_url, limits=limits, timeout=120) as client:
        latencies: list[float] = []
        errors = 0
        size = 0
        next_index = 0

        async def worker(total: int, offset: int, record: bool) -> None:
            nonlocal next_index, errors, size
            while next_index < total:
                index = offset + next_index
                next_index += 1
                body = None if endpoint.body is None else endpoint.body(index)
                started = time.perf_counter()
                response = await client.request(
                    endpoint.method, endpoint.path, headers=endpoint.headers, content=body
                )
                elapsed = time.perf_counter() - started
                if not record:
                    continue
                latencies.append(elapsed)
                size = len(response.content)
                if not 200 <= response.status_code < 300:
                    errors += 1

        async def batch(total: int, offset: int, record: bool) -> None:
            nonlocal next_index
            next_index = 0
            await asyncio.gather(*(worker(total, offset, record) for _ in range(concurrency)))

        await batch(warmup, 0, record=False)  # connections open, caches warm
        server_before = process_cpu_seconds(server.pid)
        machine_before = machine_cpu()
        client_before = time.process_time()
        started = time.perf_counter()
        await batch(endpoint.requests, warmup, record=True)
        seconds = time.perf_counter() - started
        client_cpu = (time.process_time() - client_before) / seconds
        server_after = process_cpu_seconds(server.pid)
        machine_after = machine_cpu()
    server_cpu = busy = None
    if server_before is not None and server_after is not None:
        server_cpu = (server_after - server_before) / seconds
    if machine_before is not None and machine_after is not None:
        busy = (machine_after[0] - machine_before[0]) / (machine_after[1] - machine_before[1])
    return Result(
        database=database,
        endpoint=endpoint.label,
        requests=endpoint.requests,
        errors=errors,
        seconds=seconds,
        latencies=latencies,
        response_bytes=size,
        server_cpu=server_cpu,
        client_cpu=client_cpu,
        machine_cpu=busy,
    )


def run_async(coroutine: Coroutine[Any, Any, T]) -> T:
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coroutine)
    return uvloop.run(coroutine)


def endpoints(data: Dataset, requests: int, list_requests: int) -> list[Endpoint]:
    rng = random.Random(7)
    schedules = [cron_schedule(rng) for _ in range(64)]

    def create_body(index: int) -> bytes:
        return orjson.dumps(
            {
                "title": f"Bench POST #{index}",
                "prompt": PROMPT,
                "schedule": schedules[index % len(schedules)],
                "artist_account_id": str(data.writer.artist_id),
                "timezone": ZONES[index % len(ZONES)],
            }
        )

    post_headers = {**data.writer.headers, "content-type": "application/json"}
    return [
        Endpoint("GET /bench/ping (ceiling)", "GET", "/bench/ping", requests),
        Endpoint("GET /api/tasks (1 task)", "GET", "/api/tasks", requests, data.small.headers),
        Endpoint(
            f"GET /api/tasks ({TASKS:,} tasks)",
            "GET",
            "/api/tasks",
            list_requests,
            data.big.headers,
        ),
        Endpoint("POST /api/tasks", "POST", "/api/tasks", requests, post_headers, create_body),
    ]


# --- Report --------------------------------------------------------------------------------


def print_result(result: Result) -> None:
    errors = f"  ({result.errors} errors!)" if result.errors else ""
    server_ms = "n/a" if result.server_ms is None else f"{result.server_ms:.2f}"
    print(
        f"  {result.endpoint:<28} {result.requests:>5} req {result.rps:>8.1f} req/s"
        f"  p50 {result.percentile_ms(0.5):>8.2f} ms  p99 {result.percentile_ms(0.99):>8.2f} ms"
        f"  × ceiling {result.ratio:.3f}{errors}\n"
        f"  {'':<28} server CPU {server_ms} ms/req (× ceiling {result.cpu_ratio:.3f});"
        f" busy: server {percent(result.server_cpu)}, client {percent(result.client_cpu)}"
        f" of a core, machine {percent(result.machine_cpu)} of {os.cpu_count()} cores"
    )


def markdown(
    results: list[Result], sizes: dict[str, int], queries: dict[str, dict[str, int]], c: int
) -> str:
    lines = [
        "| Database | Endpoint | req/s | p50 ms | p99 ms | × ceiling | server CPU ms/req |",
        "|---|---|--:|--:|--:|--:|--:|",
    ]
    for result in results:
        server_ms = "n/a" if result.server_ms is None else f"{result.server_ms:.2f}"
        lines.append(
            f"| {result.database} | {result.endpoint} | {result.rps:,.0f} | "
            f"{result.percentile_ms(0.5):.1f} | {result.percentile_ms(0.99):.1f} | "
            f"{result.ratio:.3f} | {server_ms} |"
        )
    notes = [
        f"Concurrency {c}, one uvicorn worker, client and server on the same "
        f"{os.cpu_count()}-CPU machine over loopback. × ceiling = req/s ÷ the req/s of a "
        "trivial route on the same server.",
        *(
            f"{db}: `GET /api/tasks` with {TASKS:,} tasks returns {size / 1e6:.2f} MB; "
            + ", ".join(f"{n} SQL statements with {label}" for label, n in queries[db].items())
            + "."
            for db, size in sizes.items()
        ),
    ]
    return "\n".join(lines) + "\n\n" + "\n".join(notes)


def bench_database(
    kind: str, requests: int, list_requests: int, concurrency: int
) -> tuple[list[Result], int, dict[str, int]]:
    print(f"\n## {kind}\n")
    with database(kind) as url:
        started = time.perf_counter()
        data = seed(url)
        print(
            f"seeded in {time.perf_counter() - started:.1f}s: {TASKS:,} tasks "
            f"({data.distinct_schedules} distinct schedule/zone pairs) + 1, {data.runs:,} runs"
        )

        queries = count_queries(data)
        print("\nSQL statements per GET /api/tasks (auth included):")
        for label, statements in queries.items():
            kinds = ", ".join(describe(statement) for statement in statements)
            print(f"  {label:>12}: {len(statements)}  [{kinds}]")

        print(f"\nIn process, listing {TASKS:,} tasks (best of 5, ms):")
        for label, ms in phases(data):
            print(f"  {ms:8.2f}  {label}")

        print(f"\nHTTP, concurrency {concurrency}:")
        results = []
        with (
            tempfile.TemporaryDirectory() as logs,
            running_server(url, Path(logs) / "server.log") as server,
        ):
            for endpoint in endpoints(data, requests, list_requests):
                warmup = max(concurrency, min(endpoint.requests // 20, 100))
                result = run_async(load(server, kind, endpoint, concurrency, warmup))
                results.append(result)
        for result in results:
            result.ceiling = results[0]
            print_result(result)
        size = next(r.response_bytes for r in results if r.endpoint.endswith(f"{TASKS:,} tasks)"))
        print(f"\n  GET /api/tasks ({TASKS:,} tasks) response: {size:,} bytes")
    return results, size, {label: len(found) for label, found in queries.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument(
        "--requests", type=int, default=1500, help="requests per cheap endpoint (default 1500)"
    )
    parser.add_argument(
        "--list-requests",
        type=int,
        default=32,
        help=f"requests for the {TASKS:,}-task listing (default 32)",
    )
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--serve", metavar="DATABASE_URL", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.port)
        return

    started = time.perf_counter()
    kinds = ["sqlite", "postgresql"] if args.database == "both" else [args.database]
    results: list[Result] = []
    sizes: dict[str, int] = {}
    queries: dict[str, dict[str, int]] = {}
    for kind in kinds:
        found, sizes[kind], queries[kind] = bench_database(
            kind, args.requests, args.list_requests, args.concurrency
        )
        results.extend(found)
    print(f"\n## Summary (took {time.perf_counter() - started:.0f}s)\n")
    print(markdown(results, sizes, queries, args.concurrency))


if __name__ == "__main__":
    main()
