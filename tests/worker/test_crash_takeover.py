"""A worker process dies mid-attempt: its lease expires, the attempt is failed as WorkerCrashed,
and another worker takes the run over.

A real `backbeat worker` process claims two runs and asks the fake model server, which holds
both answers for 30 s, so the runs stay EXECUTING under that process's lease. The test then
SIGKILLs the process: nothing is handed back, nothing is recorded. Rather than wait for the
lease to run out in real time, the test reaps with a clock just past the recorded expiry (and,
first, just before it, when nothing may be reaped). One run had attempts left and waits in
REATTEMPTING for its retry, which a healthy worker then completes; the other had
`max_attempts=1` and ends CRASHED. The public API shows both as documented.
"""

from __future__ import annotations

import asyncio
import random
import signal
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr
from starlette.testclient import TestClient

from backbeat.asgi import create_app
from backbeat.config import Settings
from backbeat.domain.failures import RetryPolicy
from backbeat.domain.models import Run
from backbeat.domain.runs import AttemptStatus, RunStatus
from backbeat.services.keys import Caller
from backbeat.services.tasks import TaskDraft
from backbeat.services.worker import WorkQueue
from backbeat.testing import FakeClock
from backbeat.testing.fake_models import Delay, FakeModelServer, Reply
from backbeat.wiring import Backbeat, build, build_worker
from tests.conftest import SECRET, Tenant, make_tenant
from tests.databases import postgres_database
from tests.worker.processes import start_worker, wait_until

pytestmark = pytest.mark.slow(seconds=5)

LEASE_SECONDS = 5
SLOW_REPLY_SECONDS = 30.0  # far longer than the test: the killed worker never gets an answer
STARTUP_TIMEOUT = 40.0  # a worker interpreter imports the whole app; the CI box is busy
TIMEOUT = 20.0
MODEL = "anthropic/claude-sonnet-4.6"  # the default model, routed to Anthropic


@pytest.fixture
def database() -> Iterator[str]:
    with postgres_database(prefix="backbeat_crash", migrated=True) as url:
        yield url


def create_task(backbeat: Backbeat, tenant: Tenant, title: str, **fields: Any) -> Any:
    caller = Caller(tenant.account_id, tenant.key_id(backbeat))
    draft = TaskDraft(
        title=title,
        prompt=f"Report on {title}",
        schedule="0 9 * * *",
        artist_account_id=tenant.artist_id,
        model=MODEL,
        **fields,
    )
    return backbeat.tasks.create(caller, draft).task.id


def trigger(backbeat: Backbeat, tenant: Tenant, task_id: Any) -> Run:
    return backbeat.runs.trigger(Caller(tenant.account_id, tenant.key_id(backbeat)), task_id)


def load(backbeat: Backbeat, run_id: str) -> Run:
    with backbeat.uow() as uow:
        run = uow.runs.get(run_id)
    assert run is not None
    return run


def api_run(client: TestClient, tenant: Tenant, run_id: str) -> dict[str, Any]:
    response = client.get("/api/tasks/runs", params={"runId": run_id}, headers=tenant.headers)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "success"
    [run] = body["runs"]
    assert isinstance(run, dict)
    return run


def assert_crashed_attempt(error: dict[str, Any] | None, worker_id: str) -> None:
    assert error is not None
    assert error["name"] == "WorkerCrashed"
    assert error["kind"] == "worker_crashed"
    assert "lease" in error["message"]
    assert worker_id in error["message"]


async def work_until(worker: Any, done: Callable[[], bool], what: str) -> None:
    """Run the worker's loop (as `backbeat worker` does) until `done`, then stop it."""
    loop_task = asyncio.create_task(worker.run())
    try:
        deadline = time.monotonic() + TIMEOUT
        while not await asyncio.to_thread(done):
            if loop_task.done():
                loop_task.result()  # raises what killed it
                raise AssertionError("the worker loop returned early")
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {TIMEOUT}s waiting for {what}")
            await asyncio.sleep(0.02)
    finally:
        worker.stop()
        await asyncio.wait_for(loop_task, TIMEOUT)


