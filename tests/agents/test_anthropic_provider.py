"""The real AnthropicProvider (official SDK) against the fake model server, over loopback."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from backbeat.agents.anthropic import AnthropicProvider, retry_after_from_headers
from backbeat.agents.base import (
    AssistantMessage,
    ModelReply,
    ModelRequest,
    ToolCall,
    ToolResult,
    ToolResultsMessage,
    ToolSpec,
    Usage,
    UserMessage,
)
from backbeat.domain.failures import AttemptFailed, FailureKind
from backbeat.testing.fake_models import (
    Delay,
    Disconnect,
    ErrorReply,
    FakeModelServer,
    RawReply,
    Reply,
    ScriptItem,
    ToolCallReply,
    http_date,
)

KEY = "sk-ant-test-0123456789abcdef"
MODEL = "claude-sonnet-4-6"
FETCH = ToolSpec(
    name="fetch_web_page",
    description="Fetch a web page.",
    parameters={"type": "object", "properties": {"url": {"type": "string"}}, "required": ["url"]},
)


@pytest.fixture
def server() -> Iterator[FakeModelServer]:
    with FakeModelServer() as fake:
        yield fake


def request(*messages: Any, **fields: Any) -> ModelRequest:
    fields.setdefault("model", MODEL)
    fields.setdefault("system", "You write weekly reports for music teams.")
    return ModelRequest(messages=messages or (UserMessage("How did the release do?"),), **fields)


def complete(base_url: str, *requests: ModelRequest) -> list[ModelReply]:
    async def run() -> list[ModelReply]:
        provider = AnthropicProvider(KEY, base_url=base_url)
        try:
            return [await provider.complete(r) for r in requests]
        finally:
            await provider.aclose()

    return asyncio.run(run())


def failure(server: FakeModelServer, *items: ScriptItem, **fields: Any) -> AttemptFailed:
    server.script(*items)
    with pytest.raises(AttemptFailed) as caught:
        complete(server.url_anthropic, request(**fields))
    return caught.value


def test_plain_text_reply(server: FakeModelServer) -> None:
    server.script(Reply("Streams are up 12%.", input_tokens=120, output_tokens=30))

    [reply] = complete(server.url_anthropic, request())

    assert reply == ModelReply(
        text="Streams are up 12%.",
        usage=Usage(input_tokens=120, output_tokens=30, requests=1),
        stop_reason="end_turn",
    )
    [seen] = server.requests
    assert seen.path == "/v1/messages"
    assert seen.body == {
        "model": MODEL,
        "max_tokens": 4096,
        "system": "You write weekly reports for music teams.",
        "messages": [
            {"role": "user", "content": [{"type": "text", "text": "How did the release do?"}]}
        ],
    }
    # SDK 2.x sends the key as a bearer token; older ones used x-api-key. Either is fine.
    assert seen.headers.get("authorization") == f"Bearer {KEY}" or (
        seen.headers.get("x-api-key") == KEY
    )
    assert "anthropic-version" in seen.headers
    assert seen.headers["x-stainless-retry-count"] == "0"


def test_the_default_answer_echoes_the_last_user_message(server: FakeModelServer) -> None:
    [reply] = complete(server.url_anthropic, request(UserMessage("Plan the tour  posts")))
    assert reply.text == "Report: Plan the tour posts"
    assert reply.usage.input_tokens > 0
    assert reply.usage.output_tokens > 0


def test_an_empty_system_prompt_is_left_out(server: FakeModelServer) -> None:
    complete(server.url_anthropic, request(system=""))
    assert "system" not in server.requests[0].body


def test_tool_call_round_trip(server: FakeModelServer) -> None:
    server.script(
        ToolCallReply(
            "fetch_web_page", {"url": "https://example.com"}, text="Let me look.", id="toolu_1"
        ),
        Reply("Final report.", input_tokens=200, output_tokens=10),
    )
    first = request(UserMessage("Check the site."), tools=(FETCH,))
    [call_reply] = complete(server.url_anthropic, first)
    assert call_reply.text == "Let me look."
    assert call_reply.tool_calls == (
        ToolCall(id="toolu_1", name="fetch_web_page", arguments={"url": "https://example.com"}),
    )
    assert call_reply.stop_reason == "tool_use"

    second = request(
        UserMessage("Check the site."),
        AssistantMessage(call_reply.text, call_reply.tool_calls),
        ToolResultsMessage((ToolResult("toolu_1", "<h1>Example</h1>"),)),
        tools=(FETCH,),
    )
    [final] = complete(server.url_anthropic, second)
    assert final.text == "Final report."
    assert final.tool_calls == ()
    assert final.usage == Usage(200, 10, 1)

    body = server.requests[1].body
    assert body["tools"] == [
        {
            "name": "fetch_web_page",
            "description": "Fetch a web page.",
            "input_schema": FETCH.parameters,
        }
    ]
    assert body["messages"] == [
        {"role": "user", "content": [{"type": "text", "text": "Check the site."}]},
        {
            "role": "assistant",
            "content": [
                {"type": "text", "text": "Let me look."},
                {
                    "type": "tool_use",
                    "id": "toolu_1",
                    "name": "fetch_web_page",
                    "input": {"url": "https://example.com"},
                },
            ],
        },
        {
            "role": "user",
            "content": [
                {
                    "type": "tool_result",
                    "tool_use_id": "toolu_1",
                    "content": "<h1>Example</h1>",
                    "is_error": False,
                }
            ],
        },
    ]


def test_parallel_tool_calls_and_an_error_result(server: FakeModelServer) -> None:
    server.script(
        Reply(tool_calls=(ToolCallReply("a", {"n": 1}), ToolCallReply("b", {"n": 2}))),
    )
    [reply] = complete(server.url_anthropic, request(tools=(FETCH,)))
    assert [(c.name, c.arguments) for c in reply.tool_calls] == [("a", {"n": 1}), ("b", {"n": 2})]
    assert reply.text == ""
    a, b = reply.tool_calls
    assert a.id != b.id

    complete(
        server.url_anthropic,
        request(
            UserMessage("Go."),
            AssistantMessage("", reply.tool_calls),
            ToolResultsMessage((ToolResult(a.id, "ok"), ToolResult(b.id, "boom", is_error=True))),
            UserMessage("Also: keep it short."),
        ),
    )
    messages = server.requests[1].messages
    # No empty text block for the assistant; the tool results and the next user text merge
    # into one user turn.
    assert [block["type"] for block in messages[1]["content"]] == ["tool_use", "tool_use"]
    assert messages[2] == {
        "role": "user",
        "content": [
            {"type": "tool_result", "tool_use_id": a.id, "content": "ok", "is_error": False},
            {"type": "tool_result", "tool_use_id": b.id, "content": "boom", "is_error": True},
            {"type": "text", "text": "Also: keep it short."},
        ],
    }
    assert len(messages) == 3


@pytest.mark.parametrize(
    ("stop", "expected"),
    [("max_tokens", "max_tokens"), ("refusal", "other"), ("pause_turn", "other")],
)
def test_stop_reasons(server: FakeModelServer, stop: str, expected: str) -> None:
    server.script(Reply("partial", stop_reason=stop))
    [reply] = complete(server.url_anthropic, request(max_output_tokens=5))
    assert reply.stop_reason == expected
    assert server.requests[0].body["max_tokens"] == 5


def test_429_with_retry_after_seconds_is_rate_limited(server: FakeModelServer) -> None:
    failed = failure(server, ErrorReply(429, retry_after=7))
    assert failed.kind is FailureKind.RATE_LIMITED
    assert failed.kind.retryable
    assert failed.retry_after == timedelta(seconds=7)
    assert failed.name == "RateLimitError"


def test_429_with_retry_after_as_http_date(server: FakeModelServer) -> None:
    failed = failure(server, ErrorReply(429, retry_after=http_date(30)))
    assert failed.kind is FailureKind.RATE_LIMITED
    assert failed.retry_after is not None
    assert timedelta(seconds=27) <= failed.retry_after <= timedelta(seconds=30)


def test_429_with_retry_after_ms(server: FakeModelServer) -> None:
    failed = failure(server, ErrorReply(429, retry_after_ms=1500, retry_after=9))
    assert failed.retry_after == timedelta(milliseconds=1500)


def test_429_without_retry_after(server: FakeModelServer) -> None:
    failed = failure(server, ErrorReply(429))
    assert failed.kind is FailureKind.RATE_LIMITED
    assert failed.retry_after is None


@pytest.mark.parametrize(
    ("item", "kind"),
    [
        (ErrorReply(500), FailureKind.SERVER),
        (ErrorReply(529), FailureKind.SERVER),
        (ErrorReply(503, retry_after=3), FailureKind.SERVER),
        (ErrorReply(502, body="<html>Bad gateway</html>"), FailureKind.SERVER),
        (ErrorReply(408), FailureKind.TIMEOUT),
        (ErrorReply(404), FailureKind.BAD_REQUEST),
        (ErrorReply(422), FailureKind.BAD_REQUEST),
        (ErrorReply(413), FailureKind.BAD_REQUEST),
        (Disconnect(), FailureKind.NETWORK),
    ],
)
def test_error_kinds(server: FakeModelServer, item: ScriptItem, kind: FailureKind) -> None:
    failed = failure(server, item)
    assert failed.kind is kind
    assert KEY not in failed.message


def test_529_overloaded_names_the_error(server: FakeModelServer) -> None:
    failed = failure(server, ErrorReply(529))
    assert failed.kind is FailureKind.SERVER
    assert "529" in failed.message
    assert failed.name == "OverloadedError"


@pytest.mark.parametrize("status", [401, 403])
def test_refused_key_is_auth_and_names_the_setting(server: FakeModelServer, status: int) -> None:
    failed = failure(server, ErrorReply(status, message=f"invalid x-api-key {KEY}"))
    assert failed.kind is FailureKind.AUTH
    assert not failed.kind.retryable
    assert "Anthropic key was refused" in failed.message
    assert "BACKBEAT_ANTHROPIC_API_KEY" in failed.message
    assert KEY not in failed.message
    assert KEY not in str(failed)


def test_400_is_bad_request_with_the_providers_message(server: FakeModelServer) -> None:
    failed = failure(server, ErrorReply(400, message="max_tokens: must be at most 64000"))
    assert failed.kind is FailureKind.BAD_REQUEST
    assert "max_tokens: must be at most 64000" in failed.message


def test_a_key_echoed_by_the_provider_is_redacted(server: FakeModelServer) -> None:
    failed = failure(server, ErrorReply(400, message=f"bad header value {KEY}"))
    assert KEY not in failed.message
    assert "[redacted]" in failed.message


@pytest.mark.parametrize("body", ["<html>Sign in</html>", {"unexpected": True}])
def test_a_200_that_is_not_a_message_is_a_server_failure(
    server: FakeModelServer, body: str | dict[str, Any]
) -> None:
    failed = failure(server, RawReply(body))
    assert failed.kind is FailureKind.SERVER
    assert "BACKBEAT_ANTHROPIC_BASE_URL" in failed.message


def test_slow_answer_beyond_the_request_timeout_is_timeout(server: FakeModelServer) -> None:
    started = time.monotonic()
    failed = failure(server, Delay(1.0), Reply("too late"), timeout_seconds=0.25)
    assert failed.kind is FailureKind.TIMEOUT
    assert time.monotonic() - started < 0.9


def test_connection_refused_is_network() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(AttemptFailed) as caught:
        complete(f"http://127.0.0.1:{port}", request())
    assert caught.value.kind is FailureKind.NETWORK
    assert KEY not in caught.value.message


def test_retry_after_parsing() -> None:
    assert retry_after_from_headers({}) is None
    assert retry_after_from_headers({"retry-after": "2.5"}) == timedelta(seconds=2.5)
    assert retry_after_from_headers({"retry-after": "-3"}) == timedelta(0)
    assert retry_after_from_headers({"retry-after": "soon"}) is None
    assert retry_after_from_headers({"retry-after-ms": "250"}) == timedelta(milliseconds=250)
    assert retry_after_from_headers({"retry-after-ms": "x", "retry-after": "4"}) == timedelta(
        seconds=4
    )
    now = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)
    header = {"retry-after": "Mon, 05 Jan 2026 12:01:00 GMT"}
    assert retry_after_from_headers(header, now=now) == timedelta(minutes=1)
    past = {"retry-after": "Mon, 05 Jan 2026 11:00:00 GMT"}
    assert retry_after_from_headers(past, now=now) == timedelta(0)
