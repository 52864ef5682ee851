"""An in-process model provider that answers from a script: for tests of the worker's logic
(the real providers are tested over HTTP against backbeat.testing.fake_models)."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from backbeat.agents.base import ModelReply, ModelRequest, ToolCall, Usage
from backbeat.domain.failures import AttemptFailed

Step = ModelReply | AttemptFailed | Callable[[ModelRequest], Awaitable[ModelReply]]


@dataclass(frozen=True, slots=True)
class Slow:
    """Wait this long, then give `then` (or the default reply)."""

    seconds: float
    then: ModelReply | AttemptFailed | None = None


def reply(text: str, *, tokens: tuple[int, int] = (100, 20)) -> ModelReply:
    return ModelReply(text=text, usage=Usage(tokens[0], tokens[1], 1))


def tool_call(name: str, arguments: dict[str, object], call_id: str = "call_1") -> ModelReply:
    return ModelReply(
        text="",
        tool_calls=(ToolCall(call_id, name, dict(arguments)),),
        usage=Usage(100, 20, 1),
        stop_reason="tool_use",
    )


class ScriptedProvider:
    """Each request takes the next step of the script; when it runs out, `default` answers."""

    name = "fake"

    def __init__(self, *steps: Step | Slow, default: ModelReply | None = None) -> None:
        self._steps: deque[Step | Slow] = deque(steps)
        self._default = default or reply("done")
        self.requests: list[ModelRequest] = []
        self.closed = False

    def script(self, *steps: Step | Slow) -> None:
        self._steps.extend(steps)

    async def complete(self, request: ModelRequest) -> ModelReply:
        self.requests.append(request)
        step = self._steps.popleft() if self._steps else self._default
        if isinstance(step, Slow):
            await asyncio.sleep(step.seconds)
            step = step.then or self._default
        if isinstance(step, AttemptFailed):
            raise step
        if isinstance(step, ModelReply):
            return step
        return await step(request)

    async def aclose(self) -> None:
        self.closed = True
