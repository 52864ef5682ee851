"""The one interface every model provider implements, in provider-neutral terms.

A provider turns a `ModelRequest` (system prompt, conversation, tool schemas) into one
`ModelReply` (text, tool calls, token usage, the model that answered). It never retries: on
failure it raises `AttemptFailed` with the right `FailureKind` (and `retry_after` when the
provider said), and the worker's retry policy decides. The tool loop (agents/loop.py) calls
it turn by turn.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, Protocol


@dataclass(frozen=True, slots=True)
class ToolSpec:
    name: str
    description: str
    parameters: dict[str, Any]  # JSON Schema of the arguments object


@dataclass(frozen=True, slots=True)
class ToolCall:
    id: str
    name: str
    arguments: dict[str, Any]


@dataclass(frozen=True, slots=True)
class ToolResult:
    call_id: str
    content: str
    is_error: bool = False


@dataclass(frozen=True, slots=True)
class UserMessage:
    text: str


@dataclass(frozen=True, slots=True)
class AssistantMessage:
    text: str
    tool_calls: tuple[ToolCall, ...] = ()


@dataclass(frozen=True, slots=True)
class ToolResultsMessage:
    results: tuple[ToolResult, ...]


Message = UserMessage | AssistantMessage | ToolResultsMessage


@dataclass(frozen=True, slots=True)
class Usage:
    input_tokens: int = 0
    output_tokens: int = 0
    requests: int = 0

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            self.input_tokens + other.input_tokens,
            self.output_tokens + other.output_tokens,
            self.requests + other.requests,
        )


@dataclass(frozen=True, slots=True)
class ModelRequest:
    model: str  # the provider's own model name
    system: str
    messages: tuple[Message, ...]
    tools: tuple[ToolSpec, ...] = ()
    max_output_tokens: int = 4096
    timeout_seconds: float = 120.0


StopReason = Literal["end_turn", "tool_use", "max_tokens", "other"]


@dataclass(frozen=True, slots=True)
class ModelReply:
    text: str
    tool_calls: tuple[ToolCall, ...] = ()
    usage: Usage = field(default_factory=Usage)
    stop_reason: StopReason = "end_turn"
    # The model the server says answered (`model` in its reply): a gateway or a local server
    # may serve another model than the one asked for. None when the reply did not say.
    model: str | None = None


class ModelProvider(Protocol):
    """One provider (Anthropic, OpenAI, an OpenAI-compatible endpoint, a fake)."""

    name: str  # "anthropic", "openai", "compatible", "fake"

    async def complete(self, request: ModelRequest) -> ModelReply:
        """One model turn. Raises AttemptFailed (never retries)."""
        ...

    async def aclose(self) -> None: ...
