"""Anthropic's Messages API behind `ModelProvider`, with the official SDK (which never retries).

Also home, for now, of the HTTP failure mapping both SDK providers share
(`failure_for_status`, `retry_after_from_headers`): status code and headers in, an
`AttemptFailed` with the right `FailureKind` out.
"""

from __future__ import annotations

import asyncio
import email.utils
from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import anthropic
from anthropic.types import Message as AnthropicMessage

from backbeat.agents.base import (
    AssistantMessage,
    Message,
    ModelReply,
    ModelRequest,
    RateLimited,
    StopReason,
    ToolCall,
    Usage,
    UserMessage,
    rate_limit_headers,
)
from backbeat.domain.failures import AttemptFailed, FailureKind

DEFAULT_BASE_URL = "https://api.anthropic.com"
_MAX_MESSAGE = 500  # characters of a provider's error message we keep

_STOP_REASONS: dict[str, StopReason] = {
    "end_turn": "end_turn",
    "tool_use": "tool_use",
    "max_tokens": "max_tokens",
    "model_context_window_exceeded": "max_tokens",
}


class AnthropicProvider:
    """Claude through the Messages API. Use one instance per event loop; close it with aclose()."""

    name = "anthropic"

    def __init__(self, api_key: str, base_url: str | None = None) -> None:
        self._api_key = api_key
        self._custom_url = base_url is not None
        # base_url is always explicit, so ANTHROPIC_BASE_URL in the environment is not consulted:
        # Backbeat's settings are the one place that says where requests go.
        self._client = anthropic.AsyncAnthropic(
            api_key=api_key, base_url=base_url or DEFAULT_BASE_URL, max_retries=0
        )

    async def complete(self, request: ModelRequest) -> ModelReply:
        kwargs: dict[str, Any] = {}
        if request.system:
            kwargs["system"] = request.system
        if request.tools:
            kwargs["tools"] = [
                {"name": t.name, "description": t.description, "input_schema": t.parameters}
                for t in request.tools
            ]
        try:
            async with asyncio.timeout(request.timeout_seconds):
                # The raw response, for its rate-limit headers (the limiter reads them).
                raw = await self._client.messages.with_raw_response.create(
                    model=request.model,
                    max_tokens=request.max_output_tokens,
                    messages=to_anthropic_messages(request.messages),  # type: ignore[arg-type]
                    timeout=request.timeout_seconds,
                    **kwargs,
                )
                message = await raw.parse()
        except TimeoutError:
            raise AttemptFailed(
                FailureKind.TIMEOUT,
                f"No answer from Anthropic within {request.timeout_seconds:g} s",
                name="TimeoutError",
            ) from None
        except anthropic.APIError as exc:
            raise _failure(exc, self._api_key) from exc
        try:
            if not isinstance(message, AnthropicMessage):
                raise TypeError(type(message).__name__)
            reply = from_anthropic_message(message)
        except (AttributeError, TypeError, ValueError) as exc:
            # A 200 that is not a Messages API answer: a proxy's page, a wrong base URL.
            hint = " (check BACKBEAT_ANTHROPIC_BASE_URL)" if self._custom_url else ""
            raise AttemptFailed(
                FailureKind.SERVER,
                f"Unexpected answer from Anthropic: not a Messages API response{hint}",
                name="UnexpectedResponse",
            ) from exc
        limits = rate_limit_headers(raw.headers)
        return replace(reply, limit_headers=limits) if limits else reply

    async def aclose(self) -> None:
        await self._client.close()


def to_anthropic_messages(messages: tuple[Message, ...]) -> list[dict[str, Any]]:
    """Provider-neutral messages as Messages API turns; consecutive same-role turns merge."""
    turns: list[dict[str, Any]] = []
    for message in messages:
        role, blocks = _blocks(message)
        if turns and turns[-1]["role"] == role:
            turns[-1]["content"].extend(blocks)
        else:
            turns.append({"role": role, "content": blocks})
    return turns


def _blocks(message: Message) -> tuple[str, list[dict[str, Any]]]:
    if isinstance(message, UserMessage):
        return "user", [{"type": "text", "text": message.text}]
    if isinstance(message, AssistantMessage):
        blocks: list[dict[str, Any]] = []
        if message.text:  # the API refuses empty text blocks
            blocks.append({"type": "text", "text": message.text})
        blocks.extend(
            {"type": "tool_use", "id": c.id, "name": c.name, "input": c.arguments}
            for c in message.tool_calls
        )
        return "assistant", blocks
    return "user", [
        {
            "type": "tool_result",
            "tool_use_id": r.call_id,
            "content": r.content,
            "is_error": r.is_error,
        }
        for r in message.results
    ]


