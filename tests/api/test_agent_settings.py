"""A task's agent settings through the API (its tools, cost cap per run, max output tokens,
model timeout: extension fields), and GET /api/accounts/usage, the account's model spend
this month against its monthly budget."""

from __future__ import annotations

from typing import Any

from starlette.testclient import TestClient

from backbeat.wiring import Backbeat
from tests.api.helpers import assert_error, create_task
from tests.conftest import Tenant, make_tenant


def patch(client: TestClient, tenant: Tenant, body: dict[str, Any]) -> Any:
    return client.patch("/api/tasks", json=body, headers=tenant.headers)


def test_defaults_then_set_changed_and_reset(client: TestClient, alice: Tenant) -> None:
    task = create_task(client, alice)
    assert (
        task["tools"],
        task["max_run_cost_usd"],
        task["max_output_tokens"],
        task["model_timeout_seconds"],
    ) == (None, None, None, None)

    chosen = create_task(
        client,
        alice,
        tools=["read_artist_profile", "web_search", "read_artist_profile"],
        max_run_cost_usd=1,
        max_output_tokens=2000,
        model_timeout_seconds=45.5,
    )
    assert chosen["tools"] == ["read_artist_profile", "web_search"]
    assert chosen["max_run_cost_usd"] == 1.0
    assert chosen["max_output_tokens"] == 2000
    assert chosen["model_timeout_seconds"] == 45.5

    changed = patch(client, alice, {"id": chosen["id"], "tools": [], "max_run_cost_usd": 0.25})
    shown = changed.json()["tasks"][0]
    assert shown["tools"] == []
    assert shown["max_run_cost_usd"] == 0.25
    assert shown["max_output_tokens"] == 2000  # not given: kept
    reset = patch(client, alice, {"id": chosen["id"], "tools": None, "max_output_tokens": None})
    shown = reset.json()["tasks"][0]
    assert shown["tools"] is None
    assert shown["max_output_tokens"] is None
    assert shown["max_run_cost_usd"] == 0.25


def test_bad_settings_are_refused_clearly(client: TestClient, alice: Tenant) -> None:
    task = create_task(client, alice)
    cases = [
        ({"tools": ["delete_everything"]}, "unknown tool 'delete_everything'"),
        ({"tools": ["charts/top_songs"]}, "no MCP server named 'charts' is registered"),
        ({"tools": "send_email"}, "Invalid input"),
        ({"max_run_cost_usd": 0}, "max_run_cost_usd must be greater than 0 and at most 1000"),
        ({"max_run_cost_usd": "1"}, "Invalid input"),
        ({"max_output_tokens": 0}, "max_output_tokens must be at least 1 and at most 64000"),
        ({"max_output_tokens": 1.5}, "Invalid input"),
        ({"model_timeout_seconds": 7200}, "model_timeout_seconds must be greater than 0"),
    ]
    for fields, message in cases:
        answer = patch(client, alice, {"id": task["id"], **fields})
        assert answer.status_code == 400, (fields, answer.text)
        assert message in answer.json()["error"], (fields, answer.json())


def test_usage_shows_the_months_spend_against_the_budget(
    client: TestClient, backbeat: Backbeat, alice: Tenant
) -> None:
    answer = client.get("/api/accounts/usage", headers=alice.headers)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["status"] == "success"
    assert body["account_id"] == str(alice.account_id)
    assert body["spent_usd"] == 0
    assert body["monthly_budget_usd"] is None
    assert body["left_usd"] is None
    assert body["month_start"].endswith("-01T00:00:00.000Z")

    backbeat.usage.set_monthly_budget(alice.account_id, 25.0)
    body = client.get("/api/accounts/usage", headers=alice.headers).json()
    assert body["monthly_budget_usd"] == 25.0
    assert body["left_usd"] == 25.0


def test_another_accounts_usage_is_refused(
    client: TestClient, backbeat: Backbeat, alice: Tenant
) -> None:
    stranger = make_tenant(backbeat, "stranger@example.com")
    answer = client.get(
        f"/api/accounts/usage?account_id={stranger.account_id}", headers=alice.headers
    )
    assert_error(answer, 403, "Access denied to specified account_id")
    assert client.get("/api/accounts/usage").status_code == 401
    bad = client.get("/api/accounts/usage?account_id=nope", headers=alice.headers)
    assert bad.status_code == 400
