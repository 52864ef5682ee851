"""Tools from MCP servers: the `SERVER/tool` names of a task's `tools` become tools the model
is offered, with the schemas their servers give, and each call goes to its server.

The model sees each under a name every provider accepts as a function name
(`^[a-zA-Z0-9_-]{1,64}$`): `SERVER__tool`, or, when that is not a valid name (a `.` in the
tool's name, or too long), its valid characters cut short and a hash of the real name. The
run's record names each call by its real name, `SERVER/tool` (`recorded_names`).

What the worker does when a server fails:
- at the start of a run, the servers the task needs are asked for their tools. One that
  cannot be reached, or does not answer in time, fails the attempt as retryable (NETWORK,
  `McpServerUnavailable`): the task listed its tools, so the run cannot do without them.
  One that answers without a tool the task lists fails it, not retried (`ToolUnavailable`);
  so does a server that is no longer registered, or open to the task's owner (the worker's
  setup: SYSTEM_FAILURE).
- during the run, a server that is down, slow (BACKBEAT_MCP_TIMEOUT_SECONDS) or refuses a
  call is a tool error the model sees, and can work around; so is a call the tool itself
  reports as failed. What a call answers is cut at BACKBEAT_MCP_MAX_OUTPUT_CHARS.

The connecting is an McpClient's (agents.tools.mcp_client over the official SDK;
testing.fake_mcp in unit tests).
"""

from __future__ import annotations

import asyncio
import hashlib
import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol
from uuid import UUID

from backbeat.agents.base import ToolSpec
from backbeat.agents.tools.base import Tool, ToolContext, ToolError
from backbeat.domain.agent_settings import MCP_TOOL
from backbeat.domain.failures import AttemptFailed, FailureKind
from backbeat.domain.mcp_servers import McpServer

FUNCTION_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
MAX_DESCRIPTION_CHARS = 2_000


@dataclass(frozen=True, slots=True)
class RemoteTool:
    """A tool as its server lists it."""

    name: str
    description: str
    input_schema: dict[str, Any]


@dataclass(frozen=True, slots=True)
class RemoteResult:
    """A call's answer as text for the model; `is_error` when the tool said it failed."""

    text: str
    is_error: bool = False


class McpFailure(Exception):
    """The server did not answer what was asked. `reachable` is False when it could not be
    reached or did not answer in time (worth trying again later), True when it answered
    with an error. The message is for the model and the run's record: never a header."""

    def __init__(self, message: str, *, reachable: bool) -> None:
        super().__init__(message)
        self.message = message
        self.reachable = reachable


class McpClient(Protocol):
    """Connections to MCP servers, kept between runs where the transport allows."""

    async def list_tools(self, server: McpServer) -> list[RemoteTool]:
        """Every tool the server has now; McpFailure if it cannot say."""
        ...

    async def call_tool(
        self, server: McpServer, tool: str, arguments: dict[str, Any]
    ) -> RemoteResult:
        """Call it once (never retried: a call may have effects); McpFailure if the server
        does not answer in time or refuses the call."""
        ...

    async def aclose(self) -> None:
        """Close every connection (stdio servers' processes end)."""
        ...


def offered_name(server: str, tool: str) -> str:
    """The name the model calls `server/tool` by: a valid function name for every provider."""
    plain = f"{server}__{tool}"
    if FUNCTION_NAME.match(plain):
        return plain
    digest = hashlib.sha256(f"{server}/{tool}".encode()).hexdigest()[:8]
    return f"{re.sub(r'[^a-zA-Z0-9_-]', '_', plain)[:55]}_{digest}"


