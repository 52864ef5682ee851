"""Small helpers for API tests."""

from __future__ import annotations

from typing import Any

from starlette.testclient import TestClient

from tests.conftest import Tenant


def task_body(tenant: Tenant, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "title": "Weekly Genre Pulse Check",
        "prompt": "Analyse this artist's genre trends and email the team a summary.",
        "schedule": "0 9 * * 4",
        "artist_account_id": str(tenant.artist_id),
    }
    body.update(overrides)
    return {key: value for key, value in body.items() if value is not ...}


def create_task(client: TestClient, tenant: Tenant, **overrides: Any) -> dict[str, Any]:
    response = client.post(
        "/api/tasks", json=task_body(tenant, **overrides), headers=tenant.headers
    )
    assert response.status_code == 200, response.text
    task: dict[str, Any] = response.json()["tasks"][0]
    return task


def list_tasks(client: TestClient, tenant: Tenant, **params: str) -> list[dict[str, Any]]:
    response = client.get("/api/tasks", params=params, headers=tenant.headers)
    assert response.status_code == 200, response.text
    tasks: list[dict[str, Any]] = response.json()["tasks"]
    return tasks


def assert_error(
    response: Any, status: int, message: str, missing_fields: list[Any] | None = None
) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    expected: dict[str, Any] = {"status": "error", "error": message, "message": message}
    if missing_fields is not None:
        expected["missing_fields"] = missing_fields
    assert body == expected
