"""The tool loop: ask the model, run the tools it calls, hand back the results, repeat.

Capped at `max_turns` model turns. Progress (usage, tool calls) is recorded on a `Progress`
object as it happens, so an attempt cut short by a timeout or a failure still reports what
it spent and did.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from backbeat.agents.base import (
    AssistantMessage,
    Message,
    ModelProvider,
    ModelRequest,
    ToolCall,
    ToolResult,
    ToolResultsMessage,
    Usage,
    UserMessage,
)
from backbeat.agents.tools.base import Tool, ToolContext, ToolError
from backbeat.domain.failures import AttemptFailed, FailureKind

RESULT_PREVIEW = 500


@dataclass
class Progress:
    usage: Usage = field(default_factory=Usage)
    turns: int = 0
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    text: str = ""
    model: str | None = None  # the model the server last said answered (ModelReply.model)


async def run_agent(
    provider: ModelProvider,
    model: str,
    system: str,
    prompt: str,
    tools: Sequence[Tool],
    context: ToolContext,
    progress: Progress,
    *,
    max_turns: int,
    max_output_tokens: int = 4096,
    request_timeout: float = 120.0,
) -> str:
    """The model's final text. Raises AttemptFailed (provider failures, turn limit)."""
    by_name = {tool.spec.name: tool for tool in tools}
    specs = tuple(tool.spec for tool in tools)
    messages: list[Message] = [UserMessage(prompt)]
    while progress.turns < max_turns:
        reply = await provider.complete(
            ModelRequest(
                model=model,
                system=system,
                messages=tuple(messages),
                tools=specs,
                max_output_tokens=max_output_tokens,
                timeout_seconds=request_timeout,
            )
        )
        progress.turns += 1
        progress.usage = progress.usage + reply.usage
        progress.text = reply.text
        progress.model = reply.model or progress.model
        if not reply.tool_calls:
            return reply.text
        messages.append(AssistantMessage(reply.text, reply.tool_calls))
        results = [await _call(by_name, call, context, progress) for call in reply.tool_calls]
        messages.append(ToolResultsMessage(tuple(results)))
    raise AttemptFailed(
        FailureKind.TURN_LIMIT,
        f"the model was still calling tools after {max_turns} turns (BACKBEAT_MAX_TURNS)",
        name="TurnLimitReached",
    )


async def _call(
    by_name: dict[str, Tool], call: ToolCall, context: ToolContext, progress: Progress
) -> ToolResult:
    tool = by_name.get(call.name)
    try:
        if tool is None:
            raise ToolError(f"there is no tool named {call.name!r}")
        content = await tool(context, call.arguments)
        is_error = False
    except ToolError as exc:
        content, is_error = f"error: {exc}", True
    progress.tool_calls.append(
        {
            "name": call.name,
            "arguments": _printable(call.arguments),
            "is_error": is_error,
            "result": content[:RESULT_PREVIEW],
        }
    )
    return ToolResult(call.id, content, is_error)


def _printable(arguments: dict[str, Any]) -> dict[str, Any]:
    """Arguments as JSON can keep them (a model may send anything)."""
    try:
        json.dumps(arguments)
    except (TypeError, ValueError):
        return {"_repr": repr(arguments)[:RESULT_PREVIEW]}
    return arguments
