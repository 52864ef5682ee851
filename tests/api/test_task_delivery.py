"""The task's `delivery` extension field through the API: set on create, changed and removed
on update, read back with the Slack URL masked (stored sealed, never shown whole), and
refused for anyone outside the owner's team."""

from __future__ import annotations

from typing import Any

from starlette.testclient import TestClient

from backbeat.wiring import Backbeat
from tests.api.helpers import assert_error, create_task, list_tasks
from tests.conftest import Tenant, make_tenant

SLACK = "https://hooks.slack.com/services/T000/B000/abcdEFGHijkl"


def patch(client: TestClient, tenant: Tenant, body: dict[str, Any]) -> Any:
    return client.patch("/api/tasks", json=body, headers=tenant.headers)


def test_without_a_setting_nothing_is_delivered_automatically(
    client: TestClient, alice: Tenant
) -> None:
    assert create_task(client, alice)["delivery"] is None


def test_a_setting_is_stored_and_the_slack_url_never_shown_whole(
    client: TestClient, backbeat: Backbeat, alice: Tenant
) -> None:
    task = create_task(
        client,
        alice,
        delivery={"email": ["Alice@Example.com"], "slack": {"webhook_url": SLACK}},
    )
    shown = {"when": "always", "email": ["alice@example.com"]}
    assert task["delivery"] == {**shown, "slack": {"webhook_url": "https://hooks.slack.com/…ijkl"}}
    assert list_tasks(client, alice)[0]["delivery"] == task["delivery"]
    with backbeat.engine.connect() as connection:
        stored = connection.exec_driver_sql("SELECT delivery FROM tasks").scalar_one()
    assert SLACK not in str(stored)  # sealed with the server secret
    assert "hooks.slack.com" not in str(stored)


def test_an_update_keeps_the_slack_url_unless_told(client: TestClient, alice: Tenant) -> None:
    task = create_task(client, alice, delivery={"slack": {"webhook_url": SLACK}})
    kept = patch(client, alice, {"id": task["id"], "delivery": {"when": "never"}})
    assert kept.status_code == 200, kept.text
    assert kept.json()["tasks"][0]["delivery"]["slack"] == task["delivery"]["slack"]
    assert kept.json()["tasks"][0]["delivery"]["when"] == "never"

    dropped = patch(client, alice, {"id": task["id"], "delivery": {"slack": None}})
    assert dropped.json()["tasks"][0]["delivery"] == {"when": "always", "email": [], "slack": None}
    removed = patch(client, alice, {"id": task["id"], "delivery": None})
    assert removed.json()["tasks"][0]["delivery"] is None


def test_changed_is_a_when(client: TestClient, alice: Tenant) -> None:
    task = create_task(client, alice, delivery={"when": "changed", "email": ["alice@example.com"]})
    assert task["delivery"]["when"] == "changed"
    listed = client.get(f"/api/tasks?id={task['id']}", headers=alice.headers)
    assert listed.json()["tasks"][0]["delivery"]["when"] == "changed"
    refused = patch(client, alice, {"id": task["id"], "delivery": {"when": "sometimes"}})
    assert refused.status_code == 400
    assert refused.json()["error"] == (
        'delivery.when: Invalid option: expected one of "always"|"changed"|"never"'
    )


def test_only_the_owners_team_can_receive_reports(
    client: TestClient, backbeat: Backbeat, alice: Tenant
) -> None:
    mate = make_tenant(backbeat, "mate@example.com")
    organization = backbeat.admin.create_organization("Label")
    backbeat.admin.add_member(organization.id, alice.account_id)
    backbeat.admin.add_member(organization.id, mate.account_id)
    task = create_task(client, alice, delivery={"email": ["alice@example.com", "mate@example.com"]})
    assert task["delivery"]["email"] == ["alice@example.com", "mate@example.com"]

    refused = client.post(
        "/api/tasks",
        json={
            "title": "Pulse",
            "prompt": "p",
            "schedule": "0 9 * * 1",
            "artist_account_id": str(alice.artist_id),
            "delivery": {"email": ["stranger@elsewhere.example"]},
        },
        headers=alice.headers,
    )
    assert_error(
        refused,
        400,
        "stranger@elsewhere.example is not the task's owner or a member of the owner's "
        "organizations",
        ["delivery", "email", 0],
    )


def test_bad_settings_are_refused_clearly(client: TestClient, alice: Tenant) -> None:
    task = create_task(client, alice)
    cases = [
        ({"when": "sometimes"}, 400),
        ({"email": "alice@example.com"}, 400),
        ({"slack": {"webhook_url": "ftp://hooks.example.com/x"}}, 400),
        ({"slack": {"url": SLACK}}, 400),
        ({"channels": ["email"]}, 400),
    ]
    for delivery, status in cases:
        answer = patch(client, alice, {"id": task["id"], "delivery": delivery})
        assert answer.status_code == status, (delivery, answer.text)
        assert answer.json()["status"] == "error"
    slack = patch(client, alice, {"id": task["id"], "delivery": cases[2][0]})
    assert "slack webhook_url must be an http or https URL" in slack.json()["error"]


def test_pause_after_failures_is_set_shown_and_checked(client: TestClient, alice: Tenant) -> None:
    task = create_task(client, alice, pause_after_failures=5)
    assert task["pause_after_failures"] == 5
    cleared = patch(client, alice, {"id": task["id"], "pause_after_failures": None})
    assert cleared.json()["tasks"][0]["pause_after_failures"] is None
    assert_error(
        patch(client, alice, {"id": task["id"], "pause_after_failures": 0}),
        400,
        "pause_after_failures must be between 1 and 100",
        ["pause_after_failures"],
    )
