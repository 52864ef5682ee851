"""The task form's Delivery section: when and where a completed run's report goes and when the
task pauses itself, saved through TaskService as the API saves it. The Slack webhook URL is a
secret: shown only masked, kept when left empty, removed only when asked."""

from __future__ import annotations

from typing import Any

from starlette.testclient import TestClient

from backbeat.wiring import Backbeat
from tests.api.helpers import list_tasks
from tests.conftest import Tenant, make_tenant
from tests.dashboard.helpers import Dashboard, Page, create_task, signed_in

SLACK = "https://hooks.slack.com/services/T000/B000/abcdEFGHijkl"
MASKED = "https://hooks.slack.com/…ijkl"
OUTSIDER_MESSAGE = (
    "stranger@elsewhere.example is not the task's owner or a member of the owner's organizations"
)


def api_task(client: TestClient, tenant: Tenant, task_id: str) -> dict[str, Any]:
    [task] = list_tasks(client, tenant, id=task_id)
    return task


def form_values(page: Page) -> dict[str, str]:
    """The edit form's fields as a browser sends them (unchecked boxes left out)."""
    form = page.testid("task-form")
    values: dict[str, str] = {}
    for node in form.walk():
        name = node.attrs.get("name") or ""
        if not name or name == "csrf_token":
            continue
        if node.tag == "input":
            if node.attrs.get("type") == "checkbox" and "checked" not in node.attrs:
                continue
            values[name] = node.attrs.get("value") or ""
        elif node.tag == "textarea":
            values[name] = node.text
        elif node.tag == "select":
            chosen = [o for o in node.walk() if o.tag == "option" and "selected" in o.attrs]
            if chosen and "disabled" not in chosen[0].attrs:
                values[name] = chosen[0].attrs.get("value") or ""
    return values


def edit(dashboard: Dashboard, task_id: str, **changes: str) -> Any:
    page = dashboard.get(f"/dashboard/tasks/{task_id}")
    return dashboard.post(f"/dashboard/tasks/{task_id}", {**form_values(page), **changes})


def with_team(backbeat: Backbeat, alice: Tenant) -> None:
    mate = make_tenant(backbeat, "mate@example.com")
    label = backbeat.admin.create_organization("Label")
    backbeat.admin.add_member(label.id, alice.account_id)
    backbeat.admin.add_member(label.id, mate.account_id)


def delivering_task(dashboard: Dashboard, alice: Tenant) -> str:
    return create_task(
        dashboard,
        alice,
        delivery_when="always",
        delivery_email="Alice@Example.com,\r\nmate@example.com",
        delivery_slack=SLACK,
        pause_after_failures="3",
    )


def test_a_new_task_stores_its_delivery_and_pause_setting(
    client: TestClient, backbeat: Backbeat, alice: Tenant
) -> None:
    with_team(backbeat, alice)
    dashboard = signed_in(client, alice)
    blank = dashboard.get("/dashboard/tasks/new")
    assert blank.label_for("task-delivery_when") == "Send each report"
    assert blank.one("input", id="task-delivery_slack").attrs["type"] == "password"
    assert not blank.all(id="task-delivery_slack_remove")  # nothing stored to remove

    task_id = delivering_task(dashboard, alice)

    task = api_task(client, alice, task_id)
    assert task["delivery"] == {
        "when": "always",
        "email": ["alice@example.com", "mate@example.com"],
        "slack": {"webhook_url": MASKED},
    }
    assert task["pause_after_failures"] == 3
    with backbeat.engine.connect() as connection:
        row = connection.exec_driver_sql("SELECT delivery, pause_after_failures FROM tasks").one()
    assert row[1] == 3
    assert SLACK not in str(row[0])  # sealed, as the API stores it
    page = dashboard.get(f"/dashboard/tasks/{task_id}")
    assert SLACK not in page.html
    assert "abcdEFGH" not in page.html
    assert page.text("task-delivery") == (
        "Reports sent: always · email to alice@example.com, mate@example.com; "
        f"Slack ({MASKED}) · pauses after 3 failed runs in a row"
    )
    assert page.one("input", id="task-delivery_slack").attrs["value"] == ""
    assert MASKED in page.one(id="task-delivery_slack-hint").text
    assert page.one("input", id="task-pause_after_failures").attrs["value"] == "3"
    assert page.one("textarea", id="task-delivery_email").text == (
        "alice@example.com, mate@example.com"
    )


def test_an_empty_slack_input_keeps_the_stored_url(
    client: TestClient, backbeat: Backbeat, alice: Tenant
) -> None:
    with_team(backbeat, alice)
    dashboard = signed_in(client, alice)
    task_id = delivering_task(dashboard, alice)

    response = edit(dashboard, task_id, delivery_when="never", pause_after_failures="")

    assert response.status_code == 303, response.text
    task = api_task(client, alice, task_id)
    assert task["delivery"]["when"] == "never"
    assert task["delivery"]["slack"] == {"webhook_url": MASKED}
    assert task["delivery"]["email"] == ["alice@example.com", "mate@example.com"]
    assert task["pause_after_failures"] is None
    page = dashboard.get(f"/dashboard/tasks/{task_id}")
    assert page.text("task-delivery").endswith("never paused for failures")


