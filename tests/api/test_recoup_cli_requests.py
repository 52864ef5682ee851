"""Requests shaped as the Recoup CLI's client shapes them (src/client.ts of recoupable/cli):
`x-api-key` and `Content-Type: application/json` on every request (GET included), query
parameters only when given, JSON bodies; a response fails when it is not 2xx or says
`status: "error"`, and its message is `error`, else `message`.

The real CLI, @recoupable/cli 0.1.13 (commit f736a24497f70d2ee9c99fcdafe6e339d3ad9b8a, built
from source and run against `backbeat serve` on 2026-12-07; see the README), has one command
that calls the Tasks API: `recoup tasks status --run RUN_ID [--json]`, which sends
`GET /api/tasks/runs?runId=RUN_ID`. `test_recoup_tasks_status_as_cli_0_1_13_sends_it` replays
it. No CLI version has `tasks list/create/update/delete/runs` (0.1.8 has no `tasks` command at
all): the other requests below are only shaped like the CLI's, for a client that would send
them."""

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

    # POST /api/tasks (no CLI command sends it)
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

    # GET /api/tasks?artist_account_id=…&enabled=true (no CLI command sends it)
    listed = cli.get("/api/tasks", artist_account_id=str(alice.artist_id), enabled="true")
    [row] = listed["tasks"]
    assert {key: row[key] for key in ("id", "title", "schedule", "enabled")} == {
        "id": task_id,
        "title": "Weekly Genre Pulse",
        "schedule": "0 9 * * 4",
        "enabled": True,
    }

    # PATCH /api/tasks with a boolean `enabled` (no CLI command sends it)
    updated = cli.send("PATCH", "/api/tasks", {"id": task_id, "title": "rev", "enabled": False})
    assert updated["tasks"][0]["enabled"] is False

    # GET /api/tasks/runs?limit=10 (no CLI command sends it); ?runId=… (`recoup tasks status`)
    assert cli.get("/api/tasks/runs", limit="10")["runs"] == []
    run = cli.send("POST", "/api/tasks/runs/trigger", {"task_id": task_id})["runs"][0]
    [listed_run] = cli.get("/api/tasks/runs", limit="10")["runs"]
    assert {"id", "status", "createdAt"} <= set(listed_run)
    [status] = cli.get("/api/tasks/runs", runId=run["id"])["runs"]
    assert status["id"] == run["id"]
    assert status["status"] == "QUEUED"

    # DELETE /api/tasks (no CLI command sends it)
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


def status_lines(data: dict[str, Any]) -> list[str]:
    """What `recoup tasks status` prints from an answer (src/commands/tasks/statusCommand.ts)."""
    runs = data.get("runs") if isinstance(data.get("runs"), list) else []
    if not runs:
        return ["Run not found."]
    run = runs[0]
    lines = [f"Run: {run['id']}", f"Status: {run['status']}"]
    output = run.get("output")
    video = output.get("video") if isinstance(output, dict) else None
    if isinstance(video, dict) and video.get("signedUrl"):
        lines.append(f"Video URL: {video['signedUrl']}")
    return lines


def test_recoup_tasks_status_as_cli_0_1_13_sends_it(
    client: TestClient, alice: Tenant, bob: Tenant
) -> None:
    def run_of(tenant: Tenant) -> str:  # set-up through the API, not a CLI command
        body = {
            "title": "Weekly Genre Pulse",
            "prompt": "Analyse genre trends",
            "schedule": "0 9 * * 4",
            "artist_account_id": str(tenant.artist_id),
        }
        created = client.post("/api/tasks", json=body, headers=tenant.headers)
        task_id = created.json()["tasks"][0]["id"]
        triggered = client.post(
            "/api/tasks/runs/trigger", json={"task_id": task_id}, headers=tenant.headers
        )
        run_id: str = triggered.json()["runs"][0]["id"]
        return run_id

    run_id = run_of(alice)
    cli = RecoupCli(client, alice.key)

    # recoup tasks status --run RUN_ID [--json]: GET /api/tasks/runs?runId=RUN_ID
    data = cli.get("/api/tasks/runs", runId=run_id)
    assert status_lines(data) == [f"Run: {run_id}", "Status: QUEUED"]

    # its errors, printed as `Error: <message>` with exit status 1
    failures = []
    for call in (
        lambda: cli.get("/api/tasks/runs", runId="run_nope"),
        lambda: cli.get("/api/tasks/runs", runId=run_of(bob)),
        lambda: RecoupCli(client, "bbk_nope").get("/api/tasks/runs", runId=run_id),
    ):
        try:
            call()
        except RuntimeError as exc:
            failures.append(str(exc))
    assert failures == ["Task run not found", "Task run not found", "Unauthorized"]