def capped(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    return text[:limit] + f"\n[... the output was cut at {limit:,} of {len(text):,} characters]"


@dataclass(eq=False)
class McpTool:
    """One tool of one server, as a run offers it."""

    spec: ToolSpec
    real_name: str  # SERVER/tool, as the task lists it and the run records it
    server: McpServer
    tool: str
    client: McpClient
    max_output_chars: int

    async def __call__(self, context: ToolContext, arguments: dict[str, Any]) -> str:
        if not isinstance(arguments, dict):
            raise ToolError(f"{self.spec.name}: the arguments must be a JSON object")
        try:
            result = await self.client.call_tool(self.server, self.tool, arguments)
        except McpFailure as exc:
            raise ToolError(exc.message) from None
        text = capped(result.text, self.max_output_chars)
        if result.is_error:
            raise ToolError(text or f"{self.real_name} failed without saying why")
        return text


def recorded_names(tool_calls: list[dict[str, Any]], tools: Sequence[Tool]) -> None:
    """Name each recorded call of an MCP tool by its real name (`SERVER/tool`), in place."""
    real = {tool.spec.name: tool.real_name for tool in tools if isinstance(tool, McpTool)}
    for call in tool_calls:
        call["name"] = real.get(call["name"], call["name"])


# (account, server names, the task's organization scope or None) → the servers it may use.
ServerLookup = Callable[
    [UUID, list[str], tuple[UUID, ...] | None], Awaitable[Mapping[str, McpServer]]
]


class McpToolbox:
    """A worker's tools from MCP servers. `servers` finds the registered servers an account
    may use now, header values opened (services.mcp_servers, in a thread)."""

    def __init__(self, client: McpClient, servers: ServerLookup, *, max_output_chars: int) -> None:
        self.client = client
        self._servers = servers
        self._max_output_chars = max_output_chars

    async def tools(
        self, account_id: UUID, names: Sequence[str], scope: tuple[UUID, ...] | None = None
    ) -> dict[str, McpTool]:
        """The tools `names` (`SERVER/tool`) for a run of the account's task, by real name;
        `scope`: the organizations the task was made through (services.access), if any.
        Raises AttemptFailed when the run cannot have one of them (see the module)."""
        wanted: dict[str, list[str]] = {}
        for name in names:
            match = MCP_TOOL.match(name)
            if match is None:
                raise ValueError(f"not an MCP tool name: {name!r}")
            wanted.setdefault(match["server"], []).append(match["tool"])
        servers = await self._servers(account_id, list(wanted), scope)
        for server_name, tools in wanted.items():
            if server_name not in servers:
                raise AttemptFailed(
                    FailureKind.CONFIGURATION,
                    f"the task's tool {server_name}/{tools[0]} is not available: no MCP server "
                    f"named {server_name!r} is registered that the task's owner may use",
                    name="ToolUnavailable",
                )
        chosen = [servers[name] for name in wanted]
        listings = await asyncio.gather(
            *(self._listing(server, wanted[server.name]) for server in chosen)
        )
        found: dict[str, McpTool] = {}
        for server, listing in zip(chosen, listings, strict=True):
            for tool in wanted[server.name]:
                remote = listing.get(tool)
                if remote is None:
                    has = ", ".join(sorted(listing)) or "no tools"
                    raise AttemptFailed(
                        FailureKind.TOOL,
                        f"the MCP server {server.name!r} has no tool {tool!r} (it has {has})",
                        name="ToolUnavailable",
                    )
                found[f"{server.name}/{tool}"] = self._tool(server, remote)
        return found

    async def _listing(self, server: McpServer, tools: list[str]) -> dict[str, RemoteTool]:
        try:
            return {tool.name: tool for tool in await self.client.list_tools(server)}
        except McpFailure as exc:
            kind = FailureKind.TOOL if exc.reachable else FailureKind.NETWORK
            needed = ", ".join(f"{server.name}/{tool}" for tool in tools)
            raise AttemptFailed(
                kind,
                f"{exc.message}; the run needs its tools ({needed})",
                name="McpServerUnavailable",
            ) from None

    def _tool(self, server: McpServer, remote: RemoteTool) -> McpTool:
        schema = dict(remote.input_schema)
        schema["type"] = "object"  # every provider wants an object of arguments
        about = remote.description.strip() or f"The tool {remote.name}."
        spec = ToolSpec(
            offered_name(server.name, remote.name),
            f"{about[:MAX_DESCRIPTION_CHARS]} (from the MCP server {server.name})",
            schema,
        )
        real = f"{server.name}/{remote.name}"
        return McpTool(spec, real, server, remote.name, self.client, self._max_output_chars)

    async def aclose(self) -> None:
        await self.client.aclose()
