"""Extensions: POST /api/tasks/runs/trigger (run now) and /api/tasks/runs/cancel."""

from __future__ import annotations

from typing import Any

from starlette.testclient import TestClient

from backbeat.wiring import Backbeat
from tests.api.helpers import assert_error, create_task
from tests.conftest import Tenant


def _trigger(client: TestClient, tenant: Tenant, body: Any) -> Any:
    return client.post("/api/tasks/runs/trigger", json=body, headers=tenant.headers)


def _cancel(client: TestClient, tenant: Tenant, run_id: str) -> Any:
    return client.post("/api/tasks/runs/cancel", json={"runId": run_id}, headers=tenant.headers)


def test_run_now_queues_a_manual_run(client: TestClient, alice: Tenant) -> None:
    task = create_task(client, alice)

    response = _trigger(client, alice, {"task_id": task["id"]})

    assert response.status_code == 200, response.text
    [run] = response.json()["runs"]
    assert run["status"] == "QUEUED"
    assert run["trigger"] == "manual"
    assert run["triggerFunction"] == "trigger"
    assert run["isTest"] is False
    assert run["idempotencyKey"] == f"manual:{run['id']}"
    assert run["payload"]["prompt"] == task["prompt"]
    assert run["payload"]["fire_time"] is None
    assert run["schedule"] is None
    listed = client.get("/api/tasks", headers=alice.headers).json()["tasks"][0]
    assert [r["id"] for r in listed["recent_runs"]] == [run["id"]]


def test_run_now_works_on_a_paused_task_and_can_be_a_test(
    client: TestClient, alice: Tenant
) -> None:
    task = create_task(client, alice)
    client.patch("/api/tasks", json={"id": task["id"], "enabled": False}, headers=alice.headers)

    [run] = _trigger(client, alice, {"task_id": task["id"], "is_test": True}).json()["runs"]

    assert run["isTest"] is True
    assert "test" in run["tags"]


def test_run_now_wakes_an_in_process_worker(
    client: TestClient, backbeat: Backbeat, alice: Tenant
) -> None:
    woken: list[int] = []
    backbeat.runs_queued.subscribe(lambda: woken.append(1))
    task = create_task(client, alice)

    _trigger(client, alice, {"task_id": task["id"]})

    assert woken == [1]


def test_run_now_follows_the_tenancy_rules(client: TestClient, alice: Tenant, bob: Tenant) -> None:
    task = create_task(client, bob)
    assert_error(
        _trigger(client, alice, {"task_id": task["id"]}), 403, "Access denied to this task"
    )
    unknown = "6f1c2b7e-1d2a-4c3b-9e8f-0a1b2c3d4e5f"
    assert_error(_trigger(client, alice, {"task_id": unknown}), 404, "Task not found")
    assert_error(
        _trigger(client, alice, {"task_id": task["id"], "account_id": str(bob.account_id)}),
        403,
        "Access denied to specified account_id",
    )


def test_run_now_validates_its_body(client: TestClient, alice: Tenant) -> None:
    assert_error(
        _trigger(client, alice, {}),
        400,
        "Invalid input: expected string, received undefined",
        ["task_id"],
    )
    assert_error(
        _trigger(client, alice, {"task_id": "x"}), 400, "task_id must be a valid UUID", ["task_id"]
    )
    task = create_task(client, alice)
    assert_error(
        _trigger(client, alice, {"task_id": task["id"], "is_test": "yes"}),
        400,
        "Invalid input: expected boolean, received string",
        ["is_test"],
    )
    assert_error(
        _trigger(client, alice, {"task_id": task["id"], "x": 1}), 400, 'Unrecognized key: "x"', []
    )


def test_cancel_a_queued_run(client: TestClient, alice: Tenant) -> None:
    task = create_task(client, alice)
    [run] = _trigger(client, alice, {"task_id": task["id"]}).json()["runs"]

    response = _cancel(client, alice, run["id"])

    assert response.status_code == 200, response.text
    [canceled] = response.json()["runs"]
    assert canceled["status"] == "CANCELED"
    assert canceled["finishedAt"] is not None
    assert_error(_cancel(client, alice, run["id"]), 409, "the run has already finished (CANCELED)")


def test_cancel_follows_the_tenancy_rules(client: TestClient, alice: Tenant, bob: Tenant) -> None:
    task = create_task(client, bob)
    [run] = _trigger(client, bob, {"task_id": task["id"]}).json()["runs"]

    assert_error(_cancel(client, alice, run["id"]), 404, "Task run not found")
    assert_error(_cancel(client, alice, "run_nothing"), 404, "Task run not found")
    assert_error(
        client.post("/api/tasks/runs/cancel", json={}, headers=alice.headers),
        400,
        "Invalid input: expected string, received undefined",
        ["runId"],
    )
