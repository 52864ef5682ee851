"""A run's cost cap, kept before each model call (domain.agent_settings.RunBudget): a provider
wrapper that prices the next call at its most (its input as sent, its output at the most it
may write) and refuses it, with BudgetExceeded, when it could take the run past the cap. The
tool loop and the report's verdict call both go through it, so every call counts."""

from __future__ import annotations

import json
import math
from collections.abc import Callable

from backbeat.agents.base import (
    AssistantMessage,
    ModelProvider,
    ModelReply,
    ModelRequest,
    ToolResultsMessage,
    Usage,
    UserMessage,
)
from backbeat.agents.pricing import cost_in_cents
from backbeat.agents.routing import Route
from backbeat.domain.agent_settings import RunBudget

# Characters per token, on the low side (English prose runs near 4, code and other scripts
# lower): the estimate of a call's input errs towards stopping early, never late.
CHARS_PER_TOKEN = 3


def input_tokens_at_most(request: ModelRequest) -> int:
    """A generous estimate of the request's input tokens, from its characters."""
    parts: list[str] = [request.system]
    for message in request.messages:
        if isinstance(message, UserMessage):
            parts.append(message.text)
        elif isinstance(message, AssistantMessage):
            parts.append(message.text)
            parts += [json.dumps(call.arguments) + call.name for call in message.tool_calls]
        elif isinstance(message, ToolResultsMessage):
            parts += [result.content for result in message.results]
    parts += [json.dumps(spec.parameters) + spec.name + spec.description for spec in request.tools]
    return math.ceil(sum(len(part) for part in parts) / CHARS_PER_TOKEN) + 16 * len(parts)


class BudgetedProvider:
    """`provider`, refusing a call that could take the run past its budget. `spent` answers
    the run's cost so far in cents (None when its price is unknown)."""

    def __init__(
        self,
        provider: ModelProvider,
        route: Route,
        budget: RunBudget,
        spent: Callable[[], float | None],
    ) -> None:
        self._provider = provider
        self._route = route
        self._budget = budget
        self._spent = spent
        self.name = provider.name
        # The conversation so far: its last call's system prompt, estimate and counted input.
        self._last: tuple[str, int, int] | None = None

    async def complete(self, request: ModelRequest) -> ModelReply:
        estimate = input_tokens_at_most(request)
        tokens = estimate
        if self._last is not None and self._last[0] == request.system:
            # The next turn of one conversation sends all the last one did and more: never
            # less than the input the provider counted then, plus what was added.
            _, last_estimate, last_counted = self._last
            tokens = max(estimate, last_counted + max(0, estimate - last_estimate))
        next_call = cost_in_cents(self._route, Usage(tokens, request.max_output_tokens, 1))
        spent = self._spent()
        self._budget.check(0.0 if spent is None else spent, None if spent is None else next_call)
        reply = await self._provider.complete(request)
        self._last = (request.system, estimate, reply.usage.input_tokens)
        return reply

    async def aclose(self) -> None:
        """Nothing: the provider is shared by the worker's runs, which closes it."""
