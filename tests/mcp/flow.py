"""One team's task through every tool, and another team's key seeing none of it: the same
story over Streamable HTTP and over stdio."""

from __future__ import annotations

from mcp import Client

from tests.mcp.helpers import TOOLS, ok, refused, text_of
from tests.mcp.processes import Member


async def a_task_through_every_tool(mine: Client, theirs: Client, me: Member) -> None:
    assert {tool.name for tool in (await mine.list_tools()).tools} == TOOLS

    [task] = ok(await mine.call_tool("create_task", me.task(timezone="America/New_York")))["tasks"]
    assert task["account_id"] == me.account_id
    assert task["upcoming"][0] == "2026-01-05T14:00:00.000Z"  # 09:00 today in New York
    [read] = ok(await mine.call_tool("get_tasks", {"id": task["id"]}))["tasks"]
    assert read["title"] == "Weekly pulse"
    [edited] = ok(await mine.call_tool("update_task", {"id": task["id"], "title": "Pulse"}))[
        "tasks"
    ]
    assert edited["title"] == "Pulse"
    assert edited["timezone"] == "America/New_York"

    [queued] = ok(await mine.call_tool("run_task_now", {"task_id": task["id"]}))["runs"]
    assert queued["status"] == "QUEUED"  # no worker runs in these processes
    runs = ok(await mine.call_tool("list_runs", {"limit": 10}))["runs"]
    assert [(run["id"], run["title"]) for run in runs] == [(queued["id"], "Pulse")]
    [status] = ok(await mine.call_tool("get_task_run_status", {"runId": queued["id"]}))["runs"]
    assert status["status"] == "QUEUED"

    # Another account's key: nothing to see, nothing to change.
    assert ok(await theirs.call_tool("get_tasks", {}))["tasks"] == []
    assert ok(await theirs.call_tool("list_runs", {}))["runs"] == []
    for name, arguments, message in [
        ("get_tasks", {"account_id": me.account_id}, "Access denied to specified account_id"),
        ("get_task_run_status", {"runId": queued["id"]}, "Task run not found"),
        ("cancel_run", {"runId": queued["id"]}, "Task run not found"),
        ("update_task", {"id": task["id"], "enabled": False}, "Access denied to this task"),
        ("delete_task", {"id": task["id"]}, "Access denied to this task"),
    ]:
        assert refused(await theirs.call_tool(name, arguments))["message"] == message, name

    # Bad arguments: a tool error with the API's message, and the session carries on.
    bad = await mine.call_tool("create_task", me.task(title=5))
    assert bad.is_error
    assert text_of(bad) == "Invalid input: expected string, received number"
    bad = await mine.call_tool("update_task", {"id": task["id"], "colour": "red"})
    assert text_of(bad) == 'Unrecognized key: "colour"'
    bad = await mine.call_tool("list_runs", {"limit": 101})
    assert text_of(bad) == "Too big: expected number to be <=100"

    [canceled] = ok(await mine.call_tool("cancel_run", {"runId": queued["id"]}))["runs"]
    assert canceled["status"] == "CANCELED"
    assert ok(await mine.call_tool("delete_task", {"id": task["id"]})) == {"status": "success"}
    assert ok(await mine.call_tool("get_tasks", {"id": task["id"]}))["tasks"] == []
