"""A rolling upgrade, as docs/production.md ("Upgrading") prescribes it, with real processes.

The old version is this repository at the commit before its newest migration was added
(found from git history, so the test follows each new migration), checked out into a
temporary git worktree. Old and new processes run side by side on one PostgreSQL database,
every process with this virtualenv's Python and PYTHONPATH naming the code it runs (each
prints which `backbeat` package it imported):

1. the old `backbeat migrate` creates the old schema; old API, scheduler and worker start;
2. the new `backbeat migrate` runs while they work (nothing is stopped);
3. new API and worker start; tasks are created through the old API, manual runs queued
   through both APIs; the first fire comes with only the old scheduler running (it
   dispatches on the new schema);
4. a new scheduler starts; the second fire comes with both schedulers running;
5. once everything queued has finished, the old processes are stopped (SIGTERM, as systemd
   stops them) and the new ones carry on alone;
6. rollback: the new code downgrades the schema by one migration and the old code starts
   and works again.

Checked: every run completed exactly once (one attempt each, one model call each), one run
per task and fire time, old and new schedulers and workers each did work (fire.dispatched
lines and the worker id, which holds the pid, of each attempt), and the old processes
neither crashed nor logged an error on the new schema.

A second test records what an old process does when it is *started* after the migration:
migrations only add, so it runs on the newer schema and logs `schema.newer`.

Processes' clocks start at BACKBEAT_CLOCK_START, a few seconds before a minute boundary,
so the fires come within seconds rather than at the next real minute.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

import httpx
import pytest
from alembic import command
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, text

import backbeat
from backbeat.store.engine import make_engine
from backbeat.store.migrate import alembic_config
from backbeat.testing.fake_models import FakeModelServer
from tests.databases import postgres_database
from tests.processes import clean_env, free_port

pytestmark = [pytest.mark.slow(seconds=115), pytest.mark.postgres]

NEW_ROOT = Path(backbeat.__file__).resolve().parents[1]
VERSIONS = Path("backbeat", "store", "migrations", "versions")
SECRET = "rolling-upgrade-secret-" + "s" * 40
PROVIDER_KEY = "sk-ant-rolling-upgrade-test-key"
MODEL = "claude-sonnet-4-6"

# `python -m backbeat ARGS`, first printing which backbeat package was imported.
LAUNCH = (
    "import runpy, sys, backbeat; "
    "print('backbeat package:', backbeat.__file__, flush=True); "
    "sys.argv = ['backbeat', *sys.argv[1:]]; "
    "runpy.run_module('backbeat', run_name='__main__', alter_sys=True)"
)

TASKS = 6
FIRST_FIRE = datetime(2026, 1, 8, 9, 0, tzinfo=UTC)  # a Thursday; the second is 09:01
SCHEDULE = "0,1 9 * * *"  # exactly two fires in the test: 09:00 and 09:01 (virtual time)
LEAD_SECONDS = 45.0  # real seconds from fixing the clock to the first fire: the setup's budget
# (generous: the suite runs in four processes, and this setup starts seven interpreters)
NEW_SKEW = timedelta(seconds=3)  # new processes' clocks run ahead (see Fleet.start)
MODEL_DELAY = 0.3  # seconds per model answer: runs overlap, so both workers get some
STARTUP_TIMEOUT = 60.0
STOP_TIMEOUT = 45.0  # > BACKBEAT_SHUTDOWN_GRACE_SECONDS (30), the drain of a stopping worker
CLI_TIMEOUT = 60.0
TERMINAL = {"COMPLETED", "FAILED", "CRASHED", "SYSTEM_FAILURE", "CANCELED"}


# --- The old version: a git worktree ---------------------------------------------------------


def _git(*args: str) -> str:
    done = subprocess.run(
        ["git", "-C", str(NEW_ROOT), *args], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        pytest.fail(f"git {' '.join(args)} failed ({done.returncode}):\n{done.stderr}")
    return done.stdout.strip()


def _old_revision() -> tuple[str, str]:
    """(the revision before the newest migration was added, that migration's file name)."""
    if _git("rev-parse", "--is-shallow-repository") == "true":
        pytest.fail(
            "this clone's git history is shallow: the rolling-upgrade test checks out the "
            "commit before the newest migration. Fetch the full history "
            "(git fetch --unshallow, or actions/checkout with fetch-depth: 0)."
        )
    migrations = sorted((NEW_ROOT / VERSIONS).glob("[0-9]*.py"))
    assert migrations, f"no migrations under {NEW_ROOT / VERSIONS}"
    newest = migrations[-1]
    added = _git(
        "log", "--diff-filter=A", "--format=%H", "--", str(newest.relative_to(NEW_ROOT))
    ).split()
    if not added:  # not committed yet: the committed code is the version before it
        return _git("rev-parse", "HEAD"), newest.name
    return _git("rev-parse", f"{added[0]}^"), newest.name


@pytest.fixture(scope="module")
def old_code(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A detached worktree of the old version; removed afterwards."""
    revision, newest = _old_revision()
    directory = tmp_path_factory.mktemp("old-version") / "backbeat"
    _git("worktree", "add", "--detach", str(directory), revision)
    try:
        assert (directory / VERSIONS).is_dir()
        assert not (directory / VERSIONS / newest).exists(), (
            f"{revision} already has {newest}: not the version before it"
        )
        yield directory
    finally:
        _git("worktree", "remove", "--force", str(directory))


def _head_and_previous() -> tuple[str, str]:
    """The new code's head revision and the one before it (the old version's head)."""
    scripts = ScriptDirectory.from_config(alembic_config(make_engine("sqlite://")))
    head = scripts.get_current_head()
    assert head is not None
    previous = scripts.get_revision(head).down_revision
    assert isinstance(previous, str), f"migration {head} must have exactly one parent"
    return head, previous


# --- Processes ---------------------------------------------------------------------------------


@dataclass
class Version:
    """One version of Backbeat: where its code is, and the environment its processes get."""

    name: str  # "old" or "new"
    root: Path
    env: dict[str, str]
    skew: timedelta = timedelta(0)

    def cli(
        self, directory: Path, *args: str, clock: datetime | None = None
    ) -> subprocess.CompletedProcess[str]:
        env = dict(self.env)
        if clock is not None:
            env["BACKBEAT_CLOCK_START"] = clock.isoformat()
        return subprocess.run(
            [sys.executable, "-c", LAUNCH, *args],
            env=env,
            cwd=directory,  # not the repository: '' on sys.path would shadow PYTHONPATH
            capture_output=True,
            text=True,
            timeout=CLI_TIMEOUT,
            check=False,
        )

    def cli_json(self, directory: Path, *args: str, clock: datetime | None = None) -> Any:
        done = self.cli(directory, *args, "--json", clock=clock)
        assert done.returncode == 0, f"{self.name} {args}: {done.returncode}\n{done.stderr}"
        lines = done.stdout.splitlines()
        assert lines[0] == f"backbeat package: {self.root / 'backbeat' / '__init__.py'}"
        return json.loads(lines[1])


@dataclass
class Process:
    name: str  # "old worker", "new scheduler", …
    version: Version
    popen: subprocess.Popen[bytes]
    stdout_path: Path
    stderr_path: Path
    url: str | None = None
    returncode: int | None = field(default=None)

    @property
    def clean_exits(self) -> tuple[int, ...]:
        """How it may end on SIGTERM. `serve` shuts uvicorn down cleanly, then uvicorn
        re-raises the signal, so it dies of SIGTERM (systemd counts that as a clean stop);
        API-only processes have no scheduler or worker to drain. The others exit 0."""
        return (0, -signal.SIGTERM) if self.url is not None else (0,)

    @property
    def pid(self) -> int:
        return self.popen.pid

    @property
    def stdout(self) -> str:
        return self.stdout_path.read_text(errors="replace")

    @property
    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    def output(self) -> str:
        return (
            f"--- {self.name} (pid {self.pid}) stdout ---\n{self.stdout}\n"
            f"--- stderr ---\n{self.stderr}"
        )

    def lines(self) -> list[dict[str, Any]]:
        """Its JSON log lines; anything else on stderr (a raw traceback) fails the test."""
        parsed = []
        for line in self.stderr.splitlines():
            try:
                parsed.append(json.loads(line))
            except json.JSONDecodeError:
                raise AssertionError(f"{self.name}: not a JSON log line: {line!r}") from None
        return parsed

    def events(self, event: str) -> list[dict[str, Any]]:
        return [line for line in self.lines() if line.get("event") == event]

    def wait_until_up(self) -> None:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        started = "worker.started" if "worker" in self.name else "scheduler.started"
        while True:
            if self.popen.poll() is not None:
                pytest.fail(f"{self.name} exited with {self.popen.returncode}\n{self.output()}")
            if self.url is not None:
                try:
                    httpx.get(f"{self.url}/openapi.json", timeout=1.0)
                    return
                except httpx.TransportError:
                    pass
            elif any(f'"{started}"' in line for line in self.stderr.splitlines()):
                return
            if time.monotonic() > deadline:
                pytest.fail(f"{self.name} did not come up in time\n{self.output()}")
            time.sleep(0.1)

    def stop(self) -> int:
        """SIGTERM, as systemd stops a unit; it must end by itself within STOP_TIMEOUT."""
        if self.returncode is None:
            if self.popen.poll() is None:
                self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()
                pytest.fail(f"{self.name} ignored SIGTERM\n{self.output()}")
            self.returncode = self.popen.returncode
        return self.returncode


class Fleet:
    """Every process the test started; all are stopped (killed if need be) at the end."""

    def __init__(self, directory: Path, clock_offset: timedelta) -> None:
        self.directory = directory
        self.clock_offset = clock_offset
        self.processes: list[Process] = []

    def now(self) -> datetime:
        """The virtual time every process shares (new ones read it NEW_SKEW ahead)."""
        return datetime.now(UTC) + self.clock_offset

    def start(self, version: Version, role: str, *args: str, port: int | None = None) -> Process:
        name = f"{version.name} {role}"
        slug = name.replace(" ", "-") + f"-{len(self.processes)}"
        # The process's clock reads this when it starts and then advances in real time. The
        # new version's runs NEW_SKEW ahead, as clocks on two hosts may: Backbeat needs no
        # agreement between clocks, and it makes the new scheduler reach the second fire
        # first, deterministically.
        start = self.now() + version.skew
        env = {**version.env, "BACKBEAT_CLOCK_START": start.isoformat()}
        stdout_path = self.directory / f"{slug}.stdout"
        stderr_path = self.directory / f"{slug}.stderr"
        with stdout_path.open("wb") as stdout, stderr_path.open("wb") as stderr:
            popen = subprocess.Popen(
                [sys.executable, "-c", LAUNCH, *args],
                env=env,
                cwd=self.directory,
                stdin=subprocess.DEVNULL,
                stdout=stdout,
                stderr=stderr,
            )
        url = None if port is None else f"http://127.0.0.1:{port}"
        process = Process(name, version, popen, stdout_path, stderr_path, url)
        self.processes.append(process)
        return process

    def start_api(self, version: Version) -> Process:
        """An API-only process, as behind a load balancer: serve --no-scheduler --no-worker."""
        port = free_port()
        args = ("serve", "--no-scheduler", "--no-worker", "--port", str(port))
        return self.start(version, "api", *args, port=port)

    def kill_all(self) -> None:
        for process in self.processes:
            if process.popen.poll() is None:
                process.popen.kill()
                process.popen.wait()

    def output(self) -> str:
        return "\n".join(process.output() for process in self.processes)


def _env(root: Path, url: str, models: FakeModelServer, directory: Path) -> dict[str, str]:
    (directory / "metrics").mkdir(exist_ok=True)
    return clean_env(
        PYTHONPATH=str(root),
        BACKBEAT_DATABASE_URL=url,
        BACKBEAT_SECRET_KEY=SECRET,
        BACKBEAT_LOG_FORMAT="json",
        BACKBEAT_LOG_LEVEL="INFO",
        BACKBEAT_ANTHROPIC_API_KEY=PROVIDER_KEY,
        BACKBEAT_ANTHROPIC_BASE_URL=models.url_anthropic,
        BACKBEAT_WORKER_CONCURRENCY="2",
        BACKBEAT_WORKER_POLL_SECONDS="0.2",
        BACKBEAT_DB_POOL_SIZE="2",
        BACKBEAT_METRICS_DIR=str(directory / "metrics"),
    )


# --- Watching the database ---------------------------------------------------------------------


def _wait_for(what: str, check: Callable[[], bool], timeout: float, fleet: Fleet) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        for process in fleet.processes:
            if process.returncode is None and process.popen.poll() is not None:
                pytest.fail(f"{process.name} died while waiting for {what}\n{fleet.output()}")
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}\n{fleet.output()}")
        time.sleep(0.2)


def _rows(engine: Engine, sql: str, **params: Any) -> list[Any]:
    with engine.connect() as connection:
        return list(connection.execute(text(sql), params))


def _runs_at(engine: Engine, fire: datetime) -> set[str]:
    rows = _rows(engine, "SELECT id FROM runs WHERE scheduled_for = :at", at=fire)
    return {row.id for row in rows}


def _unfinished(engine: Engine) -> int:
    sql = "SELECT count(*) AS n FROM runs WHERE NOT (status = ANY(:done))"
    [row] = _rows(engine, sql, done=sorted(TERMINAL))
    return int(row.n)


def _trigger(api: Process, key: str, task_id: str) -> str:
    assert api.url is not None
    answer = httpx.post(
        f"{api.url}/api/tasks/runs/trigger",
        headers={"x-api-key": key},
        json={"task_id": task_id},
        timeout=10,
    )
    assert answer.status_code == 200, f"{api.name}: {answer.status_code} {answer.text}"
    run_id: str = answer.json()["runs"][0]["id"]
    return run_id


def _pid_of(worker_id: str) -> int:
    return int(worker_id.split(":")[-2])  # host:pid:random


# --- The tests ---------------------------------------------------------------------------------


def test_old_and_new_processes_overlap_during_a_rolling_upgrade(
    old_code: Path, tmp_path: Path
) -> None:
    head, previous = _head_and_previous()
    fleet: Fleet | None = None
    with (
        postgres_database("backbeat_upgrade") as url,
        FakeModelServer(delay=MODEL_DELAY) as models,
    ):
        engine = make_engine(url, pool_size=1)
        old = Version("old", old_code, _env(old_code, url, models, tmp_path))
        new = Version("new", NEW_ROOT, _env(NEW_ROOT, url, models, tmp_path), skew=NEW_SKEW)
        try:
            # 1. The old version's schema and data; the old processes.
            migrated = old.cli(tmp_path, "migrate")
            assert migrated.returncode == 0, migrated.stderr
            assert f"database at revision {previous} (was empty)" in migrated.stdout
            account = old.cli_json(tmp_path, "accounts", "create", "--email", "ops@label.example")
            artist = old.cli_json(
                tmp_path, "artists", "create", "--name", "Nova", "--account", account["id"]
            )
            key: str = old.cli_json(tmp_path, "keys", "create", "--account", account["id"])["key"]

            # The shared virtual clock: its first fire LEAD_SECONDS from now.
            offset = FIRST_FIRE - (datetime.now(UTC) + timedelta(seconds=LEAD_SECONDS))
            fleet = Fleet(tmp_path, offset)
            old_api = fleet.start_api(old)
            old_scheduler = fleet.start(old, "scheduler", "scheduler")
            old_worker = fleet.start(old, "worker", "worker")
            for process in (old_api, old_scheduler, old_worker):
                process.wait_until_up()

            # 2. Migrate while the old processes run.
            upgraded = new.cli(tmp_path, "migrate")
            assert upgraded.returncode == 0, upgraded.stderr
            assert f"database at revision {head} (was {previous})" in upgraded.stdout

            # 3. New API and worker beside the old ones; tasks through the old API.
            new_api = fleet.start_api(new)
            new_worker = fleet.start(new, "worker", "worker")
            for process in (new_api, new_worker):
                process.wait_until_up()
            task_ids: list[str] = []
            for number in range(TASKS):
                created = httpx.post(
                    f"{old_api.url}/api/tasks",
                    headers={"x-api-key": key},
                    json={
                        "title": f"Pulse {number}",
                        "prompt": f"Analyse genre trends, report {number}",
                        "schedule": SCHEDULE,
                        "timezone": "UTC",
                        "model": MODEL,
                        "artist_account_id": artist["id"],
                    },
                    timeout=10,
                )
                assert created.status_code == 200, created.text
                task = created.json()["tasks"][0]
                task_ids.append(task["id"])
                assert task["upcoming"][0] == "2026-01-08T09:00:00.000Z", (
                    f"the setup took longer than {LEAD_SECONDS:.0f} s: the first fire passed "
                    f"before the tasks existed\n{fleet.output()}"
                )
            manual: dict[str, str] = {}  # run id → which API queued it
            for number, task_id in enumerate(task_ids):
                api = old_api if number % 2 else new_api
                for _ in range(2):
                    manual[_trigger(api, key, task_id)] = api.name

            # The first fire: only the old scheduler runs.
            assert fleet.now() < FIRST_FIRE, "the first fire came before the new API was up"
            _wait_for(
                "the first fire's runs",
                lambda: len(_runs_at(engine, FIRST_FIRE)) == TASKS,
                (FIRST_FIRE - fleet.now()).total_seconds() + 30,
                fleet,
            )
            first = _runs_at(engine, FIRST_FIRE)

            # 4. A new scheduler; the second fire with both running.
            new_scheduler = fleet.start(new, "scheduler", "scheduler")
            new_scheduler.wait_until_up()
            second_fire = FIRST_FIRE + timedelta(minutes=1)
            _wait_for(
                "the second fire's runs",
                lambda: len(_runs_at(engine, second_fire)) == TASKS,
                (second_fire - fleet.now()).total_seconds() + 30,
                fleet,
            )
            second = _runs_at(engine, second_fire)
            for number, task_id in enumerate(task_ids):
                api = new_api if number % 2 else old_api
                manual[_trigger(api, key, task_id)] = api.name
            _wait_for("every run to finish", lambda: _unfinished(engine) == 0, 60, fleet)
            # The old scheduler's wake-up for the second fire (NEW_SKEW later) has passed too.
            time.sleep(NEW_SKEW.total_seconds() + 1)

            # 5. The old processes go; the new ones carry on alone.
            for process in (old_api, old_scheduler, old_worker):
                assert process.popen.poll() is None, f"{process.name} died\n{process.output()}"
                assert process.stop() in process.clean_exits, process.output()
            after = [_trigger(new_api, key, task_id) for task_id in task_ids[:2]]
            _wait_for("the last runs", lambda: _unfinished(engine) == 0, 30, fleet)
            for process in (new_api, new_scheduler, new_worker):
                assert process.stop() in process.clean_exits, process.output()

            # 6. Rollback: the new code downgrades one migration; the old code works again.
            command.downgrade(alembic_config(engine), previous)
            rollback_run: str = old.cli_json(
                tmp_path, "tasks", "run", task_ids[0], "--account", account["id"], clock=fleet.now()
            )["id"]
            rollback_worker = fleet.start(old, "worker (after rollback)", "worker")
            rollback_worker.wait_until_up()
            _wait_for("the run after the rollback", lambda: _unfinished(engine) == 0, 30, fleet)
            assert rollback_worker.stop() == 0, rollback_worker.output()

            _check(
                engine,
                models,
                fleet,
                first=first,
                second=second,
                manual=manual,
                after=set(after),
                rollback_run=rollback_run,
                old=(old_api, old_scheduler, old_worker),
                new=(new_api, new_scheduler, new_worker),
                rollback_worker=rollback_worker,
                task_ids=task_ids,
            )
        finally:
            if fleet is not None:
                fleet.kill_all()
            engine.dispose()


def _check(
    engine: Engine,
    models: FakeModelServer,
    fleet: Fleet,
    *,
    first: set[str],
    second: set[str],
    manual: dict[str, str],
    after: set[str],
    rollback_run: str,
    old: tuple[Process, Process, Process],
    new: tuple[Process, Process, Process],
    rollback_worker: Process,
    task_ids: list[str],
) -> None:
    old_api, old_scheduler, old_worker = old
    new_api, new_scheduler, new_worker = new
    report = fleet.output()

    # Each process ran the code it was meant to.
    for process in fleet.processes:
        package = process.stdout.splitlines()[0]
        assert package == f"backbeat package: {process.version.root / 'backbeat' / '__init__.py'}"
    assert len({process.pid for process in fleet.processes}) == len(fleet.processes)

    # Every run completed, exactly once.
    runs = _rows(engine, "SELECT id, task_id, status, trigger, scheduled_for FROM runs")
    expected = first | second | set(manual) | after | {rollback_run}
    assert {run.id for run in runs} == expected, report
    assert len(runs) == 2 * TASKS + len(manual) + len(after) + 1
    assert {run.status for run in runs} == {"COMPLETED"}, report
    attempts = _rows(engine, "SELECT run_id, status, worker_id FROM attempts ORDER BY run_id")
    assert sorted(attempt.run_id for attempt in attempts) == sorted(expected), (
        "a run had more than one attempt (or none)"
    )
    assert {attempt.status for attempt in attempts} == {"COMPLETED"}
    assert len(models.requests) == len(runs), "a run called the model more than once"

    # One run per task and fire time: the two fires, nothing else scheduled.
    scheduled = [(str(run.task_id), run.scheduled_for) for run in runs if run.scheduled_for]
    assert len(scheduled) == len(set(scheduled)) == 2 * TASKS
    assert {task for task, _ in scheduled} == {str(UUID(task_id)) for task_id in task_ids}
    assert {run.trigger for run in runs if run.id in first | second} == {"scheduled"}
    assert {run.trigger for run in runs if run.id in set(manual) | after} == {"manual"}

    # Who did what. The first fire: the old scheduler alone, on the new schema.
    dispatched = {
        process.name: {line["run_id"] for line in process.events("fire.dispatched")}
        for process in (old_scheduler, new_scheduler)
    }
    assert dispatched[old_scheduler.name] >= first, report
    assert dispatched[new_scheduler.name], "the new scheduler dispatched nothing"
    assert dispatched[old_scheduler.name] | dispatched[new_scheduler.name] == first | second
    assert not dispatched[old_scheduler.name] & dispatched[new_scheduler.name]
    assert set(manual.values()) == {old_api.name, new_api.name}
    by_pid: dict[int, set[str]] = {}
    for attempt in attempts:
        by_pid.setdefault(_pid_of(attempt.worker_id), set()).add(attempt.run_id)
    assert set(by_pid) <= {old_worker.pid, new_worker.pid, rollback_worker.pid}, by_pid
    assert by_pid.get(old_worker.pid), "the old worker executed no run"
    assert by_pid.get(new_worker.pid), "the new worker executed no run"
    assert by_pid[new_worker.pid] >= after  # the old worker had gone
    assert by_pid.get(rollback_worker.pid) == {rollback_run}

    # Nobody crashed, retried, or complained; the old processes least of all.
    for process in fleet.processes:
        lines = process.lines()  # every stderr line is a JSON log line: no raw traceback
        complaints = [
            line
            for line in lines
            if line["level"] in ("warning", "error", "critical")
            or "exception" in line
            or str(line.get("event", "")).endswith(("db_error", ".crashed", ".failed"))
        ]
        assert not complaints, f"{process.name}: {complaints}"
        assert process.returncode in process.clean_exits
    claimed_by_old = {line["run_id"] for line in old_worker.events("run.claimed")}
    completed_by_old = {line["run_id"] for line in old_worker.events("run.completed")}
    assert claimed_by_old == completed_by_old == by_pid[old_worker.pid]


def test_an_old_process_started_after_the_migration_runs_on_the_newer_schema(
    old_code: Path, tmp_path: Path
) -> None:
    """What docs/production.md says of an old process (re)started once `backbeat migrate`
    has run: migrations only add, so it runs on the newer schema and says so (`schema.newer`)
    instead of refusing. (Code from before that rule refused; this repository's history has
    such a version only before migration 0004.)"""
    head, _ = _head_and_previous()
    with postgres_database("backbeat_upgrade") as url, FakeModelServer() as models:
        new = Version("new", NEW_ROOT, _env(NEW_ROOT, url, models, tmp_path))
        old = Version("old", old_code, _env(old_code, url, models, tmp_path))
        migrated = new.cli(tmp_path, "migrate")
        assert migrated.returncode == 0, migrated.stderr
        assert f"database at revision {head} (was empty)" in migrated.stdout
        fleet = Fleet(tmp_path, timedelta(0))
        try:
            for role in ("worker", "scheduler"):
                process = fleet.start(old, role, role)
                process.wait_until_up()
                assert process.stdout.splitlines()[0] == (
                    f"backbeat package: {old_code / 'backbeat' / '__init__.py'}"
                )
                [newer] = process.events("schema.newer")
                assert newer["revision"] == head
                assert process.stop() == 0, process.output()
                assert not [line for line in process.lines() if line["level"] == "error"]
        finally:
            for process in fleet.processes:
                if process.popen.poll() is None:
                    process.popen.kill()
                    process.popen.wait()
        engine = make_engine(url, pool_size=1)
        try:
            [row] = _rows(engine, "SELECT version_num FROM alembic_version")
            assert row.version_num == head
            assert _rows(engine, "SELECT id FROM runs") == []
        finally:
            engine.dispose()