def test_a_killed_workers_runs_are_reaped_retried_and_crashed(
    database: str, models: FakeModelServer, tmp_path: Path
) -> None:
    # The killed worker's two requests are answered only after the test is over.
    for _ in range(2):
        models.script(Delay(SLOW_REPLY_SECONDS), Reply("never delivered"))
    # The test's own clock: the real time now (so the worker process, on the real clock, sees
    # the runs as due), moved by hand later.
    clock = FakeClock(datetime.now(UTC) - timedelta(seconds=1))
    config = Settings(
        database_url=database,
        secret_key=SECRET,
        anthropic_api_key=SecretStr("sk-test"),
        anthropic_base_url=models.url_anthropic,
        lease_seconds=LEASE_SECONDS,
        worker_poll_seconds=0.02,
    )
    backbeat = build(config, clock=clock)
    doomed = start_worker(
        database,
        models.url_anthropic,
        tmp_path / "worker.log",
        BACKBEAT_LEASE_SECONDS=str(LEASE_SECONDS),
    )
    try:
        tenant = make_tenant(backbeat, "crash@example.com")
        retried = trigger(backbeat, tenant, create_task(backbeat, tenant, "Retried"))
        last = trigger(backbeat, tenant, create_task(backbeat, tenant, "Last", max_attempts=1))
        assert (retried.max_attempts, last.max_attempts) == (3, 1)

        # The worker process claims both runs under its lease and asks the model.
        def both_in_flight() -> bool:
            runs = [load(backbeat, retried.id), load(backbeat, last.id)]
            return len(models.requests) == 2 and all(
                run.status is RunStatus.EXECUTING
                and run.lease_owner is not None
                and f":{doomed.pid}:" in run.lease_owner
                for run in runs
            )

        wait_until(both_in_flight, STARTUP_TIMEOUT, "the worker to claim both runs", [doomed])
        doomed.process.send_signal(signal.SIGKILL)
        doomed.kill()
        assert doomed.process.returncode == -signal.SIGKILL

        # Still EXECUTING, under a lease nobody renews any more.
        before = {run_id: load(backbeat, run_id) for run_id in (retried.id, last.id)}
        for run in before.values():
            assert run.status is RunStatus.EXECUTING
            [attempt] = run.attempts
            assert attempt.status is AttemptStatus.EXECUTING
        worker_id = before[retried.id].lease_owner
        assert worker_id is not None
        assert before[last.id].lease_owner == worker_id
        expiries = [run.lease_expires_at for run in before.values()]
        assert all(expiry is not None for expiry in expiries)
        first_expiry = min(e for e in expiries if e is not None)
        last_expiry = max(e for e in expiries if e is not None)

        reaper_clock = FakeClock(first_expiry - timedelta(milliseconds=1))
        reaper = WorkQueue(
            backbeat.uow,
            reaper_clock,
            lease=timedelta(seconds=LEASE_SECONDS),
            retry=RetryPolicy(),
            rng=random.Random(3),
        )
        assert reaper.reap() == []  # a lease still running is left alone
        reap_time = last_expiry + timedelta(milliseconds=1)
        reaper_clock.set(reap_time)
        reaped = reaper.reap()
        assert {run.id for run in reaped} == {retried.id, last.id}
        assert reaper.reap() == []  # once only

        # Attempts remained: the run waits for its retry, after the first backoff step.
        waiting = load(backbeat, retried.id)
        assert waiting.status is RunStatus.REATTEMPTING
        assert waiting.lease_owner is None
        assert waiting.lease_expires_at is None
        assert waiting.finished_at is None
        assert waiting.delayed_until is not None
        delay = waiting.delayed_until - reap_time
        assert timedelta(seconds=0.5) <= delay <= timedelta(seconds=1)
        assert waiting.available_at == waiting.delayed_until
        assert_crashed_attempt(waiting.error, worker_id)
        [crashed_attempt] = waiting.attempts
        assert crashed_attempt.number == 1
        assert crashed_attempt.status is AttemptStatus.FAILED
        assert crashed_attempt.worker_id == worker_id
        assert crashed_attempt.completed_at == reap_time
        assert_crashed_attempt(crashed_attempt.error, worker_id)

        # The last allowed attempt crashed: the run is over, CRASHED.
        crashed = load(backbeat, last.id)
        assert crashed.status is RunStatus.CRASHED
        assert crashed.finished_at == reap_time
        assert crashed.delayed_until is None
        assert crashed.lease_owner is None
        assert crashed.attempt_count == 1
        assert_crashed_attempt(crashed.error, worker_id)
        [only] = crashed.attempts
        assert only.status is AttemptStatus.FAILED
        assert_crashed_attempt(only.error, worker_id)

        with TestClient(create_app(backbeat), raise_server_exceptions=False) as client:
            shown = api_run(client, tenant, retried.id)
            assert shown["status"] == "REATTEMPTING"
            assert shown["delayedUntil"] is not None
            assert shown["finishedAt"] is None
            assert shown["attemptCount"] == 1
            assert [(a["number"], a["status"]) for a in shown["attempts"]] == [(1, "FAILED")]
            assert_crashed_attempt(shown["attempts"][0]["error"], worker_id)

            # A healthy worker (the model now answers at once) retries it when it falls due,
            # on the test's clock; the CRASHED run is final and left alone.
            clock.set(waiting.delayed_until)
            healthy = build_worker(backbeat, worker_id="healthy-worker")

            def retried_done() -> bool:
                return load(backbeat, retried.id).status.is_final

            asyncio.run(work_until(healthy, retried_done, "the retry to finish"))

            done = load(backbeat, retried.id)
            assert done.status is RunStatus.COMPLETED
            assert done.error is None
            assert done.output is not None
            assert done.output["text"] == "Report: Report on Retried"
            assert done.attempt_count == 2
            assert [(a.number, a.status, a.worker_id) for a in done.attempts] == [
                (1, AttemptStatus.FAILED, worker_id),
                (2, AttemptStatus.COMPLETED, "healthy-worker"),
            ]
            assert done.attempts[0].error == crashed_attempt.error
            assert done.attempts[1].error is None
            # The dead worker's request, the healthy worker's retry; nothing for the CRASHED run.
            assert len(models.requests) == 3
            assert load(backbeat, last.id) == crashed

            shown = api_run(client, tenant, retried.id)
            assert shown["status"] == "COMPLETED"
            assert shown["error"] is None
            assert shown["finishedAt"] is not None
            assert shown["attemptCount"] == 2
            assert [(a["number"], a["status"]) for a in shown["attempts"]] == [
                (1, "FAILED"),
                (2, "COMPLETED"),
            ]
            assert_crashed_attempt(shown["attempts"][0]["error"], worker_id)
            assert shown["attempts"][1]["error"] is None
            assert shown["output"]["text"] == "Report: Report on Retried"

            shown = api_run(client, tenant, last.id)
            assert shown["status"] == "CRASHED"
            assert shown["finishedAt"] is not None
            assert shown["delayedUntil"] is None
            assert shown["attemptCount"] == 1
            assert_crashed_attempt(shown["error"], worker_id)
            assert [(a["number"], a["status"]) for a in shown["attempts"]] == [(1, "FAILED")]
            assert_crashed_attempt(shown["attempts"][0]["error"], worker_id)
    finally:
        doomed.kill()
        backbeat.close()
