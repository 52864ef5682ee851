"""`backbeat serve` runs a scheduler: a task that comes due gets its run, over real HTTP.

The server's clock starts a few seconds before a minute boundary (BACKBEAT_CLOCK_START), so
an every-minute task fires within seconds, not a real minute.
"""

from __future__ import annotations

import time
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.acceptance.conftest import cli_json, start_server
from tests.processes import clean_env


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


@pytest.mark.slow(seconds=17)
def test_a_due_task_gets_a_run(tmp_path: Path) -> None:
    env = clean_env(
        BACKBEAT_DATABASE_URL=f"sqlite:///{tmp_path / 'backbeat.db'}",
        BACKBEAT_CLOCK_START="2026-01-08T08:59:50Z",
        # The scheduler alone: a worker in this process would pick the run up at once.
        BACKBEAT_SERVE_WORKER="false",
    )
    # Accounts and keys first: the CLI works on the database directly, and the server's
    # clock starts only when the server does.
    account = cli_json(env, "accounts", "create", "--email", "ops@label.example")
    artist = cli_json(env, "artists", "create", "--name", "Nova", "--account", account["id"])
    key = cli_json(env, "keys", "create", "--account", account["id"])["key"]
    headers = {"x-api-key": key}

    server = start_server(env, tmp_path)
    try:
        server.wait_until_up()
        created = httpx.post(
            f"{server.url}/api/tasks",
            headers=headers,
            json={
                "title": "Minute pulse",
                "prompt": "Say hello",
                "schedule": "* * * * *",
                "artist_account_id": artist["id"],
            },
        )
        assert created.status_code == 200, created.text
        task = created.json()["tasks"][0]
        fire_at = _at(task["upcoming"][0])
        server_now = _at(task["created_at"])
        assert fire_at > server_now

        run = _wait_for_run(server.url, headers, (fire_at - server_now).total_seconds() + 20)

        assert run["status"] == "QUEUED"
        assert run["trigger"] == "scheduled"
        assert run["triggerFunction"] == "trigger"
        assert run["taskId"] == task["id"]
        full = httpx.get(
            f"{server.url}/api/tasks/runs", params={"runId": run["id"]}, headers=headers
        )
        [detail] = full.json()["runs"]
        assert detail["schedule"]["timestamp"] == task["upcoming"][0]
        assert detail["idempotencyKey"] == f"{task['id']}:{task['upcoming'][0]}"
        assert detail["payload"]["prompt"] == "Say hello"
        listed = httpx.get(f"{server.url}/api/tasks", headers=headers).json()["tasks"][0]
        assert [r["id"] for r in listed["recent_runs"]] == [run["id"]]
    finally:
        assert server.stop() == 0, server.output()


def _wait_for_run(url: str, headers: dict[str, str], timeout: float) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        runs = httpx.get(f"{url}/api/tasks/runs", headers=headers).json()["runs"]
        if runs:
            return runs[0]
        time.sleep(0.2)
    raise AssertionError(f"no run within {timeout:.0f} s")
