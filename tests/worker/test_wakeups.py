"""On PostgreSQL a worker starts a run queued by another process at once, woken by the NOTIFY
of the transaction that queued it (store/wakeups.py), not by its poll; and it keeps being
woken after its LISTEN connection is cut.

A real `backbeat worker` process polls every 30 s here, while every wait of the test gives up
after 20 s: a run it completes was found through a notification. (Once it has looked at
start, a worker looks again only when woken or when its 30 s nap ends; each run below is
queued after the worker's previous look.) Nothing is timed: the assertions are on what
happened, and in which order.
"""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from starlette.testclient import TestClient

from backbeat.asgi import create_app
from backbeat.domain.runs import RunStatus
from backbeat.services.keys import Caller
from backbeat.services.tasks import TaskDraft
from backbeat.store.wakeups import APPLICATION_NAME, CHANNEL, announce_runs, listener_for
from backbeat.testing import FakeClock
from backbeat.testing.fake_models import FakeModelServer
from backbeat.wiring import Backbeat
from tests.conftest import SECRET, Tenant, make_backbeat, make_tenant
from tests.databases import postgres_database
from tests.processes import clean_env
from tests.worker.processes import REPO, WorkerProcess, wait_until

pytestmark = pytest.mark.slow(seconds=12)

POLL_SECONDS = 30  # the worker's safety-net poll: longer than any wait below
DEADLINE = 20.0  # each wait of the test
STARTUP_TIMEOUT = 40.0  # an interpreter importing the whole app, on a busy box


@pytest.fixture
def database() -> Iterator[str]:
    with postgres_database(prefix="backbeat_wakeups", migrated=True) as url:
        yield url


def start_slow_polling_worker(database_url: str, model_url: str, output: Path) -> WorkerProcess:
    """`python -m backbeat worker` polling every POLL_SECONDS, logging JSON."""
    env = clean_env(
        BACKBEAT_DATABASE_URL=database_url,
        BACKBEAT_SECRET_KEY=SECRET,
        BACKBEAT_ANTHROPIC_API_KEY="sk-test",
        BACKBEAT_ANTHROPIC_BASE_URL=model_url,
        BACKBEAT_WORKER_POLL_SECONDS=str(POLL_SECONDS),
        BACKBEAT_LOG_FORMAT="json",
    )
    with output.open("wb") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "backbeat", "worker"],
            cwd=REPO,
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    return WorkerProcess(process, output)


def listening(worker: WorkerProcess) -> int:
    return worker.log().count('"worker.listening"')


def run_status(backbeat: Backbeat, run_id: str) -> RunStatus:
    with backbeat.uow() as uow:
        run = uow.runs.get(run_id)
    assert run is not None
    return run.status


def queue_through_the_api(client: TestClient, tenant: Tenant, task_id: str) -> str:
    response = client.post(
        "/api/tasks/runs/trigger", json={"task_id": task_id}, headers=tenant.headers
    )
    assert response.status_code == 200, response.text
    run_id: str = response.json()["runs"][0]["id"]
    return run_id


def cut_the_listener(url: str) -> int:
    """pg_terminate_backend on the worker's LISTEN connection; answers how many were cut."""
    engine = create_engine(url)
    try:
        with engine.begin() as connection:
            cut = connection.execute(
                text(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                    "WHERE application_name = :name AND datname = current_database()"
                ),
                {"name": APPLICATION_NAME},
            ).scalar_one()
    finally:
        engine.dispose()
    return int(cut)


