"""Backbeat as an operator runs it, on a private PostgreSQL cluster: `backbeat migrate`, then
`backbeat serve` (API, scheduler and worker) and extra `backbeat worker` processes, the
fake model server standing in for Anthropic. Each process logs JSON lines to a file of its
own, which the tests read back (levels, events, tracebacks)."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from uuid import UUID

import httpx
import psycopg

from backbeat.testing.fake_models import Answer, RecordedRequest, Reply
from tests.conftest import SECRET
from tests.dashboard.helpers import Page
from tests.faults.pg_cluster import PgCluster
from tests.processes import clean_env, free_port

REPO = Path(__file__).resolve().parents[2]
STARTUP_TIMEOUT = 40.0  # interpreters importing the whole app at once, on a busy machine
STOP_TIMEOUT = 30.0


def backbeat_env(database_url: str, model_url: str, **settings: str) -> dict[str, str]:
    """The environment of every process: PostgreSQL, the server secret, the fake Anthropic,
    JSON logs; `settings` on top."""
    return clean_env(
        BACKBEAT_DATABASE_URL=database_url,
        BACKBEAT_SECRET_KEY=SECRET,
        BACKBEAT_ANTHROPIC_API_KEY="sk-test",
        BACKBEAT_ANTHROPIC_BASE_URL=model_url,
        BACKBEAT_LOG_FORMAT="json",
        BACKBEAT_LOG_LEVEL="INFO",
        **settings,
    )


def migrate(env: dict[str, str]) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "backbeat", "migrate"],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


@dataclass
class LogLine:
    level: str
    event: str
    fields: dict[str, Any]


@dataclass
class Process:
    """A Backbeat process; stdout and stderr (the JSON log) go to files."""

    name: str
    process: subprocess.Popen[bytes]
    stdout_path: Path
    stderr_path: Path
    url: str | None = None

    @property
    def pid(self) -> int:
        return self.process.pid

    def stdout(self) -> str:
        return self.stdout_path.read_text(errors="replace")

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    def output(self) -> str:
        return f"--- {self.name} stdout ---\n{self.stdout()}\n--- stderr ---\n{self.stderr()}"

    def log(self) -> list[LogLine]:
        lines = []
        for raw in self.stderr().splitlines():
            try:
                record = json.loads(raw)
            except ValueError:
                record = {"level": "raw", "event": "raw", "message": raw}
            lines.append(LogLine(str(record.get("level")), str(record.get("event")), record))
        return lines

    def levels(self) -> Counter[str]:
        return Counter(line.level for line in self.log())

    def events(self, event: str) -> list[LogLine]:
        return [line for line in self.log() if line.event == event]

    def problems(self) -> list[str]:
        """Error lines, tracebacks and anything that is not a JSON log line."""
        found = []
        for line in self.log():
            if line.level in ("error", "critical", "raw") or "exception" in line.fields:
                found.append(json.dumps(line.fields)[:2000])
        return found

    def assert_running(self) -> None:
        if self.process.poll() is not None:
            raise AssertionError(f"{self.name} exited ({self.process.returncode})\n{self.output()}")

    def stop(self) -> int:
        """SIGTERM, as systemd stops it; it must exit by itself."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
                raise AssertionError(f"{self.name} ignored SIGTERM\n{self.output()}") from None
        return self.process.returncode

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(timeout=STOP_TIMEOUT)


def start(name: str, args: list[str], env: dict[str, str], directory: Path) -> Process:
    stdout_path = directory / f"{name}.stdout"
    stderr_path = directory / f"{name}.stderr"
    with stdout_path.open("wb") as stdout, stderr_path.open("wb") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-m", "backbeat", *args],
            env=env,
            cwd=REPO,
            stdin=subprocess.DEVNULL,
            stdout=stdout,
            stderr=stderr,
        )
    return Process(name, process, stdout_path, stderr_path)


