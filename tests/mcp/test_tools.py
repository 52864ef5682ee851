"""The MCP tools in process (the SDK's in-memory client), on both databases: what they list,
a task's whole life, tenancy, keys and the plan gate."""

from __future__ import annotations

from typing import Any

import pytest
from mcp import Client
from mcp.server.mcpserver import MCPServer

from backbeat.domain.plans import Plan
from backbeat.mcp.auth import key_caller
from backbeat.mcp.server import build_server
from backbeat.wiring import Backbeat
from tests.conftest import Tenant
from tests.mcp.helpers import TOOLS, call, ok, refused, run

FREE_COUNT = "Free includes 1 task. Starter includes 3, Pro is unlimited."


def server_for(backbeat: Backbeat, tenant: Tenant) -> MCPServer[Any]:
    return build_server(backbeat, key_caller(backbeat, tenant.key))


def new_task(server: MCPServer[Any], tenant: Tenant, **fields: Any) -> dict[str, Any]:
    arguments = {
        "title": "Weekly pulse",
        "prompt": "Summarise the week's news about the artist.",
        "schedule": "0 9 * * 1",
        "artist_account_id": str(tenant.artist_id),
        **fields,
    }
    [task] = ok(call(server, "create_task", arguments))["tasks"]
    assert isinstance(task, dict)
    return task


def test_the_tools_are_listed_with_the_api_schemas(backbeat: Backbeat, alice: Tenant) -> None:
    async def listing() -> dict[str, Any]:
        async with Client(server_for(backbeat, alice)) as client:
            return {tool.name: tool for tool in (await client.list_tools()).tools}

    tools = run(listing)
    assert set(tools) == TOOLS
    create = tools["create_task"]
    assert create.input_schema["required"] == ["title", "prompt", "schedule", "artist_account_id"]
    assert create.input_schema["additionalProperties"] is False
    assert "timezone" in create.input_schema["properties"]
    assert "default" not in create.input_schema["properties"]["account_id"]
    assert create.description is not None
    assert "timezone" in create.description
    assert "next 5 times" in create.description
    assert "UTC" in create.description
    assert tools["update_task"].input_schema["required"] == ["id"]
    assert tools["get_task_run_status"].input_schema["required"] == ["runId"]
    assert tools["get_tasks"].annotations is not None
    assert tools["get_tasks"].annotations.read_only_hint is True
    assert tools["delete_task"].annotations is not None
    assert tools["delete_task"].annotations.destructive_hint is True


def test_a_task_from_creation_to_deletion(backbeat: Backbeat, alice: Tenant) -> None:
    server = server_for(backbeat, alice)
    task = new_task(server, alice, timezone="Europe/Berlin")
    assert task["account_id"] == str(alice.account_id)
    assert task["timezone"] == "Europe/Berlin"
    assert task["enabled"] is True
    # 09:00 in Berlin on Mondays is 08:00 UTC in winter; the clock is Monday 2026-01-05 noon.
    assert task["upcoming"][0] == "2026-01-12T08:00:00.000Z"
    assert len(task["upcoming"]) == 5

    [read] = ok(call(server, "get_tasks", {"id": task["id"]}))["tasks"]
    assert read["id"] == task["id"]
    assert [t["id"] for t in ok(call(server, "get_tasks", {}))["tasks"]] == [task["id"]]

    [paused] = ok(call(server, "update_task", {"id": task["id"], "enabled": False}))["tasks"]
    assert paused["enabled"] is False
    assert paused["upcoming"] == []
    assert paused["timezone"] == "Europe/Berlin"
    assert ok(call(server, "get_tasks", {"enabled": True}))["tasks"] == []

    [queued] = ok(call(server, "run_task_now", {"task_id": task["id"]}))["runs"]
    assert queued["status"] == "QUEUED"
    assert queued["taskId"] == task["id"]
    listed = ok(call(server, "list_runs", {"task_id": task["id"], "limit": 5}))
    assert [r["id"] for r in listed["runs"]] == [queued["id"]]
    assert listed["runs"][0]["title"] == "Weekly pulse"
    assert listed["next_cursor"] is None
    [status] = ok(call(server, "get_task_run_status", {"runId": queued["id"]}))["runs"]
    assert status["id"] == queued["id"]
    assert status["status"] == "QUEUED"
    assert "attempts" in status

    [canceled] = ok(call(server, "cancel_run", {"runId": queued["id"]}))["runs"]
    assert canceled["status"] == "CANCELED"
    again = refused(call(server, "cancel_run", {"runId": queued["id"]}))
    assert again["message"] == "the run has already finished (CANCELED)"

    assert ok(call(server, "delete_task", {"id": task["id"]})) == {"status": "success"}
    assert ok(call(server, "get_tasks", {"id": task["id"]}))["tasks"] == []
    # The run outlives its task, readable.
    [kept] = ok(call(server, "get_task_run_status", {"runId": queued["id"]}))["runs"]
    assert kept["status"] == "CANCELED"