def test_a_run_queued_through_the_api_starts_without_waiting_for_the_poll(
    database: str, tmp_path: Path
) -> None:
    # The services' clock reads a moment ago: the worker, on the real clock, sees runs as due.
    backbeat = make_backbeat(database, FakeClock(datetime.now(UTC) - timedelta(seconds=1)))
    with FakeModelServer() as models:
        worker = start_slow_polling_worker(database, models.url_anthropic, tmp_path / "worker.log")
        try:
            tenant = make_tenant(backbeat, "wake@example.com")
            caller = Caller(tenant.account_id, tenant.key_id(backbeat))
            tasks = [
                backbeat.tasks.create(
                    caller, TaskDraft(f"Task {n}", f"Report {n}", "0 9 * * *", tenant.artist_id)
                ).task
                for n in range(3)
            ]
            wait_until(
                lambda: listening(worker) == 1, STARTUP_TIMEOUT, "the worker to listen", [worker]
            )
            with TestClient(create_app(backbeat)) as client:
                # 1. Queued by this process's API after the worker's first look.
                first = queue_through_the_api(client, tenant, str(tasks[0].id))
                wait_until(
                    lambda: run_status(backbeat, first) is RunStatus.COMPLETED,
                    DEADLINE,
                    "the first run to complete",
                    [worker],
                )

                # 2. The LISTEN connection is cut: the worker reconnects and is woken again.
                assert cut_the_listener(database) == 1
                wait_until(
                    lambda: listening(worker) == 2, DEADLINE, "the worker to listen again", [worker]
                )
                second = queue_through_the_api(client, tenant, str(tasks[1].id))
                wait_until(
                    lambda: run_status(backbeat, second) is RunStatus.COMPLETED,
                    DEADLINE,
                    "the second run to complete",
                    [worker],
                )
                # Once more on the new connection, after the worker's look at the reconnect.
                third = queue_through_the_api(client, tenant, str(tasks[2].id))
                wait_until(
                    lambda: run_status(backbeat, third) is RunStatus.COMPLETED,
                    DEADLINE,
                    "the third run to complete",
                    [worker],
                )
            worker.process.send_signal(signal.SIGTERM)
            assert worker.process.wait(timeout=DEADLINE) == 0, worker.log()
        finally:
            worker.kill()
            backbeat.close()
    log = worker.log()
    # The drop was noticed, then the connection came back, in that order.
    lost = log.index('"worker.listen_lost"')
    assert log.index('"worker.listening"') < lost < log.rindex('"worker.listening"')
    assert listening(worker) == 2
    assert len(models.requests) == 3  # one model call per run, nothing ran twice


def test_notifications_are_sent_on_commit_only(database: str) -> None:
    """The listener in process: a rolled-back transaction's NOTIFY wakes no one, a committed
    one does (both announced the same way the run-creating repositories do)."""
    backbeat = make_backbeat(database, FakeClock(datetime.now(UTC)))
    listener = listener_for(backbeat.engine)
    assert listener is not None
    wakes: list[str] = []
    try:
        listener.start(lambda: wakes.append("wake"))
        wait_until(lambda: listener.connects == 1 and len(wakes) == 1, DEADLINE, "the listener")
        with backbeat.engine.connect() as connection:
            connection.begin()
            announce_runs(connection)
            connection.rollback()
            connection.begin()
            announce_runs(connection)
            announce_runs(connection)  # folded into one by PostgreSQL
            connection.commit()
        wait_until(lambda: len(wakes) >= 2, DEADLINE, "the committed notification")
        # A NOTIFY sent after both: once it is in, everything before it has been delivered.
        with backbeat.engine.begin() as connection:
            connection.execute(text(f"NOTIFY {CHANNEL}, 'last'"))
        wait_until(lambda: len(wakes) >= 3, DEADLINE, "the last notification")
    finally:
        listener.stop()
        backbeat.close()
    # The connect's, the commit's (once), the last one; none for the rollback, which would
    # have been delivered before the last (notifications arrive in commit order).
    assert wakes == ["wake"] * 3


def test_sqlite_has_no_listener(tmp_path: Path) -> None:
    backbeat = make_backbeat(f"sqlite:///{tmp_path / 'backbeat.db'}", FakeClock(datetime.now(UTC)))
    try:
        assert listener_for(backbeat.engine) is None
        with backbeat.engine.begin() as connection:
            announce_runs(connection)  # nothing to send; no error
    finally:
        backbeat.close()
