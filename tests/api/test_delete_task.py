"""DELETE /api/tasks."""

from __future__ import annotations

from typing import Any

from starlette.testclient import TestClient

from backbeat.wiring import Backbeat
from tests.api.helpers import assert_error, create_task, list_tasks
from tests.conftest import Tenant


def _delete(client: TestClient, tenant: Tenant, body: Any) -> Any:
    return client.request("DELETE", "/api/tasks", json=body, headers=tenant.headers)


def test_deletes_and_answers_only_the_status(client: TestClient, alice: Tenant) -> None:
    task = create_task(client, alice)

    response = _delete(client, alice, {"id": task["id"]})

    assert response.status_code == 200
    assert response.json() == {"status": "success"}
    assert list_tasks(client, alice) == []
    assert_error(_delete(client, alice, {"id": task["id"]}), 404, "Task not found")


def test_unknown_keys_are_ignored(client: TestClient, alice: Tenant) -> None:
    task = create_task(client, alice)

    assert _delete(client, alice, {"id": task["id"], "reason": "done"}).status_code == 200


def test_another_accounts_task_is_403(client: TestClient, alice: Tenant, bob: Tenant) -> None:
    task = create_task(client, bob)

    assert_error(_delete(client, alice, {"id": task["id"]}), 403, "Access denied to this task")
    assert len(list_tasks(client, bob)) == 1


def test_account_id_is_honoured(
    client: TestClient, backbeat: Backbeat, alice: Tenant, bob: Tenant
) -> None:
    task = create_task(client, bob)
    org = backbeat.admin.create_organization("Label")
    for tenant in (alice, bob):
        backbeat.admin.add_member(org.id, tenant.account_id)

    response = _delete(client, alice, {"id": task["id"], "account_id": str(bob.account_id)})

    assert response.json() == {"status": "success"}
    assert list_tasks(client, bob) == []


def test_bad_bodies(client: TestClient, alice: Tenant) -> None:
    assert_error(
        _delete(client, alice, {}),
        400,
        "Invalid input: expected string, received undefined",
        ["id"],
    )
    assert_error(
        _delete(client, alice, {"id": 5}),
        400,
        "Invalid input: expected string, received number",
        ["id"],
    )
    assert_error(_delete(client, alice, {"id": "x"}), 400, "id must be a valid UUID", ["id"])
    response = client.request("DELETE", "/api/tasks", headers=alice.headers)
    assert_error(response, 400, "Invalid JSON body")
