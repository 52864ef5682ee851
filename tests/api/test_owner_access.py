"""PATCH and DELETE authorize by the task's owner (Recoup's autumn-2026 rule): the caller may
change or delete a task whose owner it may act for (itself, an account sharing an
organization, any account for an admin organization) without `account_id` in the body.
Messages are unchanged: 404 `Task not found`, 403 `Access denied to this task`."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from starlette.testclient import TestClient

from backbeat.wiring import Backbeat
from tests.api.helpers import assert_error, create_task, list_tasks, task_body
from tests.conftest import Tenant, make_tenant

MISSING = "6f1c2b7e-1d2a-4c3b-9e8f-0a1b2c3d4e5f"


def _patch(client: TestClient, tenant: Tenant, body: dict[str, Any]) -> Any:
    return client.patch("/api/tasks", json=body, headers=tenant.headers)


def _delete(client: TestClient, tenant: Tenant, body: dict[str, Any]) -> Any:
    return client.request("DELETE", "/api/tasks", json=body, headers=tenant.headers)


def _mates(backbeat: Backbeat, *tenants: Tenant) -> UUID:
    org = backbeat.admin.create_organization("Label")
    for tenant in tenants:
        backbeat.admin.add_member(org.id, tenant.account_id)
    return org.id


def _admin(backbeat: Backbeat) -> Tenant:
    operator = make_tenant(backbeat, "ops@backbeat.example")
    admins = backbeat.admin.create_organization("Operators", is_admin=True)
    backbeat.admin.add_member(admins.id, operator.account_id)
    return operator


def test_an_organization_mate_changes_and_deletes_without_account_id(
    client: TestClient, backbeat: Backbeat, alice: Tenant, bob: Tenant
) -> None:
    _mates(backbeat, alice, bob)
    task = create_task(client, bob)

    response = _patch(client, alice, {"id": task["id"], "title": "by alice", "enabled": False})

    assert response.status_code == 200, response.text
    [changed] = response.json()["tasks"]
    assert (changed["title"], changed["enabled"]) == ("by alice", False)
    assert changed["account_id"] == str(bob.account_id)  # still Bob's
    assert list_tasks(client, bob) == [changed]

    assert _delete(client, alice, {"id": task["id"]}).json() == {"status": "success"}
    assert list_tasks(client, bob) == []


def test_an_admin_changes_and_deletes_anyones_task_without_account_id(
    client: TestClient, backbeat: Backbeat, bob: Tenant
) -> None:
    operator = _admin(backbeat)
    task = create_task(client, bob)

    response = _patch(client, operator, {"id": task["id"], "schedule": "0 8 * * 1"})

    assert response.status_code == 200, response.text
    assert response.json()["tasks"][0]["schedule"] == "0 8 * * 1"
    assert _delete(client, operator, {"id": task["id"]}).json() == {"status": "success"}
    assert list_tasks(client, bob) == []


def test_a_stranger_is_refused_and_a_missing_task_is_not_found(
    client: TestClient, alice: Tenant, bob: Tenant
) -> None:
    task = create_task(client, bob)

    for send in (_patch, _delete):
        assert_error(send(client, alice, {"id": task["id"]}), 403, "Access denied to this task")
        assert_error(send(client, alice, {"id": MISSING}), 404, "Task not found")
    assert len(list_tasks(client, bob)) == 1


def test_account_id_is_still_accepted_and_still_checked(
    client: TestClient, backbeat: Backbeat, alice: Tenant, bob: Tenant
) -> None:
    carol = make_tenant(backbeat, "carol@example.com")
    _mates(backbeat, alice, bob)
    task = create_task(client, bob)

    for account in (alice, bob):  # itself, or the owner: either works
        body = {"id": task["id"], "title": "t", "account_id": str(account.account_id)}
        assert _patch(client, alice, body).status_code == 200
    stranger = {"id": task["id"], "account_id": str(carol.account_id)}
    for send in (_patch, _delete):
        assert_error(send(client, alice, stranger), 403, "Access denied to specified account_id")
    assert len(list_tasks(client, bob)) == 1


def test_acting_for_a_mate_reaches_no_further_than_the_caller(
    client: TestClient, backbeat: Backbeat, alice: Tenant, bob: Tenant
) -> None:
    """Alice shares an organization with Bob, Bob another with Carol: through Bob, Alice
    still may not touch Carol's task."""
    carol = make_tenant(backbeat, "carol@example.com")
    _mates(backbeat, alice, bob)
    _mates(backbeat, bob, carol)
    task = create_task(client, carol)

    through_bob = {"id": task["id"], "title": "x", "account_id": str(bob.account_id)}
    assert_error(_patch(client, alice, through_bob), 403, "Access denied to this task")
    assert_error(_delete(client, alice, through_bob), 403, "Access denied to this task")
    assert _patch(client, bob, {"id": task["id"], "title": "mate"}).status_code == 200


def test_a_mates_edit_without_account_id_keeps_the_shared_organizations_reach(
    client: TestClient, backbeat: Backbeat, alice: Tenant, bob: Tenant
) -> None:
    team = _mates(backbeat, alice, bob)
    label = backbeat.admin.create_organization("Elsewhere")
    backbeat.admin.add_member(label.id, bob.account_id)
    elsewhere = backbeat.admin.create_artist("Elsewhere's act", organization_id=label.id)
    task = create_task(client, bob, artist_account_id=str(elsewhere.id))

    assert_error(
        _patch(client, alice, {"id": task["id"], "prompt": "Email everyone"}),
        403,
        "Access denied to specified artist_account_id",
    )
    own = create_task(client, bob, title="Bob's")
    assert _patch(client, alice, {"id": own["id"], "prompt": "Email the team"}).status_code == 200
    with backbeat.uow() as uow:
        stored = uow.tasks.get(UUID(own["id"]))
    assert stored is not None
    assert stored.scope_organization_ids == (team,)


def test_deleting_a_mates_task_cancels_its_unfinished_runs(
    client: TestClient, backbeat: Backbeat, alice: Tenant, bob: Tenant
) -> None:
    _mates(backbeat, alice, bob)
    task = create_task(client, bob)
    queued = client.post(
        "/api/tasks/runs/trigger", json={"task_id": task["id"]}, headers=bob.headers
    ).json()["runs"][0]

    assert _delete(client, alice, {"id": task["id"]}).json() == {"status": "success"}

    response = client.get("/api/tasks/runs", params={"runId": queued["id"]}, headers=bob.headers)
    assert response.json()["runs"][0]["status"] == "CANCELED"


def test_create_still_needs_account_id_to_act_for_a_mate(
    client: TestClient, backbeat: Backbeat, alice: Tenant, bob: Tenant
) -> None:
    _mates(backbeat, alice, bob)

    response = client.post("/api/tasks", json=task_body(alice), headers=alice.headers)

    assert response.json()["tasks"][0]["account_id"] == str(alice.account_id)
