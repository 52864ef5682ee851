"""`backbeat serve` as an operator runs it: a real process, the CLI, and real HTTP."""

from __future__ import annotations

import json
import shlex
from pathlib import Path
from typing import Any

import httpx
import pytest

from backbeat.store.engine import make_engine
from backbeat.store.migrate import head_revision
from tests.acceptance.conftest import (
    MODULE,
    STARTUP_TIMEOUT,
    Server,
    cli_json,
    run_cli,
    serving,
)
from tests.databases import postgres_database
from tests.processes import clean_env, free_port

pytestmark = pytest.mark.slow(seconds=25)

NO_CREDENTIALS = "Exactly one of x-api-key or Authorization must be provided"
SECRET = "acceptance-secret-" + "k" * 40


def error_body(message: str) -> dict[str, str]:
    return {"status": "error", "error": message, "message": message}


def only_task(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "success", body
    [task] = body["tasks"]
    assert isinstance(task, dict)
    return task


def test_serve_runs_the_tasks_api_end_to_end(
    server: Server, sqlite_env: dict[str, str], tmp_path: Path
) -> None:
    # Startup output: where it listens, and how to get an API key (pasteable commands).
    out = server.stdout
    assert f"listening on {server.url}" in out, server.output()
    assert f"Dashboard: {server.url}/" in out, server.output()
    assert f"API docs: {server.url}/docs" in out, server.output()
    assert "No API keys yet" in out, server.output()
    started_as = shlex.join(MODULE)
    for step in ("accounts create --email", "artists create --name", "keys create --account"):
        assert f"{started_as} {step}" in out, server.output()
    assert f"curl -H 'x-api-key: <key>' {server.url}/api/tasks" in out
    server_secret = (tmp_path / "backbeat.db.secret").read_text().strip()
    assert len(server_secret) >= 32

    with httpx.Client(base_url=server.url, timeout=10.0) as http:
        # No credentials: 401 with the documented body.
        response = http.get("/api/tasks")
        assert response.status_code == 401
        assert response.json() == error_body(NO_CREDENTIALS)

        # An account, an artist and a key, made with the CLI while the server runs.
        account = cli_json(sqlite_env, "accounts", "create", "--email", "ops@example.com")
        artist = cli_json(
            sqlite_env, "artists", "create", "--name", "Nova", "--account", account["id"]
        )
        key = cli_json(sqlite_env, "keys", "create", "--account", account["id"])
        assert key["account_id"] == account["id"]
        assert key["expires_at"] is None
        headers = {"x-api-key": key["key"]}

        # Create.
        response = http.post(
            "/api/tasks",
            headers=headers,
            json={
                "title": "Weekly Genre Pulse Check",
                "prompt": "Analyse this artist's genre trends and email the team a summary.",
                "schedule": "0 9 * * 4",
                "artist_account_id": artist["id"],
            },
        )
        task = only_task(response)
        assert task["title"] == "Weekly Genre Pulse Check"
        assert task["account_id"] == account["id"]
        assert task["artist_account_id"] == artist["id"]
        assert task["owner_email"] == "ops@example.com"
        assert task["enabled"] is True
        assert task["timezone"] == "UTC"
        assert task["recent_runs"] == []
        # The server's clock started on Monday 2026-01-05 12:00 UTC: the next five Thursdays.
        assert task["upcoming"] == [
            "2026-01-08T09:00:00.000Z",
            "2026-01-15T09:00:00.000Z",
            "2026-01-22T09:00:00.000Z",
            "2026-01-29T09:00:00.000Z",
            "2026-02-05T09:00:00.000Z",
        ]

        # List, and get by id (the Bearer form of the same key works too).
        response = http.get("/api/tasks", headers=headers)
        assert response.status_code == 200, response.text
        assert response.json() == {"status": "success", "tasks": [task]}
        bearer = {"Authorization": f"Bearer {key['key']}"}
        assert only_task(http.get("/api/tasks", params={"id": task["id"]}, headers=bearer)) == task

        # Update: a new title, and paused, so nothing is upcoming.
        response = http.patch(
            "/api/tasks",
            headers=headers,
            json={"id": task["id"], "title": "Renamed", "enabled": False},
        )
        updated = only_task(response)
        assert updated["id"] == task["id"]
        assert updated["title"] == "Renamed"
        assert updated["enabled"] is False
        assert updated["upcoming"] == []
        assert updated["schedule"] == task["schedule"]
        assert only_task(http.get("/api/tasks", params={"id": task["id"]}, headers=headers)) == (
            updated
        )

        # Delete, and it is gone.
        response = http.request("DELETE", "/api/tasks", headers=headers, json={"id": task["id"]})
        assert response.status_code == 200, response.text
        assert response.json() == {"status": "success"}
        response = http.get("/api/tasks", params={"id": task["id"]}, headers=headers)
        assert response.json() == {"status": "success", "tasks": []}
        response = http.get("/api/tasks", headers=headers)
        assert response.json() == {"status": "success", "tasks": []}
        response = http.patch("/api/tasks", headers=headers, json={"id": task["id"]})
        assert response.status_code == 404
        assert response.json() == error_body("Task not found")

        # A second key works until `keys revoke`, then answers 401 Unauthorized; the first
        # key is untouched.
        spare = cli_json(sqlite_env, "keys", "create", "--account", account["id"])
        spare_headers = {"x-api-key": spare["key"]}
        assert http.get("/api/tasks", headers=spare_headers).status_code == 200
        revoked = run_cli(sqlite_env, "keys", "revoke", spare["id"])
        assert revoked.returncode == 0, revoked.stderr
        assert revoked.stdout.strip() == f"revoked {spare['id']}"
        response = http.get("/api/tasks", headers=spare_headers)
        assert response.status_code == 401
        assert response.json() == error_body("Unauthorized")
        assert http.get("/api/tasks", headers=headers).status_code == 200

    listed = run_cli(sqlite_env, "keys", "list", "--account", account["id"], "--json")
    assert listed.returncode == 0, listed.stderr
    states = {
        record["id"]: record["state"] for record in map(json.loads, listed.stdout.splitlines())
    }
    assert states == {key["id"]: "active", spare["id"]: "revoked"}
    assert key["key"] not in listed.stdout
    assert spare["key"] not in listed.stdout

    # Ctrl-C stops it cleanly; no secret ever reached its output.
    assert server.stop() == 0, server.output()
    assert "Application shutdown complete" in server.stderr, server.output()
    output = server.output()
    for secret in (server_secret, key["key"], spare["key"]):
        assert secret not in output


def test_postgres_needs_a_secret_and_a_migrated_schema(tmp_path: Path) -> None:
    with postgres_database("backbeat_accept") as url:
        env = clean_env(BACKBEAT_DATABASE_URL=url)
        with_secret = {**env, "BACKBEAT_SECRET_KEY": SECRET}
        port = str(free_port())

        # No secret: serve refuses, naming the setting to fix.
        refused = run_cli(env, "serve", "--port", port, command=MODULE, timeout=STARTUP_TIMEOUT)
        assert refused.returncode != 0, refused.stdout + refused.stderr
        assert "BACKBEAT_SECRET_KEY" in refused.stderr
        assert "Traceback" not in refused.stderr

        # A secret but an empty database: serve refuses and says to migrate.
        refused = run_cli(
            with_secret, "serve", "--port", port, command=MODULE, timeout=STARTUP_TIMEOUT
        )
        assert refused.returncode != 0, refused.stdout + refused.stderr
        assert "backbeat migrate" in refused.stderr
        assert "Traceback" not in refused.stderr
        assert SECRET not in refused.stdout + refused.stderr

        # `backbeat migrate` needs only the database, and prints the revision it reached.
        engine = make_engine(url)
        head = head_revision(engine)
        engine.dispose()
        assert head
        migrated = run_cli(env, "migrate")
        assert migrated.returncode == 0, migrated.stdout + migrated.stderr
        assert migrated.stdout.strip() == f"database at revision {head} (was empty)"

        # Migrated, it starts.
        with serving(with_secret, tmp_path) as server:
            response = httpx.get(f"{server.url}/api/tasks", timeout=10.0)
            assert response.status_code == 401
            assert response.json() == error_body(NO_CREDENTIALS)
            assert f"Database: {url}" in server.stdout, server.output()
        assert SECRET not in server.output()
