"""GET /api/tasks/runs, and runs as tasks show them (recent_runs)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from uuid import UUID

import pytest
from starlette.testclient import TestClient

from backbeat.domain.ids import new_run_id
from backbeat.domain.models import Run
from backbeat.domain.runs import RunStatus, Trigger
from backbeat.testing import FakeClock
from backbeat.wiring import Backbeat
from tests.api.helpers import assert_error, create_task, list_tasks
from tests.conftest import Tenant


def add_run(
    backbeat: Backbeat,
    task: dict[str, Any],
    at_minutes: int,
    status: RunStatus = RunStatus.COMPLETED,
) -> Run:
    created = backbeat.clock.now() + timedelta(minutes=at_minutes)
    run = Run(
        id=new_run_id(),
        task_id=UUID(task["id"]),
        account_id=UUID(task["account_id"]),
        artist_account_id=UUID(task["artist_account_id"]),
        task_identifier="customer-prompt-task",
        status=status,
        trigger=Trigger.SCHEDULED,
        trigger_function="trigger",
        idempotency_key=f"{task['id']}:{created.isoformat()}",
        scheduled_for=created,
        is_test=False,
        created_at=created,
        updated_at=created,
        max_attempts=3,
        payload={"prompt": task["prompt"], "schedule": task["schedule"], "timezone": "UTC"},
        output={"text": "a report"},
        error=None,
        tags=["weekly"],
        metadata={"late": False},
    )
    with backbeat.uow(write=True) as uow:
        assert uow.runs.add(run)
        uow.commit()
    return run


def _runs(client: TestClient, tenant: Tenant, **params: Any) -> dict[str, Any]:
    response = client.get("/api/tasks/runs", params=params, headers=tenant.headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_lists_recent_runs_newest_first_without_heavy_fields(
    client: TestClient, backbeat: Backbeat, alice: Tenant, bob: Tenant
) -> None:
    task = create_task(client, alice)
    runs = [add_run(backbeat, task, minute) for minute in range(3)]
    add_run(backbeat, create_task(client, bob), 5)

    body = _runs(client, alice)

    assert body["status"] == "success"
    assert [run["id"] for run in body["runs"]] == [run.id for run in reversed(runs)]
    listed = body["runs"][0]
    for heavy in ("payload", "output", "error", "attempts"):
        assert heavy not in listed
    assert listed["status"] == "COMPLETED"
    assert listed["taskIdentifier"] == "customer-prompt-task"
    assert listed["triggerFunction"] == "trigger"
    assert listed["tags"] == ["weekly"]


def test_a_run_by_id_in_full(client: TestClient, backbeat: Backbeat, alice: Tenant) -> None:
    task = create_task(client, alice)
    run = add_run(backbeat, task, 1)

    [full] = _runs(client, alice, runId=run.id)["runs"]

    assert full["id"] == run.id
    assert full["payload"]["prompt"] == task["prompt"]
    # The stored record, with the outbox's view of it: no deliveries, no emails.
    assert full["output"] == {"text": "a report", "deliveries": [], "emails_sent": []}
    assert full["error"] is None
    assert full["attempts"] == []
    assert full["schedule"]["externalId"] == task["id"]
    assert full["schedule"]["timestamp"] == "2026-01-05T12:01:00.000Z"


def test_runs_of_other_accounts_are_not_found(
    client: TestClient, backbeat: Backbeat, alice: Tenant, bob: Tenant
) -> None:
    run = add_run(backbeat, create_task(client, bob), 1)

    response = client.get("/api/tasks/runs", params={"runId": run.id}, headers=alice.headers)
    assert_error(response, 404, "Task run not found")
    response = client.get("/api/tasks/runs", params={"runId": "run_nope"}, headers=alice.headers)
    assert_error(response, 404, "Task run not found")


@pytest.mark.parametrize("run_id", ["run_\x00", "\x00"])
def test_a_run_id_with_a_nul_is_not_found(client: TestClient, alice: Tenant, run_id: str) -> None:
    # PostgreSQL refuses NUL in text, even to compare: this was a 500 there.
    response = client.get("/api/tasks/runs", params={"runId": run_id}, headers=alice.headers)
    assert_error(response, 404, "Task run not found")


def test_a_blank_run_id_lists(client: TestClient, backbeat: Backbeat, alice: Tenant) -> None:
    add_run(backbeat, create_task(client, alice), 1)

    assert len(_runs(client, alice, runId="")["runs"]) == 1


def test_limit_filters_and_cursor(client: TestClient, backbeat: Backbeat, alice: Tenant) -> None:
    first, second = create_task(client, alice), create_task(client, alice)
    made = [add_run(backbeat, first if i % 2 else second, i) for i in range(7)]
    failed = add_run(backbeat, first, 10, RunStatus.FAILED)
    newest_first = [failed.id] + [run.id for run in reversed(made)]

    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 3}
        if cursor:
            params["cursor"] = cursor
        body = _runs(client, alice, **params)
        seen += [run["id"] for run in body["runs"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert seen == newest_first

    assert [r["id"] for r in _runs(client, alice, status="FAILED")["runs"]] == [failed.id]
    by_task = _runs(client, alice, task_id=second["id"])["runs"]
    assert {r["id"] for r in by_task} == {run.id for i, run in enumerate(made) if i % 2 == 0}


def test_recent_runs_on_tasks(client: TestClient, backbeat: Backbeat, alice: Tenant) -> None:
    task = create_task(client, alice)
    runs = [add_run(backbeat, task, minute) for minute in range(7)]

    [listed] = list_tasks(client, alice)

    assert [run["id"] for run in listed["recent_runs"]] == [run.id for run in runs[::-1][:5]]
    assert "payload" not in listed["recent_runs"][0]


def test_runs_stay_readable_after_their_task_is_deleted(
    client: TestClient, backbeat: Backbeat, alice: Tenant
) -> None:
    task = create_task(client, alice)
    run = add_run(backbeat, task, 1)
    client.request("DELETE", "/api/tasks", json={"id": task["id"]}, headers=alice.headers)

    [full] = _runs(client, alice, runId=run.id)["runs"]
    assert full["id"] == run.id
    assert full["taskId"] is None


@pytest.mark.parametrize(
    ("query", "message", "fields"),
    [
        ("limit=0", "Too small: expected number to be >=1", ["limit"]),
        ("limit=101", "Too big: expected number to be <=100", ["limit"]),
        ("limit=abc", "Invalid input: expected number, received NaN", ["limit"]),
        ("limit=1.5", "Invalid input: expected int, received number", ["limit"]),
        ("account_id=x", "account_id must be a valid UUID", ["account_id"]),
        (
            "status=DONE",
            "status must be one of " + ", ".join(s.value for s in RunStatus),
            ["status"],
        ),
        ("cursor=!!", "cursor is not a cursor this server gave out", ["cursor"]),
        ("run_id=x", 'Unrecognized key: "run_id"', []),
    ],
)
def test_bad_queries(
    client: TestClient, alice: Tenant, query: str, message: str, fields: list[Any]
) -> None:
    assert_error(
        client.get(f"/api/tasks/runs?{query}", headers=alice.headers), 400, message, fields
    )


def test_account_id_scope(
    client: TestClient, backbeat: Backbeat, clock: FakeClock, alice: Tenant, bob: Tenant
) -> None:
    run = add_run(backbeat, create_task(client, bob), 1)
    response = client.get(
        "/api/tasks/runs", params={"account_id": str(bob.account_id)}, headers=alice.headers
    )
    assert_error(response, 403, "Access denied to specified account_id")

    org = backbeat.admin.create_organization("Label")
    for tenant in (alice, bob):
        backbeat.admin.add_member(org.id, tenant.account_id)
    body = _runs(client, alice, account_id=str(bob.account_id))
    assert [r["id"] for r in body["runs"]] == [run.id]
    # An organization mate may read the run by id too.
    assert _runs(client, alice, runId=run.id)["runs"][0]["id"] == run.id
