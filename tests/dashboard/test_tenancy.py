"""The dashboard keeps the API's tenancy rules: another account's task or run is a 404 page,
and the account switcher offers only what the API's account_id override allows."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.testclient import TestClient

from backbeat.store.tables import organization_members
from backbeat.wiring import Backbeat
from tests.api.helpers import create_task as api_create_task
from tests.api.helpers import list_tasks
from tests.conftest import Tenant, make_tenant
from tests.dashboard.helpers import Dashboard, Page, another_browser, signed_in


def bobs_task_and_run(client: TestClient, bob: Tenant) -> tuple[str, str]:
    task = api_create_task(client, bob, title="Bob's secret plan")
    response = client.post(
        "/api/tasks/runs/trigger", json={"task_id": task["id"]}, headers=bob.headers
    )
    return task["id"], response.json()["runs"][0]["id"]


def assert_not_found_page(response: Any) -> None:
    page = Page(response)
    assert page.status == 404, page.html
    assert page.response.headers["content-type"].startswith("text/html")
    assert page.text("problem-title") == "Not found"
    assert "Bob's secret plan" not in page.html


def test_another_accounts_task_is_a_404_page(
    client: TestClient, alice: Tenant, bob: Tenant
) -> None:
    task_id, _ = bobs_task_and_run(client, bob)
    dashboard = signed_in(client, alice)

    for path in (f"/dashboard/tasks/{task_id}", f"/dashboard/tasks/{task_id}/delete"):
        assert_not_found_page(dashboard.raw_get(path))
    assert "Bob's secret plan" not in dashboard.get("/dashboard/tasks").html


@pytest.mark.parametrize("action", ["", "/pause", "/resume", "/run", "/delete"])
def test_another_accounts_task_cannot_be_changed(
    client: TestClient, alice: Tenant, bob: Tenant, action: str
) -> None:
    task_id, _ = bobs_task_and_run(client, bob)
    before = list_tasks(client, bob)
    dashboard = signed_in(client, alice)

    response = dashboard.post(
        f"/dashboard/tasks/{task_id}{action}",
        {"title": "Mine now", "prompt": "x", "schedule": "* * * * *", "timezone": "UTC"},
    )

    assert_not_found_page(response)
    assert list_tasks(client, bob) == before
    runs = client.get("/api/tasks/runs", headers=bob.headers).json()["runs"]
    assert len(runs) == 1


def test_another_accounts_run_is_a_404_page(client: TestClient, alice: Tenant, bob: Tenant) -> None:
    _, run_id = bobs_task_and_run(client, bob)
    dashboard = signed_in(client, alice)

    assert_not_found_page(dashboard.raw_get(f"/dashboard/runs/{run_id}"))
    assert_not_found_page(dashboard.post(f"/dashboard/runs/{run_id}/cancel"))
    status = dashboard.raw_get(f"/dashboard/runs/{run_id}/status")
    assert status.status_code == 404
    assert "Bob" not in status.text
    run = client.get("/api/tasks/runs", params={"runId": run_id}, headers=bob.headers)
    assert run.json()["runs"][0]["status"] == "QUEUED"


def test_a_malformed_task_id_is_a_404_page(client: TestClient, alice: Tenant) -> None:
    dashboard = signed_in(client, alice)

    assert_not_found_page(dashboard.raw_get("/dashboard/tasks/not-a-task"))
    assert_not_found_page(dashboard.post("/dashboard/tasks/not-a-task/pause"))
    assert_not_found_page(dashboard.raw_get("/dashboard/no/such/page"))


def test_no_switcher_without_an_organization(
    client: TestClient, alice: Tenant, bob: Tenant
) -> None:
    dashboard = signed_in(client, alice)

    page = dashboard.get("/dashboard/tasks")

    assert not page.all(data_testid="switch-account-link")
    assert dashboard.get("/dashboard/account").status == 404
    response = dashboard.post("/dashboard/account", {"account": str(bob.account_id)})
    assert response.status_code == 404
    assert not dashboard.get("/dashboard/tasks").all(data_testid="acting-for")


def test_switching_to_a_teammate_acts_for_their_account(
    client: TestClient, backbeat: Backbeat, alice: Tenant, bob: Tenant
) -> None:
    carol = make_tenant(backbeat, "carol@example.com")
    label = backbeat.admin.create_organization("Label")
    backbeat.admin.add_member(label.id, alice.account_id)
    backbeat.admin.add_member(label.id, carol.account_id)
    carols = api_create_task(client, carol, title="Carol's task")
    dashboard = signed_in(client, alice)

    tasks = dashboard.get("/dashboard/tasks")
    assert tasks.testid("switch-account-link").attrs["href"] == "/dashboard/account"
    choices = dashboard.get("/dashboard/account")
    buttons = [
        b.text.strip() for b in choices.testid("account-choices").walk() if b.tag == "button"
    ]
    assert buttons == ["alice@example.com (your own)", "carol@example.com"]
    assert not choices.all(data_testid="account-form")  # ids by hand: admins only

    switched = dashboard.submit("/dashboard/account", {"account": str(carol.account_id)})

    assert switched.text("notice") == "Switched account."
    assert switched.text("acting-for") == "acting for carol@example.com"
    assert [row.attrs["data-task-id"] for row in switched.all("tr", data_testid="task-row")] == [
        carols["id"]
    ]
    page = dashboard.get(f"/dashboard/tasks/{carols['id']}")
    assert page.text("task-title") == "Carol's task"
    assert dashboard.post(f"/dashboard/tasks/{carols['id']}/pause").status_code == 303
    assert list_tasks(client, carol)[0]["enabled"] is False

    refused = dashboard.post("/dashboard/account", {"account": str(bob.account_id)})
    assert refused.status_code == 403
    assert Page(refused).text("form-error") == "Access denied to specified account_id"
    back = dashboard.submit("/dashboard/account", {"account": ""})
    assert not back.all(data_testid="acting-for")


def test_leaving_the_organization_ends_acting_for_it(
    client: TestClient, backbeat: Backbeat, alice: Tenant
) -> None:
    carol = make_tenant(backbeat, "carol@example.com")
    label = backbeat.admin.create_organization("Label")
    backbeat.admin.add_member(label.id, alice.account_id)
    backbeat.admin.add_member(label.id, carol.account_id)
    carols = api_create_task(client, carol)
    dashboard = signed_in(client, alice)
    dashboard.post("/dashboard/account", {"account": "carol@example.com"})
    assert dashboard.get(f"/dashboard/tasks/{carols['id']}").status == 200

    with backbeat.engine.begin() as connection:  # no admin command removes a member yet
        connection.execute(organization_members.delete())

    page = dashboard.get("/dashboard/tasks")
    assert page.status == 200
    assert not page.all(data_testid="acting-for")
    assert dashboard.get(f"/dashboard/tasks/{carols['id']}").status == 404


def test_an_admin_may_act_for_any_account(
    client: TestClient, backbeat: Backbeat, alice: Tenant, bob: Tenant
) -> None:
    staff = backbeat.admin.create_organization("Staff", is_admin=True)
    backbeat.admin.add_member(staff.id, alice.account_id)
    task_id, run_id = bobs_task_and_run(client, bob)
    dashboard = signed_in(client, alice)
    form = dashboard.get("/dashboard/account")
    assert form.label_for("account") == "Account id or email"

    switched = dashboard.submit("/dashboard/account", {"account": "bob@example.com"})

    assert switched.text("acting-for") == "acting for bob@example.com"
    assert dashboard.get(f"/dashboard/tasks/{task_id}").status == 200
    assert dashboard.get(f"/dashboard/runs/{run_id}").status == 200
    unknown = dashboard.post("/dashboard/account", {"account": "nobody@example.com"})
    assert unknown.status_code == 403
    assert Page(unknown).text("form-error") == "Access denied to specified account_id"


def test_two_people_at_once_see_their_own(client: TestClient, alice: Tenant, bob: Tenant) -> None:
    api_create_task(client, alice, title="Alice's")
    api_create_task(client, bob, title="Bob's")
    as_alice = signed_in(client, alice)
    as_bob = signed_in(another_browser(client), bob)

    assert [r.text for r in as_alice.get("/dashboard/tasks").all("a") if "Alice's" in r.text]
    assert "Bob's" not in as_alice.get("/dashboard/tasks").html
    assert "Alice's" not in as_bob.get("/dashboard/tasks").html
    assert isinstance(as_bob, Dashboard)
