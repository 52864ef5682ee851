"""`backbeat serve` stopped by SIGTERM (what systemd and Kubernetes send) drains its worker:
the attempt in hand finishes, the process exits 0 and says it stopped."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import httpx
import pytest

from backbeat.testing.fake_models import Delay, FakeModelServer, Reply
from tests.acceptance.conftest import cli_json, start_server
from tests.processes import clean_env


@pytest.mark.slow(seconds=13)
def test_sigterm_drains_the_worker(tmp_path: Path) -> None:
    with FakeModelServer() as models:
        models.script(Delay(2.0), Reply("finished during the shutdown"))
        env = clean_env(
            BACKBEAT_DATABASE_URL=f"sqlite:///{tmp_path / 'backbeat.db'}",
            BACKBEAT_ANTHROPIC_API_KEY="sk-test",
            BACKBEAT_ANTHROPIC_BASE_URL=models.url_anthropic,
            BACKBEAT_WORKER_POLL_SECONDS="0.2",
            BACKBEAT_SHUTDOWN_GRACE_SECONDS="20",
            BACKBEAT_LOG_FORMAT="json",
        )
        account = cli_json(env, "accounts", "create", "--email", "ops@label.example")
        artist = cli_json(env, "artists", "create", "--name", "Nova", "--account", account["id"])
        key = cli_json(env, "keys", "create", "--account", account["id"])["key"]
        headers = {"x-api-key": key}

        server = start_server(env, tmp_path)
        try:
            server.wait_until_up()
            task = httpx.post(
                f"{server.url}/api/tasks",
                headers=headers,
                json={
                    "title": "t",
                    "prompt": "p",
                    "schedule": "0 9 * * 1",
                    "artist_account_id": artist["id"],
                    "model": "claude-sonnet-4-6",
                },
            ).json()["tasks"][0]
            run = httpx.post(
                f"{server.url}/api/tasks/runs/trigger",
                headers=headers,
                json={"task_id": task["id"]},
            ).json()["runs"][0]
            deadline = time.monotonic() + 20
            while not models.requests:  # the attempt is executing, waiting on the model
                assert time.monotonic() < deadline, server.output()
                time.sleep(0.05)

            server.process.send_signal(signal.SIGTERM)
            assert server.process.wait(timeout=30) == 0, server.output()
        finally:
            server.kill()

        assert '"event": "worker.stopped"' in server.stderr, server.output()
        shown = cli_json(env, "runs", "show", run["id"], "--account", account["id"])
        assert shown["status"] == "COMPLETED", shown
        assert shown["output"]["text"] == "finished during the shutdown"
