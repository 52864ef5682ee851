"""The one interface every model provider implements, in provider-neutral terms.

A provider turns a `ModelRequest` (system prompt, conversation, tool schemas) into one
`ModelReply` (text, tool calls, token usage, the model that answered). It never retries: on
failure it raises `AttemptFailed` with the right `FailureKind` (and `retry_after` when the
provider said), and the worker's retry policy decides. The tool loop (agents/loop.py) calls
it turn by turn.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Literal, Protocol

from backbeat.domain.failures import AttemptFailed, FailureKind


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
    # The provider's rate-limit headers on this answer (`rate_limit_headers`), for the limiter
    # in front of the provider (agents/limits.py). Empty when the answer carried none.
    limit_headers: Mapping[str, str] = field(default_factory=dict)


_LIMIT_PREFIXES = ("anthropic-ratelimit-", "x-ratelimit-", "retry-after")


def rate_limit_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """The rate-limit headers of an answer (Anthropic's `anthropic-ratelimit-*`, OpenAI's
    `x-ratelimit-*`, `retry-after` and `retry-after-ms`), names in lower case."""
    return {
        name.lower(): value
        for name, value in headers.items()
        if name.lower().startswith(_LIMIT_PREFIXES)
    }


class RateLimited(AttemptFailed):
    """A 429: an AttemptFailed of kind RATE_LIMITED that also carries the answer's rate-limit
    headers, so the limiter in front of the provider can hold the next calls back."""

    def __init__(
        self,
        message: str,
        *,
        name: str | None = None,
        retry_after: timedelta | None = None,
        limit_headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(FailureKind.RATE_LIMITED, message, name=name, retry_after=retry_after)
        self.limit_headers: Mapping[str, str] = dict(limit_headers or {})


class ModelProvider(Protocol):
    """One provider (Anthropic, OpenAI, an OpenAI-compatible endpoint, a fake)."""

    name: str  # "anthropic", "openai", "compatible", "fake"

    async def complete(self, request: ModelRequest) -> ModelReply:
        """One model turn. Raises AttemptFailed (never retries)."""
        ...

    async def aclose(self) -> None: ...
