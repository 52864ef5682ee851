"""OpenAI Chat Completions behind `ModelProvider`: OpenAI itself, or any OpenAI-compatible
endpoint (a model gateway, Ollama, vLLM, llama.cpp server) under the name "compatible".

The official SDK does the HTTP, with its retries off: the worker's retry policy decides.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from dataclasses import replace
from typing import Any, Literal

import openai
from openai.types.chat import ChatCompletion, ChatCompletionMessageCustomToolCall

from backbeat.agents.anthropic import error_body_message, failure_for_status, redact
from backbeat.agents.base import (
    AssistantMessage,
    Message,
    ModelReply,
    ModelRequest,
    StopReason,
    ToolCall,
    ToolResultsMessage,
    Usage,
    UserMessage,
    rate_limit_headers,
)
from backbeat.domain.failures import AttemptFailed, FailureKind

DEFAULT_BASE_URL = "https://api.openai.com/v1"
PLACEHOLDER_KEY = "not-needed"  # local servers (Ollama, llama.cpp) ignore the key

_KEY_SETTINGS = {"openai": "BACKBEAT_OPENAI_API_KEY", "compatible": "BACKBEAT_COMPATIBLE_API_KEY"}
_URL_SETTINGS = {"openai": "BACKBEAT_OPENAI_BASE_URL", "compatible": "BACKBEAT_COMPATIBLE_BASE_URL"}
_LABELS = {"openai": "OpenAI", "compatible": "the OpenAI-compatible endpoint"}
_KEY_NAMES = {
    "openai": "The OpenAI key",
    "compatible": "The key for the OpenAI-compatible endpoint",
}
_STOP_REASONS: dict[str, StopReason] = {
    "stop": "end_turn",
    "tool_calls": "tool_use",
    "function_call": "tool_use",
    "length": "max_tokens",
}


class OpenAIProvider:
    """Chat Completions with function calling. One instance per event loop; aclose() it."""

    def __init__(
        self,
        api_key: str | None,
        base_url: str | None = None,
        name: Literal["openai", "compatible"] = "openai",
    ) -> None:
        self.name: str = name
        self._api_key = api_key
        self._label = _LABELS[name]
        self._key_name = _KEY_NAMES[name]
        self._key_setting = _KEY_SETTINGS[name]
        self._url_hint = f" (check {_URL_SETTINGS[name]})" if base_url else ""
        # base_url is always explicit, so OPENAI_BASE_URL in the environment is not consulted.
        self._client = openai.AsyncOpenAI(
            api_key=api_key or PLACEHOLDER_KEY,
            base_url=base_url or DEFAULT_BASE_URL,
            max_retries=0,
        )

    async def complete(self, request: ModelRequest) -> ModelReply:
        kwargs: dict[str, Any] = {}
        if request.tools:
            kwargs["tools"] = [
                {
                    "type": "function",
                    "function": {
                        "name": t.name,
                        "description": t.description,
                        "parameters": t.parameters,
                    },
                }
                for t in request.tools
            ]
            # OpenAI's default when tools are offered, but not every compatible server's:
            # llama-cpp-python's takes a missing tool_choice as "none" and hides the tools.
            kwargs["tool_choice"] = "auto"
        # OpenAI's newer models refuse `max_tokens`; many compatible servers only know it.
        if self.name == "openai":
            kwargs["max_completion_tokens"] = request.max_output_tokens
        else:
            kwargs["max_tokens"] = request.max_output_tokens
        try:
            async with asyncio.timeout(request.timeout_seconds):
                # The raw response, for its rate-limit headers (the limiter reads them).
                raw = await self._client.chat.completions.with_raw_response.create(
                    model=request.model,
                    messages=to_openai_messages(request.system, request.messages),  # type: ignore[arg-type]
                    timeout=request.timeout_seconds,
                    **kwargs,
                )
                completion = raw.parse()
        except TimeoutError:
            raise AttemptFailed(
                FailureKind.TIMEOUT,
                f"No answer from {self._label} within {request.timeout_seconds:g} s",
                name="TimeoutError",
            ) from None
        except openai.APIError as exc:
            raise self._failure(exc) from exc
        try:
            if not isinstance(completion, ChatCompletion):
                raise TypeError(type(completion).__name__)
            reply = self._reply(completion)
        except (AttributeError, TypeError, ValueError) as exc:
            # A 200 that is not a Chat Completions answer: a proxy's page, a wrong base URL.
            raise AttemptFailed(
                FailureKind.SERVER,
                f"Unexpected answer from {self._label}: not a Chat Completions response"
                + self._url_hint,
                name="UnexpectedResponse",
            ) from exc
        limits = rate_limit_headers(raw.headers)
        return replace(reply, limit_headers=limits) if limits else reply

    async def aclose(self) -> None:
        await self._client.close()

    def _reply(self, completion: ChatCompletion) -> ModelReply:
        if not completion.choices:
            raise AttemptFailed(
                FailureKind.SERVER,
                f"No choices in the answer from {self._label}{self._url_hint}",
                name="EmptyReply",
            )
        choice = completion.choices[0]
        message = choice.message
        calls: list[ToolCall] = []
        for call in message.tool_calls or ():
            # Some compatible servers leave out the id (or the type): make one up.
            call_id = getattr(call, "id", None) or f"call_{uuid.uuid4().hex[:24]}"
            if isinstance(call, ChatCompletionMessageCustomToolCall):  # free text: as it came
                calls.append(ToolCall(call_id, call.custom.name, {"_raw": call.custom.input}))
            else:
                function = call.function
                calls.append(ToolCall(call_id, function.name, parse_arguments(function.arguments)))
        finish = str(choice.finish_reason or "")
        stop: StopReason = _STOP_REASONS.get(finish, "other")
        if calls and stop == "end_turn":  # some compatible servers say "stop" with tool calls
            stop = "tool_use"
        usage = completion.usage
        return ModelReply(
            text=message.content or message.refusal or "",
            tool_calls=tuple(calls),
            usage=Usage(
                input_tokens=(usage.prompt_tokens or 0) if usage else 0,
                output_tokens=(usage.completion_tokens or 0) if usage else 0,
                requests=1,
            ),
            stop_reason=stop,
            model=_served_model(completion),
        )

    def _failure(self, exc: openai.APIError) -> AttemptFailed:
        name = type(exc).__name__
        if isinstance(exc, openai.APITimeoutError):
            return AttemptFailed(
                FailureKind.TIMEOUT, f"No answer from {self._label} in time", name=name
            )
        if isinstance(exc, openai.APIConnectionError):
            return AttemptFailed(
                FailureKind.NETWORK,
                f"Could not reach {self._label} at {exc.request.url.host}",
                name=name,
            )
        if isinstance(exc, openai.APIStatusError):
            return failure_for_status(
                status=exc.status_code,
                headers=exc.response.headers,
                provider_message=error_body_message(exc.body) or exc.message,
                provider=self._label,
                key_name=self._key_name,
                key_setting=self._key_setting,
                api_key=self._api_key,
                name=name,
            )
        return AttemptFailed(
            FailureKind.SERVER,
            redact(f"Unexpected answer from {self._label}: {exc}", self._api_key),
            name=name,
        )


def to_openai_messages(system: str, messages: tuple[Message, ...]) -> list[dict[str, Any]]:
    """The system prompt and provider-neutral messages as Chat Completions messages."""
    out: list[dict[str, Any]] = []
    if system:
        out.append({"role": "system", "content": system})
    for message in messages:
        if isinstance(message, UserMessage):
            out.append({"role": "user", "content": message.text})
        elif isinstance(message, AssistantMessage):
            # Never null: llama-cpp-python's server answers 500 to an assistant message whose
            # content is null (the usual shape of one that only calls tools).
            turn: dict[str, Any] = {"role": "assistant", "content": message.text}
            if message.tool_calls:
                turn["tool_calls"] = [
                    {
                        "id": c.id,
                        "type": "function",
                        "function": {"name": c.name, "arguments": json.dumps(c.arguments)},
                    }
                    for c in message.tool_calls
                ]
            out.append(turn)
        elif isinstance(message, ToolResultsMessage):
            out.extend(
                {
                    "role": "tool",
                    "tool_call_id": r.call_id,
                    # Chat Completions has no error flag: say it in the content.
                    "content": f"Error: {r.content}" if r.is_error else r.content,
                }
                for r in message.results
            )
    return out


def _served_model(completion: ChatCompletion) -> str | None:
    model = getattr(completion, "model", None)  # some compatible servers leave it out
    return (model.strip() or None) if isinstance(model, str) else None


def parse_arguments(text: str | None) -> dict[str, Any]:
    """A tool call's JSON arguments; {"_raw": text} when they are not a JSON object.

    Models do emit broken JSON now and then; the tool loop reports it back to the model
    instead of the attempt crashing here.
    """
    if text is None or not text.strip():
        return {}
    try:
        value = json.loads(text)
    except ValueError:
        return {"_raw": text}
    return value if isinstance(value, dict) else {"_raw": text}
