"""GET /api/tasks."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import event
from starlette.testclient import TestClient

from backbeat.testing import FakeClock
from backbeat.wiring import Backbeat
from tests.api.helpers import assert_error, create_task, list_tasks
from tests.conftest import Tenant


def test_lists_the_callers_tasks_newest_first(
    client: TestClient, clock: FakeClock, alice: Tenant, bob: Tenant
) -> None:
    first = create_task(client, alice, title="first")
    clock.advance(seconds=1)
    second = create_task(client, alice, title="second")
    create_task(client, bob, title="bob's")

    assert [task["id"] for task in list_tasks(client, alice)] == [second["id"], first["id"]]


def test_filters(client: TestClient, backbeat: Backbeat, alice: Tenant) -> None:
    other_artist = backbeat.admin.create_artist("Second", account_id=alice.account_id)
    one = create_task(client, alice)
    two = create_task(client, alice, artist_account_id=str(other_artist.id))
    client.patch("/api/tasks", json={"id": two["id"], "enabled": False}, headers=alice.headers)

    assert [t["id"] for t in list_tasks(client, alice, id=one["id"])] == [one["id"]]
    assert [t["id"] for t in list_tasks(client, alice, artist_account_id=str(other_artist.id))] == [
        two["id"]
    ]
    assert [t["id"] for t in list_tasks(client, alice, enabled="true")] == [one["id"]]
    assert [t["id"] for t in list_tasks(client, alice, enabled="false")] == [two["id"]]


def test_enabled_null_counts_as_enabled(client: TestClient, alice: Tenant) -> None:
    task = create_task(client, alice)
    client.patch("/api/tasks", json={"id": task["id"], "enabled": None}, headers=alice.headers)

    [listed] = list_tasks(client, alice, enabled="true")
    assert listed["enabled"] is None
    assert len(listed["upcoming"]) == 5
    assert list_tasks(client, alice, enabled="false") == []


def test_another_accounts_task_by_id_is_an_empty_list(
    client: TestClient, alice: Tenant, bob: Tenant
) -> None:
    task = create_task(client, bob)

    assert list_tasks(client, alice, id=task["id"]) == []


def test_account_id_lists_an_organization_mates_tasks(
    client: TestClient, backbeat: Backbeat, alice: Tenant, bob: Tenant
) -> None:
    task = create_task(client, bob)
    org = backbeat.admin.create_organization("Label")
    for tenant in (alice, bob):
        backbeat.admin.add_member(org.id, tenant.account_id)

    assert [t["id"] for t in list_tasks(client, alice, account_id=str(bob.account_id))] == [
        task["id"]
    ]


def test_account_id_of_a_stranger_is_forbidden(
    client: TestClient, alice: Tenant, bob: Tenant
) -> None:
    response = client.get(
        "/api/tasks", params={"account_id": str(bob.account_id)}, headers=alice.headers
    )
    assert_error(response, 403, "Access denied to specified account_id")


@pytest.mark.parametrize(
    ("query", "message", "fields"),
    [
        ("artist_id=x", 'Unrecognized key: "artist_id"', []),
        ("id=nope", "id must be a valid UUID", ["id"]),
        ("id=", "id must be a valid UUID", ["id"]),
        ("account_id=123", "account_id must be a valid UUID", ["account_id"]),
        ("artist_account_id=zz", "artist_account_id must be a valid UUID", ["artist_account_id"]),
        ("enabled=yes", "enabled must be true or false", ["enabled"]),
        ("enabled=", "enabled must be true or false", ["enabled"]),
        (
            "enabled=true&enabled=false",
            "enabled must be given at most once",
            ["enabled"],
        ),
    ],
)
def test_bad_queries(
    client: TestClient, alice: Tenant, query: str, message: str, fields: list[Any]
) -> None:
    assert_error(client.get(f"/api/tasks?{query}", headers=alice.headers), 400, message, fields)


def test_uppercase_uuids_are_accepted(client: TestClient, alice: Tenant) -> None:
    task = create_task(client, alice)

    assert list_tasks(client, alice, id=task["id"].upper())[0]["id"] == task["id"]


def _count_queries(backbeat: Backbeat, run: Any) -> int:
    statements: list[str] = []

    def count(*args: Any) -> None:
        statements.append(args[2])

    event.listen(backbeat.engine, "before_cursor_execute", count)
    try:
        run()
    finally:
        event.remove(backbeat.engine, "before_cursor_execute", count)
    return len([s for s in statements if not s.strip().upper().startswith(("BEGIN", "ROLLBACK"))])


def test_listing_costs_a_constant_number_of_queries(
    client: TestClient, backbeat: Backbeat, alice: Tenant
) -> None:
    create_task(client, alice)
    with_one = _count_queries(backbeat, lambda: list_tasks(client, alice))
    for _ in range(30):
        create_task(client, alice)
    with_many = _count_queries(backbeat, lambda: list_tasks(client, alice))

    assert with_one == with_many
    assert with_many <= 5  # key lookup, tasks, owner email, artist names, recent runs


def test_every_task_carries_its_artists_name(
    client: TestClient, backbeat: Backbeat, alice: Tenant, bob: Tenant
) -> None:
    org = backbeat.admin.create_organization("Label")
    for tenant in (alice, bob):
        backbeat.admin.add_member(org.id, tenant.account_id)
    shared = backbeat.admin.create_artist("The Shared Act", organization_id=org.id)
    own = create_task(client, alice)
    theirs = create_task(client, alice, artist_account_id=str(shared.id))

    assert own["artist_name"] == "Artist of alice@example.com"  # POST answers it too
    by_id = {task["id"]: task["artist_name"] for task in list_tasks(client, alice)}
    assert by_id == {own["id"]: "Artist of alice@example.com", theirs["id"]: "The Shared Act"}
    [mate] = list_tasks(client, bob, account_id=str(alice.account_id), id=own["id"])
    assert mate["artist_name"] == "Artist of alice@example.com"
    response = client.patch("/api/tasks", json={"id": own["id"]}, headers=alice.headers)
    assert response.json()["tasks"][0]["artist_name"] == "Artist of alice@example.com"