def from_anthropic_message(message: AnthropicMessage) -> ModelReply:
    texts: list[str] = []
    calls: list[ToolCall] = []
    for block in message.content:
        if block.type == "text":
            texts.append(block.text)
        elif block.type == "tool_use":
            calls.append(ToolCall(id=block.id, name=block.name, arguments=dict(block.input)))
    usage = message.usage
    input_tokens = (
        usage.input_tokens
        + (usage.cache_creation_input_tokens or 0)
        + (usage.cache_read_input_tokens or 0)
    )
    return ModelReply(
        text="".join(texts),
        tool_calls=tuple(calls),
        usage=Usage(input_tokens=input_tokens, output_tokens=usage.output_tokens, requests=1),
        stop_reason=_STOP_REASONS.get(message.stop_reason or "", "other"),
        model=message.model if isinstance(message.model, str) and message.model else None,
    )


def _failure(exc: anthropic.APIError, api_key: str) -> AttemptFailed:
    name = type(exc).__name__
    if isinstance(exc, anthropic.APITimeoutError):
        return AttemptFailed(FailureKind.TIMEOUT, "No answer from Anthropic in time", name=name)
    if isinstance(exc, anthropic.APIConnectionError):
        return AttemptFailed(
            FailureKind.NETWORK, f"Could not reach Anthropic at {exc.request.url.host}", name=name
        )
    if isinstance(exc, anthropic.APIStatusError):
        return failure_for_status(
            status=529 if exc.type == "overloaded_error" else exc.status_code,
            headers=exc.response.headers,
            provider_message=exc.api_message or error_body_message(exc.body) or exc.message,
            provider="Anthropic",
            key_name="The Anthropic key",
            key_setting="BACKBEAT_ANTHROPIC_API_KEY",
            api_key=api_key,
            name=name,
        )
    # A response that did not parse (APIResponseValidationError) or another SDK surprise.
    return AttemptFailed(
        FailureKind.SERVER, redact(f"Unexpected answer from Anthropic: {exc}", api_key), name=name
    )


# --- Shared by the SDK providers --------------------------------------------------------------


def failure_for_status(
    *,
    status: int,
    headers: Mapping[str, str],
    provider_message: str,
    provider: str,
    key_name: str,
    key_setting: str,
    api_key: str | None,
    name: str,
) -> AttemptFailed:
    """The AttemptFailed for an HTTP error status from a model provider.

    429 → RATE_LIMITED (with Retry-After), 408 → TIMEOUT, 401/403 → AUTH (our own message,
    naming the setting; never the provider's, which may quote part of the key), 5xx and 529
    → SERVER, any other 4xx → BAD_REQUEST with the provider's message. `provider` is how a
    sentence names it ("Anthropic", "the OpenAI-compatible endpoint"); `key_name` starts one
    ("The Anthropic key").
    """
    detail = redact(provider_message, api_key)[:_MAX_MESSAGE]
    if status == 429:
        return RateLimited(
            f"Rate limited by {provider} (429): {detail}",
            name=name,
            retry_after=retry_after_from_headers(headers),
            limit_headers=rate_limit_headers(headers),
        )
    if status in (401, 403):
        return AttemptFailed(
            FailureKind.AUTH, f"{key_name} was refused ({status}): check {key_setting}", name=name
        )
    if status == 408:
        return AttemptFailed(FailureKind.TIMEOUT, f"{provider} timed out (408)", name=name)
    if status >= 500:
        return AttemptFailed(
            FailureKind.SERVER,
            f"Server error from {provider} ({status}): {detail}",
            name=name,
            retry_after=retry_after_from_headers(headers),
        )
    return AttemptFailed(
        FailureKind.BAD_REQUEST, f"Request refused by {provider} ({status}): {detail}", name=name
    )


def retry_after_from_headers(
    headers: Mapping[str, str], *, now: datetime | None = None
) -> timedelta | None:
    """`retry-after-ms`, else `retry-after` in seconds or as an HTTP date; None if absent."""
    milliseconds = _number(headers.get("retry-after-ms"))
    if milliseconds is not None:
        return timedelta(milliseconds=max(0.0, milliseconds))
    value = headers.get("retry-after")
    if value is None:
        return None
    seconds = _number(value)
    if seconds is not None:
        return timedelta(seconds=max(0.0, seconds))
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:  # "-0000" dates are UTC by definition
        when = when.replace(tzinfo=UTC)
    return max(timedelta(0), when - (now or datetime.now(UTC)))


def _number(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        number = float(value)
    except ValueError:
        return None
    return number if number == number and number not in (float("inf"), float("-inf")) else None


def redact(text: str, api_key: str | None) -> str:
    """The text with the key, should a provider ever echo it, replaced."""
    if api_key and len(api_key) >= 8 and api_key in text:
        text = text.replace(api_key, "[redacted]")
    return text


def error_body_message(body: object) -> str | None:
    """`message` (or `error.message`) from an error body, or a plain-text body."""
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict) and isinstance(inner.get("message"), str):
            return str(inner["message"])
        if isinstance(inner, str):
            return inner
        return None
    if isinstance(body, str) and body.strip():
        return body.strip()
    return None
