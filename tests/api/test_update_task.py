"""PATCH /api/tasks."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.testclient import TestClient

from backbeat.testing import FakeClock
from backbeat.wiring import Backbeat
from tests.api.helpers import assert_error, create_task, list_tasks
from tests.conftest import Tenant


def _patch(client: TestClient, tenant: Tenant, body: Any) -> Any:
    return client.patch("/api/tasks", json=body, headers=tenant.headers)


def _updated(client: TestClient, tenant: Tenant, body: dict[str, Any]) -> dict[str, Any]:
    response = _patch(client, tenant, body)
    assert response.status_code == 200, response.text
    [task] = response.json()["tasks"]
    assert response.json()["status"] == "success"
    return dict(task)


def test_updates_only_the_fields_given(client: TestClient, clock: FakeClock, alice: Tenant) -> None:
    task = create_task(client, alice)
    clock.advance(minutes=5)

    updated = _updated(client, alice, {"id": task["id"], "title": "Pulse (rev)"})

    assert updated["title"] == "Pulse (rev)"
    unchanged = {k: v for k, v in task.items() if k not in ("title", "updated_at")}
    assert {k: v for k, v in updated.items() if k in unchanged} == unchanged
    assert updated["updated_at"] == "2026-01-05T12:05:00.000Z"
    assert list_tasks(client, alice)[0] == updated


def test_only_an_id_changes_nothing(client: TestClient, clock: FakeClock, alice: Tenant) -> None:
    task = create_task(client, alice)
    clock.advance(minutes=5)

    assert _updated(client, alice, {"id": task["id"]}) == task


def test_every_field(client: TestClient, backbeat: Backbeat, alice: Tenant) -> None:
    other = backbeat.admin.create_artist("Other", account_id=alice.account_id)
    task = create_task(client, alice)

    updated = _updated(
        client,
        alice,
        {
            "id": task["id"],
            "title": "T",
            "prompt": "P",
            "schedule": "15 10 * * 1",
            "timezone": "Europe/London",
            "artist_account_id": str(other.id),
            "model": "claude-sonnet-4-20250514",
            "enabled": True,
            "misfire_grace_seconds": 60,
            "max_attempts": 5,
        },
    )

    assert updated["title"] == "T"
    assert updated["prompt"] == "P"
    assert updated["schedule"] == "15 10 * * 1"
    assert updated["timezone"] == "Europe/London"
    assert updated["artist_account_id"] == str(other.id)
    assert updated["model"] == "claude-sonnet-4-20250514"
    assert updated["misfire_grace_seconds"] == 60
    assert updated["max_attempts"] == 5
    assert updated["upcoming"][0] == "2026-01-12T10:15:00.000Z"


def test_pausing_clears_upcoming_and_resuming_keeps_the_zone(
    client: TestClient, alice: Tenant
) -> None:
    task = create_task(client, alice, timezone="Asia/Tokyo", schedule="0 9 * * *")

    paused = _updated(client, alice, {"id": task["id"], "enabled": False})
    assert paused["enabled"] is False
    assert paused["upcoming"] == []

    resumed = _updated(client, alice, {"id": task["id"], "enabled": True})
    assert resumed["timezone"] == "Asia/Tokyo"
    assert resumed["upcoming"] == task["upcoming"]


def test_a_cron_only_edit_keeps_the_zone(client: TestClient, alice: Tenant) -> None:
    task = create_task(client, alice, timezone="America/New_York")

    updated = _updated(client, alice, {"id": task["id"], "schedule": "0 12 * * *"})

    assert updated["timezone"] == "America/New_York"
    assert updated["upcoming"][0] == "2026-01-05T17:00:00.000Z"


def test_a_zone_only_edit_recomputes_upcoming(client: TestClient, alice: Tenant) -> None:
    task = create_task(client, alice, schedule="0 18 * * *")

    updated = _updated(client, alice, {"id": task["id"], "timezone": "Europe/Paris"})

    assert updated["upcoming"][0] == "2026-01-05T17:00:00.000Z"


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"title": ""}, "title", "title must be a non-empty string"),
        ({"prompt": ""}, "prompt", "prompt must be a non-empty string"),
        ({"schedule": ""}, "schedule", "schedule must be a non-empty string"),
        ({"model": ""}, "model", "model must be a non-empty string"),
        ({"title": 5}, "title", "Invalid input: expected string, received number"),
        ({"title": None}, "title", "Invalid input: expected string, received null"),
        ({"enabled": "false"}, "enabled", "Invalid input: expected boolean, received string"),
        ({"enabled": 0}, "enabled", "Invalid input: expected boolean, received number"),
        ({"artist_account_id": "x"}, "artist_account_id", "artist_account_id must be a valid UUID"),
        ({"account_id": "x"}, "account_id", "account_id must be a valid UUID"),
        ({"timezone": "Nowhere/Town"}, "timezone", "timezone must be a valid IANA time zone"),
        (
            {"schedule": "* * * * * *"},
            "schedule",
            "schedule must have 5 fields (minute hour day-of-month month day-of-week), "
            'got 6 in "* * * * * *"',
        ),
        ({"max_attempts": 0}, "max_attempts", "max_attempts must be between 1 and 20"),
        ({"max_attempts": 1.5}, "max_attempts", "Invalid input: expected int, received number"),
        (
            {"misfire_grace_seconds": -1},
            "misfire_grace_seconds",
            "misfire_grace_seconds must be between 0 and 2592000 (30 days)",
        ),
    ],
)
def test_field_errors(
    client: TestClient, alice: Tenant, change: dict[str, Any], field: str, message: str
) -> None:
    task = create_task(client, alice)

    assert_error(_patch(client, alice, {"id": task["id"], **change}), 400, message, [field])
    assert list_tasks(client, alice) == [task]


def test_body_errors(client: TestClient, alice: Tenant) -> None:
    assert_error(
        _patch(client, alice, {}), 400, "Invalid input: expected string, received undefined", ["id"]
    )
    assert_error(_patch(client, alice, {"id": "nope"}), 400, "id must be a valid UUID", ["id"])
    task = create_task(client, alice)
    assert_error(
        _patch(client, alice, {"id": task["id"], "foo": 1}), 400, 'Unrecognized key: "foo"', []
    )
    response = client.patch("/api/tasks", content=b"{nope", headers=alice.headers)
    assert_error(response, 400, "Invalid JSON body")


def test_unknown_task_is_404(client: TestClient, alice: Tenant) -> None:
    body = {"id": "6f1c2b7e-1d2a-4c3b-9e8f-0a1b2c3d4e5f", "title": "x"}
    assert_error(_patch(client, alice, body), 404, "Task not found")


def test_another_accounts_task_is_403(client: TestClient, alice: Tenant, bob: Tenant) -> None:
    task = create_task(client, bob)

    assert_error(
        _patch(client, alice, {"id": task["id"], "title": "mine"}),
        403,
        "Access denied to this task",
    )
    assert list_tasks(client, bob) == [task]


def test_account_id_override(
    client: TestClient, backbeat: Backbeat, alice: Tenant, bob: Tenant
) -> None:
    task = create_task(client, bob)
    body = {"id": task["id"], "title": "by alice", "account_id": str(bob.account_id)}
    assert_error(_patch(client, alice, body), 403, "Access denied to specified account_id")

    org = backbeat.admin.create_organization("Label")
    for tenant in (alice, bob):
        backbeat.admin.add_member(org.id, tenant.account_id)

    assert _updated(client, alice, body)["title"] == "by alice"
    # Without the override too: Alice may act for the task's owner (Recoup's owner rule).
    assert _updated(client, alice, {"id": task["id"], "title": "x"})["title"] == "x"


def test_the_new_artist_must_be_usable(client: TestClient, alice: Tenant, bob: Tenant) -> None:
    task = create_task(client, alice)

    body = {"id": task["id"], "artist_account_id": str(bob.artist_id)}
    assert_error(_patch(client, alice, body), 403, "Access denied to specified artist_account_id")
