"""An McpClient (agents.tools.mcp_tools) with scripted servers, for unit tests: each server's
tools, what each call answers, and servers that are down. Calls are recorded.

    client = FakeMcpClient({"charts": [RemoteTool("top_songs", "…", {"type": "object"})]})
    client.answers["charts/top_songs"] = RemoteResult("1. Neon Tide")
    client.down.add("charts")         # every request fails as unreachable
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from backbeat.agents.tools.mcp_tools import McpFailure, RemoteResult, RemoteTool
from backbeat.domain.mcp_servers import McpServer

Answer = RemoteResult | McpFailure | Callable[[dict[str, Any]], RemoteResult]


@dataclass
class FakeMcpClient:
    tools: dict[str, list[RemoteTool]] = field(default_factory=dict)
    answers: dict[str, Answer] = field(default_factory=dict)  # by SERVER/tool
    down: set[str] = field(default_factory=set)
    calls: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)
    listed: list[McpServer] = field(default_factory=list)  # each server asked for its tools
    closed: bool = False

    async def list_tools(self, server: McpServer) -> list[RemoteTool]:
        self.listed.append(server)
        if server.name in self.down:
            raise McpFailure(f"the MCP server {server.name!r} is down", reachable=False)
        return list(self.tools.get(server.name, []))

    async def call_tool(
        self, server: McpServer, tool: str, arguments: dict[str, Any]
    ) -> RemoteResult:
        self.calls.append((server.name, tool, arguments))
        if server.name in self.down:
            raise McpFailure(f"the MCP server {server.name!r} is down", reachable=False)
        answer = self.answers.get(f"{server.name}/{tool}", RemoteResult(f"{tool} answered"))
        if isinstance(answer, McpFailure):
            raise answer
        if isinstance(answer, RemoteResult):
            return answer
        return answer(arguments)

    async def aclose(self) -> None:
        self.closed = True
