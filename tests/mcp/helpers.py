"""Calling Backbeat's MCP tools with the official SDK's client, from synchronous tests."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import anyio
from mcp import Client
from mcp.server.mcpserver import MCPServer
from mcp_types import CallToolResult, TextContent

T = TypeVar("T")

TOOLS = {
    "create_task",
    "get_tasks",
    "update_task",
    "delete_task",
    "get_task_run_status",
    "run_task_now",
    "cancel_run",
    "list_runs",
}


def run(work: Callable[[], Awaitable[T]]) -> T:
    return anyio.run(work)


def call(server: MCPServer[Any], name: str, arguments: dict[str, Any]) -> CallToolResult:
    """One tool call through an in-memory client session."""

    async def work() -> CallToolResult:
        async with Client(server) as client:
            return await client.call_tool(name, arguments)

    return run(work)


def text_of(result: CallToolResult) -> str:
    [block] = result.content
    assert isinstance(block, TextContent)
    return block.text


def ok(result: CallToolResult) -> dict[str, Any]:
    """The success body of a call that must have succeeded."""
    assert not result.is_error, text_of(result)
    body = result.structured_content
    assert isinstance(body, dict)
    assert body["status"] == "success"
    return body


def refused(result: CallToolResult) -> dict[str, Any]:
    """The error body of a call that must have been refused; its text is the message."""
    assert result.is_error, text_of(result)
    body = result.structured_content
    assert isinstance(body, dict)
    assert body["status"] == "error"
    assert text_of(result) == body["message"]
    return body
