"""Workers that die or stall mid-run, as real processes: a report still reaches the owner
once.

1. `backbeat serve` is SIGKILLed while its email is on the wire (the SMTP server has the whole
   message and has not answered): after a restart the run is retried, the retry is told the
   owner already has the email, and the delivery ends unconfirmed. One copy.
2. A worker is frozen (SIGSTOP) longer than its lease while it waits on the model; another
   worker takes the run over and completes it. When the frozen one wakes, its stale attempt
   sends nothing, records nothing and is not claimed again. One copy, one completed attempt.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from backbeat.testing.fake_models import Delay, FakeModelServer, Reply, ToolCallReply
from tests.acceptance.conftest import Server, serving, start_server
from tests.acceptance.test_end_to_end import (
    OWNER,
    Team,
    create_task,
    get_run,
    make_team,
    run_now,
    tool_results,
    wait_until_final,
)
from tests.faults.smtp import HANG, FaultySmtpServer, serve_env
from tests.worker.processes import WorkerProcess, start_worker

pytestmark = pytest.mark.slow(seconds=75)

SEND = {"to": [OWNER], "subject": "Weekly pulse", "body": "The weekly pulse."}
FINAL = "Done."
TIMEOUT = 60.0


def wait_for(what: str, check: Callable[[], bool], timeout: float = TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def env_for(directory: Path, models: FakeModelServer, smtp: FaultySmtpServer, **extra: str) -> Any:
    return serve_env(directory, models, smtp, BACKBEAT_LEASE_SECONDS="5", **extra)


@pytest.fixture
def models() -> Iterator[FakeModelServer]:
    with FakeModelServer() as fake:
        yield fake


@pytest.fixture
def smtp() -> Iterator[FaultySmtpServer]:
    with FaultySmtpServer() as server:
        yield server


def test_a_worker_killed_with_its_email_on_the_wire_never_sends_it_twice(
    tmp_path: Path, models: FakeModelServer, smtp: FaultySmtpServer
) -> None:
    env = env_for(
        tmp_path,
        models,
        smtp,
        # The server keeps the message and never answers; the data timeout is long enough
        # for the kill to land first. A send lasts at most 9 x 1 s + 3 s, so a `sending`
        # delivery with no report after twice that (24 s) counts as unconfirmed.
        BACKBEAT_SMTP_TIMEOUT_SECONDS="1",
        BACKBEAT_SMTP_DATA_TIMEOUT_SECONDS="3",
        BACKBEAT_OUTBOX_POLL_SECONDS="0.5",
    )
    team = make_team(env, organization=False)
    smtp.handler.plan.data.append(HANG)
    models.script(ToolCallReply("send_email", SEND), Reply(FINAL))
    first = start_server(env, tmp_path)
    try:
        first.wait_until_up()
        task = create_task(first, team, "0 9 * * 1", "Email the owner the pulse.")
        run = run_now(first, team, task["id"])
        wait_for("the whole message at the server", lambda: smtp.handler.copies(OWNER) == 1)
    finally:
        first.kill()  # SIGKILL: no report of the send, no outcome, no lease given back
    models.reset()
    models.script(ToolCallReply("send_email", SEND), Reply(FINAL))

    with serving(env, tmp_path) as second:
        final = wait_until_final_after_takeover(second, team, run["id"])
        assert final["status"] == "COMPLETED", final
        first_attempt, second_attempt = final["attempts"]
        assert first_attempt["error"]["name"] == "WorkerCrashed"
        assert second_attempt["status"] == "COMPLETED"
        [told] = tool_results(models.requests[-1].messages)
        assert "Not sent again" in told, told
        # The send the kill cut off is never retried: once its time is up it is unconfirmed.
        deadline = time.monotonic() + TIMEOUT
        while True:
            [delivery] = get_run(second, team, run["id"])["output"]["deliveries"]
            if delivery["status"] != "sending":
                break
            assert time.monotonic() < deadline, delivery
            time.sleep(0.5)
        assert delivery["status"] == "unconfirmed", delivery
        assert delivery["tries"] == 1
    assert smtp.handler.copies(OWNER) == 1


def wait_until_final_after_takeover(server: Server, team: Team, run_id: str) -> dict[str, Any]:
    """The run once final: first its lease (5 s) must run out and another attempt finish."""
    deadline = time.monotonic() + TIMEOUT
    while True:
        run = get_run(server, team, run_id)
        if run["status"] in ("COMPLETED", "FAILED", "CRASHED", "CANCELED", "SYSTEM_FAILURE"):
            return run
        assert time.monotonic() < deadline, run
        time.sleep(0.2)


def test_a_worker_frozen_past_its_lease_wakes_to_nothing(
    tmp_path: Path, models: FakeModelServer, smtp: FaultySmtpServer
) -> None:
    env = env_for(tmp_path, models, smtp, BACKBEAT_SERVE_WORKER="false")
    team = make_team(env, organization=False)
    workers: list[WorkerProcess] = []

    def worker(name: str) -> WorkerProcess:
        own = ("DATABASE_URL", "SERVE_WORKER", "WORKER_POLL_SECONDS", "ANTHROPIC_")
        settings = {
            key: value
            for key, value in env.items()
            if key.startswith("BACKBEAT_") and not key.removeprefix("BACKBEAT_").startswith(own)
        }
        process = start_worker(
            env["BACKBEAT_DATABASE_URL"], models.url_anthropic, tmp_path / f"{name}.log", **settings
        )
        workers.append(process)
        wait_for(f"{name} to start", process.ready)
        return process

    # The first attempt's answer comes late: the frozen worker gets it after it wakes.
    models.script(Delay(12.0), ToolCallReply("send_email", SEND))
    try:
        with serving(env, tmp_path) as server:
            frozen = worker("frozen")
            task = create_task(server, team, "0 9 * * 1", "Email the owner the pulse.")
            run = run_now(server, team, task["id"])
            wait_for("the first attempt to ask the model", lambda: len(models.requests) == 1)
            os.kill(frozen.pid, signal.SIGSTOP)
            try:
                models.script(ToolCallReply("send_email", SEND), Reply(FINAL))
                worker("rescuer")
                final = wait_until_final(server, team, run["id"])
            finally:
                os.kill(frozen.pid, signal.SIGCONT)
            assert final["status"] == "COMPLETED", final
            assert smtp.handler.copies(OWNER) == 1
            # The frozen worker wakes, gets its late answer and asks to email: refused.
            wait_for(
                "the stale attempt to be dropped",
                lambda: "run.outcome_discarded" in frozen.log() or "run.abandoned" in frozen.log(),
            )
            time.sleep(2.0)  # time to (wrongly) send or record something
            after = get_run(server, team, run["id"])
            assert smtp.handler.copies(OWNER) == 1
            assert [a["status"] for a in after["attempts"]] == ["FAILED", "COMPLETED"]
            assert after["attempts"][0]["error"]["name"] == "WorkerCrashed"
            assert after["status"] == "COMPLETED"
            [delivery] = after["output"]["deliveries"]
            assert (delivery["status"], delivery["tries"]) == ("sent", 1)
            assert frozen.log().count("run.claimed") == 1  # never claimed again
    finally:
        for process in workers:
            process.kill()
