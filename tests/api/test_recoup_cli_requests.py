"""The Recoup CLI's own requests, as its `tasks` commands send them, and its way of reading
the answers (src/client.ts of recoupable/cli): `x-api-key` and `Content-Type: application/json`
on every request (GET included), query parameters only when given, JSON bodies; a response
fails when it is not 2xx or says `status: "error"`, and its message is `error`, else
`message`. (The real CLI was also run by hand against `backbeat serve`; see the README.)"""

from __future__ import annotations

from typing import Any

from starlette.testclient import TestClient

from tests.conftest import Tenant


class RecoupCli:
    """Requests shaped exactly as the CLI's client.ts shapes them."""

    def __init__(self, client: TestClient, key: str) -> None:
        self.client = client
        self.headers = {"x-api-key": key, "Content-Type": "application/json"}

    def _read(self, response: Any) -> dict[str, Any]:
        data: dict[str, Any] = response.json()
        if not response.is_success or data.get("status") == "error":
            raise RuntimeError(data.get("error") or data.get("message"))
        return data

    def get(self, path: str, **params: str) -> dict[str, Any]:
        given = {key: value for key, value in params.items() if value}
        return self._read(self.client.get(path, params=given, headers=self.headers))

    def send(self, method: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
        response = self.client.request(method, path, json=body, headers=self.headers)
        return self._read(response)


def test_the_tasks_commands_round_trip(client: TestClient, alice: Tenant) -> None:
    cli = RecoupCli(client, alice.key)

    # recoup tasks create --title … --prompt … --schedule … --artist …
    created = cli.send(
        "POST",
        "/api/tasks",
        {
            "title": "Weekly Genre Pulse",
            "prompt": "Analyse genre trends",
            "schedule": "0 9 * * 4",
            "artist_account_id": str(alice.artist_id),
        },
    )
    task_id = created["tasks"][0]["id"]

    # recoup tasks list [--artist X --enabled true]: prints id, title, schedule, enabled
    listed = cli.get("/api/tasks", artist_account_id=str(alice.artist_id), enabled="true")
    [row] = listed["tasks"]
    assert {key: row[key] for key in ("id", "title", "schedule", "enabled")} == {
        "id": task_id,
        "title": "Weekly Genre Pulse",
        "schedule": "0 9 * * 4",
        "enabled": True,
    }

    # recoup tasks update --id … --title … --enabled false (the CLI sends a boolean)
    updated = cli.send("PATCH", "/api/tasks", {"id": task_id, "title": "rev", "enabled": False})
    assert updated["tasks"][0]["enabled"] is False

    # recoup tasks runs --limit 10; recoup tasks status --run …
    assert cli.get("/api/tasks/runs", limit="10")["runs"] == []
    run = cli.send("POST", "/api/tasks/runs/trigger", {"task_id": task_id})["runs"][0]
    [listed_run] = cli.get("/api/tasks/runs", limit="10")["runs"]
    assert {"id", "status", "createdAt"} <= set(listed_run)
    [status] = cli.get("/api/tasks/runs", runId=run["id"])["runs"]
    assert status["id"] == run["id"]
    assert status["status"] == "QUEUED"

    # recoup tasks delete --id …
    assert cli.send("DELETE", "/api/tasks", {"id": task_id}) == {"status": "success"}
    assert cli.get("/api/tasks")["tasks"] == []


def test_the_cli_prints_the_real_services_messages(client: TestClient, alice: Tenant) -> None:
    cli = RecoupCli(client, alice.key)
    failures = []
    for call in (
        lambda: cli.send("PATCH", "/api/tasks", {"id": "6f1c2b7e-1d2a-4c3b-9e8f-0a1b2c3d4e5f"}),
        lambda: cli.get("/api/tasks/runs", runId="run_nope"),
        lambda: cli.get("/api/tasks/runs", limit="0"),
        lambda: cli.send("POST", "/api/tasks", {"title": ""}),
        lambda: RecoupCli(client, "bbk_nope").get("/api/tasks"),
    ):
        try:
            call()
        except RuntimeError as exc:
            failures.append(str(exc))

    assert failures == [
        "Task not found",
        "Task run not found",
        "Too small: expected number to be >=1",
        "title parameter is required",
        "Unauthorized",
    ]