def test_another_accounts_key_sees_none_of_it(
    backbeat: Backbeat, alice: Tenant, bob: Tenant
) -> None:
    mine = server_for(backbeat, alice)
    task = new_task(mine, alice)
    [queued] = ok(call(mine, "run_task_now", {"task_id": task["id"]}))["runs"]

    theirs = server_for(backbeat, bob)
    assert ok(call(theirs, "get_tasks", {}))["tasks"] == []
    assert ok(call(theirs, "get_tasks", {"id": task["id"]}))["tasks"] == []
    assert ok(call(theirs, "list_runs", {}))["runs"] == []
    for name, arguments, message in [
        ("get_task_run_status", {"runId": queued["id"]}, "Task run not found"),
        ("cancel_run", {"runId": queued["id"]}, "Task run not found"),
        ("update_task", {"id": task["id"], "title": "Mine now"}, "Access denied to this task"),
        ("delete_task", {"id": task["id"]}, "Access denied to this task"),
        ("run_task_now", {"task_id": task["id"]}, "Access denied to this task"),
        (
            "get_tasks",
            {"account_id": str(alice.account_id)},
            "Access denied to specified account_id",
        ),
        (
            "create_task",
            {
                "title": "t",
                "prompt": "p",
                "schedule": "0 9 * * 1",
                "artist_account_id": str(alice.artist_id),
            },
            "Access denied to specified artist_account_id",
        ),
    ]:
        assert refused(call(theirs, name, arguments))["message"] == message, name

    [unchanged] = ok(call(mine, "get_tasks", {"id": task["id"]}))["tasks"]
    assert unchanged["title"] == "Weekly pulse"
    [still] = ok(call(mine, "get_task_run_status", {"runId": queued["id"]}))["runs"]
    assert still["status"] == "QUEUED"


@pytest.mark.parametrize("key", ["revoked", "unknown"])
def test_a_key_that_does_not_work_is_refused_at_every_call(
    backbeat: Backbeat, alice: Tenant, key: str
) -> None:
    if key == "revoked":
        backbeat.admin.revoke_key(alice.key_id(backbeat))
        presented = alice.key
    else:
        presented = "bbk_" + "x" * 43
    server = build_server(backbeat, key_caller(backbeat, presented))
    for name in ["get_tasks", "list_runs", "create_task"]:
        body = refused(call(server, name, {}))
        assert body == {"status": "error", "error": "Unauthorized", "message": "Unauthorized"}


def test_the_plan_gate_answers_recoups_refusal(backbeat: Backbeat, alice: Tenant) -> None:
    backbeat.admin.set_plan(alice.account_id, Plan.FREE)
    server = server_for(backbeat, alice)
    new_task(server, alice)
    second = {
        "title": "Another",
        "prompt": "p",
        "schedule": "0 9 * * 1",
        "artist_account_id": str(alice.artist_id),
    }
    body = refused(call(server, "create_task", second))
    assert body["error"] == "plan_limit"
    assert body["limit"] == "task_count"
    assert body["message"] == FREE_COUNT
    assert body["plan"] == "free"
    assert body["current_task_count"] == 1
    assert len(ok(call(server, "get_tasks", {}))["tasks"]) == 1  # nothing written


def test_the_delivery_setting_is_editable_through_mcp(backbeat: Backbeat, alice: Tenant) -> None:
    server = server_for(backbeat, alice)
    task = new_task(server, alice, delivery={"email": ["alice@example.com"]})
    assert task["delivery"] == {"when": "always", "email": ["alice@example.com"], "slack": None}
    slack = "https://hooks.slack.com/services/T1/B1/secretXYZ1"
    [updated] = ok(
        call(
            server, "update_task", {"id": task["id"], "delivery": {"slack": {"webhook_url": slack}}}
        )
    )["tasks"]
    assert updated["delivery"]["slack"] == {"webhook_url": "https://hooks.slack.com/…XYZ1"}
    assert slack not in str(updated)


def test_get_tasks_pages_with_limit_and_cursor(backbeat: Backbeat, alice: Tenant) -> None:
    server = server_for(backbeat, alice)
    for number in range(5):
        new_task(server, alice, title=f"task {number}")
    everything = ok(call(server, "get_tasks", {}))
    assert "next_cursor" not in everything  # Recoup's answer, unchanged

    pages, arguments = [], {"limit": 2}
    while True:
        answer = ok(call(server, "get_tasks", arguments))
        pages.append([task["id"] for task in answer["tasks"]])
        if answer["next_cursor"] is None:
            break
        arguments = {"limit": 2, "cursor": answer["next_cursor"]}

    assert [len(each) for each in pages] == [2, 2, 1]
    assert [task_id for each in pages for task_id in each] == [
        task["id"] for task in everything["tasks"]
    ]
    assert refused(call(server, "get_tasks", {"cursor": "!!"}))["message"] == (
        "cursor is not a cursor this server gave out"
    )
    assert refused(call(server, "get_tasks", {"limit": 0}))["message"] == (
        "Too small: expected number to be >=1"
    )