def test_a_new_slack_url_replaces_the_stored_one(
    client: TestClient, backbeat: Backbeat, alice: Tenant
) -> None:
    with_team(backbeat, alice)
    dashboard = signed_in(client, alice)
    task_id = delivering_task(dashboard, alice)

    other = "https://hooks.slack.com/services/T111/B111/zyxwVUTSwxyz"
    assert edit(dashboard, task_id, delivery_slack=other).status_code == 303

    shown = api_task(client, alice, task_id)["delivery"]["slack"]
    assert shown == {"webhook_url": "https://hooks.slack.com/…wxyz"}


def test_remove_slack_removes_it(client: TestClient, backbeat: Backbeat, alice: Tenant) -> None:
    with_team(backbeat, alice)
    dashboard = signed_in(client, alice)
    task_id = delivering_task(dashboard, alice)

    response = edit(dashboard, task_id, delivery_slack_remove="1")

    assert response.status_code == 303, response.text
    delivery = api_task(client, alice, task_id)["delivery"]
    assert delivery == {
        "when": "always",
        "email": ["alice@example.com", "mate@example.com"],
        "slack": None,
    }
    page = dashboard.get(f"/dashboard/tasks/{task_id}")
    assert not page.all(id="task-delivery_slack_remove")
    assert "Slack" not in page.text("task-delivery")


def test_the_default_choice_removes_the_setting(
    client: TestClient, backbeat: Backbeat, alice: Tenant
) -> None:
    with_team(backbeat, alice)
    dashboard = signed_in(client, alice)
    task_id = delivering_task(dashboard, alice)

    assert edit(dashboard, task_id, delivery_when="").status_code == 303

    task = api_task(client, alice, task_id)
    assert task["delivery"] is None
    assert task["pause_after_failures"] == 3
    page = dashboard.get(f"/dashboard/tasks/{task_id}")
    assert page.text("task-delivery").startswith("Reports sent: only what the model emails ·")


def test_an_outsider_is_refused_with_the_services_message(
    client: TestClient, backbeat: Backbeat, alice: Tenant
) -> None:
    with_team(backbeat, alice)
    dashboard = signed_in(client, alice)
    task_id = delivering_task(dashboard, alice)
    before = api_task(client, alice, task_id)

    response = edit(
        dashboard,
        task_id,
        title="Renamed",
        delivery_email="alice@example.com, stranger@elsewhere.example",
        delivery_slack="https://hooks.slack.com/services/T9/B9/newnewnewnew",
    )

    assert response.status_code == 400
    page = Page(response)
    assert page.text("form-error") == OUTSIDER_MESSAGE
    control = page.one("textarea", id="task-delivery_email")
    assert control.attrs["aria-invalid"] == "true"
    assert "stranger@elsewhere.example" in control.text  # as typed, to fix
    assert page.one("input", id="task-delivery_slack").attrs["value"] == ""  # never shown back
    assert "newnewnewnew" not in page.html
    assert api_task(client, alice, task_id) == before


def test_an_outsider_on_a_new_task_creates_nothing(client: TestClient, alice: Tenant) -> None:
    dashboard = signed_in(client, alice)
    dashboard.get("/dashboard/tasks/new")
    response = dashboard.post(
        "/dashboard/tasks/new",
        {
            "title": "Pulse",
            "prompt": "Summarise the week.",
            "schedule": "0 9 * * 4",
            "timezone": "UTC",
            "artist_account_id": str(alice.artist_id),
            "delivery_when": "always",
            "delivery_email": "stranger@elsewhere.example",
            "pause_after_failures": "",
        },
    )

    assert response.status_code == 400
    assert Page(response).text("form-error") == OUTSIDER_MESSAGE
    assert list_tasks(client, alice) == []


def test_a_pause_count_out_of_range_is_refused(client: TestClient, alice: Tenant) -> None:
    dashboard = signed_in(client, alice)
    task_id = create_task(dashboard, alice)

    for typed in ("0", "101", "three"):
        response = edit(dashboard, task_id, pause_after_failures=typed)

        assert response.status_code == 400, typed
        page = Page(response)
        assert "between 1 and 100" in page.text("form-error")
        control = page.one("input", id="task-pause_after_failures")
        assert control.attrs["aria-invalid"] == "true"
        assert control.attrs["value"] == typed
    assert api_task(client, alice, task_id)["pause_after_failures"] is None


def test_only_when_changed_is_a_choice(
    client: TestClient, backbeat: Backbeat, alice: Tenant
) -> None:
    dashboard = signed_in(client, alice)
    blank = dashboard.get("/dashboard/tasks/new")
    choices = [
        node.text
        for node in blank.one("select", id="task-delivery_when").walk()
        if node.tag == "option"
    ]
    assert "Only when the report changed" in choices
    task_id = create_task(
        dashboard, alice, delivery_when="changed", delivery_email="alice@example.com"
    )
    assert api_task(client, alice, task_id)["delivery"]["when"] == "changed"
    page = dashboard.get(f"/dashboard/tasks/{task_id}")
    assert page.text("task-delivery").startswith(
        "Reports sent: only when the report changed · email to alice@example.com"
    )
