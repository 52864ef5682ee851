"""A task's agent settings as the doors give them (its `tools`, `max_run_cost_usd`,
`max_output_tokens`, `model_timeout_seconds`), checked and made ready to store; the rules are
domain.agent_settings'. Ranges are the edge's to check (edge.requests); the tool names are
checked here, where the registered MCP servers are known."""

from __future__ import annotations

from dataclasses import replace
from typing import Any
from uuid import UUID

from backbeat.domain.agent_settings import AgentSettings, checked_tools
from backbeat.domain.ports import UnitOfWork
from backbeat.services.mcp_servers import check_mcp_tools

AGENT_FIELDS = ("tools", "max_run_cost_usd", "max_output_tokens", "model_timeout_seconds")


def agent_settings(
    current: AgentSettings,
    given: dict[str, Any],
    uow: UnitOfWork,
    owner: UUID,
    scope: tuple[UUID, ...] | None = None,
) -> AgentSettings:
    """`current` with the fields given replaced (None: back to the default). A `SERVER/tool`
    name must name a registered MCP server the task's `owner` may use."""
    changes = dict(given)
    if "tools" in changes:
        tools = checked_tools(changes["tools"])
        check_mcp_tools(uow, owner, tools or (), scope)
        changes["tools"] = tools
    return replace(current, **changes)