def start_serve(env: dict[str, str], directory: Path) -> Process:
    port = free_port()
    serve = start("serve", ["serve", "--host", "127.0.0.1", "--port", str(port)], env, directory)
    serve.url = f"http://127.0.0.1:{port}"
    return serve


def start_worker(env: dict[str, str], directory: Path, number: int) -> Process:
    return start(f"worker-{number}", ["worker"], env, directory)


def wait_until(
    condition: Callable[[], bool],
    what: str,
    processes: Iterable[Process] = (),
    timeout: float = STARTUP_TIMEOUT,
) -> None:
    watched = list(processes)
    deadline = time.monotonic() + timeout
    while not condition():
        for process in watched:
            process.assert_running()
        if time.monotonic() > deadline:
            logs = "\n".join(process.output() for process in watched)
            raise AssertionError(f"timed out after {timeout}s waiting for {what}\n{logs}")
        time.sleep(0.02)


def serve_is_up(serve: Process) -> bool:
    assert serve.url is not None
    try:
        return httpx.get(f"{serve.url}/healthz", timeout=1.0).status_code == 200
    except httpx.TransportError:
        return False


def worker_is_up(worker: Process) -> bool:
    return '"worker.started"' in worker.stderr()


def wait_for_processes(serve: Process, workers: list[Process]) -> None:
    everyone = [serve, *workers]
    wait_until(lambda: serve_is_up(serve), "backbeat serve to answer", everyone)
    wait_until(lambda: worker_is_up(serve), "the worker of backbeat serve", everyone)
    wait_until(lambda: all(worker_is_up(w) for w in workers), "the worker processes", everyone)


def sign_in(client: httpx.Client, key: str) -> None:
    """Sign in to the dashboard as a browser does: the form, its CSRF token, the POST."""
    form = Page(client.get("/"))
    response = client.post("/dashboard/sign-in", data={"csrf_token": form.csrf, "key": key})
    assert response.status_code == 303, response.text


class Model:
    """The fake model's behaviour: prompts containing "slow" are answered after
    `slow_seconds`, others after `delay`; requests are counted per prompt."""

    def __init__(self, *, delay: float = 0.0, slow_seconds: float = 0.0) -> None:
        self._lock = threading.Lock()
        self.delay = delay
        self.slow_seconds = slow_seconds
        self.requests: Counter[str] = Counter()
        self.in_flight = 0

    def __call__(self, request: RecordedRequest) -> Answer:
        prompt = request.last_user_text()
        with self._lock:
            self.requests[prompt] += 1
            self.in_flight += 1
        try:
            time.sleep(self.slow_seconds if "slow" in prompt else self.delay)
        finally:
            with self._lock:
                self.in_flight -= 1
        return Reply(f"Report: {prompt}")


@dataclass
class Database:
    """The test's own questions to the Backbeat database, on a fresh connection each time
    (the server goes down and comes back under it)."""

    cluster: PgCluster
    name: str

    def rows(self, sql: str, *params: object) -> list[tuple[Any, ...]]:
        with psycopg.connect(self.cluster.libpq_url(self.name), connect_timeout=5) as connection:
            return connection.execute(sql, params).fetchall()

    def attempts(self) -> list[tuple[str, str, str, str]]:
        """(attempt id, run id, worker id, status) of every attempt."""
        rows = self.rows("SELECT id, run_id, worker_id, status FROM attempts")
        return [(row[0], row[1], row[2] or "", row[3]) for row in rows]

    def runs_of(self, task_id: UUID) -> list[tuple[str, Any, str]]:
        """(run id, scheduled_for, status) of a task's runs."""
        rows = self.rows("SELECT id, scheduled_for, status FROM runs WHERE task_id = %s", task_id)
        return [(row[0], row[1], row[2]) for row in rows]

    def statuses(self, run_ids: list[str]) -> dict[str, str]:
        rows = self.rows("SELECT id, status FROM runs WHERE id = ANY(%s)", run_ids)
        return {row[0]: row[1] for row in rows}
