"""The real OpenAIProvider (official SDK) against the fake model server, over loopback: as
OpenAI itself and as an OpenAI-compatible endpoint. Also the fake server's per-model scripts
and its life as a separate process."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from datetime import timedelta
from typing import Any, Literal

import pytest

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
from backbeat.agents.openai import OpenAIProvider, parse_arguments
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

KEY = "sk-proj-test-0123456789abcdef"
MODEL = "gpt-5-mini"
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


def complete(
    base_url: str,
    *requests: ModelRequest,
    key: str | None = KEY,
    name: Literal["openai", "compatible"] = "openai",
) -> list[ModelReply]:
    async def run() -> list[ModelReply]:
        provider = OpenAIProvider(key, base_url=base_url, name=name)
        try:
            return [await provider.complete(r) for r in requests]
        finally:
            await provider.aclose()

    return asyncio.run(run())


def failure(server: FakeModelServer, *items: ScriptItem, **fields: Any) -> AttemptFailed:
    server.script(*items)
    with pytest.raises(AttemptFailed) as caught:
        complete(server.url_openai, request(**fields))
    return caught.value


def test_plain_text_reply(server: FakeModelServer) -> None:
    server.script(Reply("Streams are up 12%.", input_tokens=120, output_tokens=30))

    [reply] = complete(server.url_openai, request())

    assert reply == ModelReply(
        text="Streams are up 12%.",
        usage=Usage(input_tokens=120, output_tokens=30, requests=1),
        stop_reason="end_turn",
    )
    [seen] = server.requests
    assert seen.path == "/v1/chat/completions"
    assert seen.body == {
        "model": MODEL,
        "max_completion_tokens": 4096,
        "messages": [
            {"role": "system", "content": "You write weekly reports for music teams."},
            {"role": "user", "content": "How did the release do?"},
        ],
    }
    assert seen.headers["authorization"] == f"Bearer {KEY}"
    assert seen.headers["x-stainless-retry-count"] == "0"


def test_compatible_endpoint_without_a_key(server: FakeModelServer) -> None:
    server.script(Reply("ok"))
    [reply] = complete(server.url_openai, request(model="llama3.2"), key=None, name="compatible")
    assert reply.text == "ok"
    seen = server.requests[0]
    assert seen.headers["authorization"] == "Bearer not-needed"
    assert seen.body["max_tokens"] == 4096  # what Ollama, vLLM and llama.cpp understand
    assert "max_completion_tokens" not in seen.body


def test_tool_call_round_trip(server: FakeModelServer) -> None:
    server.script(
        ToolCallReply("fetch_web_page", {"url": "https://example.com"}, id="call_1"),
        Reply("Final report.", input_tokens=200, output_tokens=10),
    )
    [call_reply] = complete(server.url_openai, request(UserMessage("Check."), tools=(FETCH,)))
    assert call_reply.tool_calls == (
        ToolCall(id="call_1", name="fetch_web_page", arguments={"url": "https://example.com"}),
    )
    assert call_reply.text == ""
    assert call_reply.stop_reason == "tool_use"

    second = request(
        UserMessage("Check."),
        AssistantMessage("", call_reply.tool_calls),
        ToolResultsMessage(
            (ToolResult("call_1", "<h1>Example</h1>"), ToolResult("call_0", "404", is_error=True))
        ),
        tools=(FETCH,),
    )
    [final] = complete(server.url_openai, second)
    assert final.text == "Final report."
    assert final.usage == Usage(200, 10, 1)

    body = server.requests[1].body
    assert body["tools"] == [
        {
            "type": "function",
            "function": {
                "name": "fetch_web_page",
                "description": "Fetch a web page.",
                "parameters": FETCH.parameters,
            },
        }
    ]
    assert body["messages"][1:] == [
        {"role": "user", "content": "Check."},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {
                        "name": "fetch_web_page",
                        "arguments": '{"url": "https://example.com"}',
                    },
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "<h1>Example</h1>"},
        {"role": "tool", "tool_call_id": "call_0", "content": "Error: 404"},
    ]


def test_text_and_several_tool_calls(server: FakeModelServer) -> None:
    server.script(
        Reply("Two lookups.", tool_calls=(ToolCallReply("a", {"n": 1}), ToolCallReply("b", {}))),
    )
    [reply] = complete(server.url_openai, request(tools=(FETCH,)))
    assert reply.text == "Two lookups."
    assert [(c.name, c.arguments) for c in reply.tool_calls] == [("a", {"n": 1}), ("b", {})]


@pytest.mark.parametrize(
    ("raw", "arguments"),
    [
        ('{"url": "https://exa', {"_raw": '{"url": "https://exa'}),
        ("[1, 2]", {"_raw": "[1, 2]"}),
        ("null", {"_raw": "null"}),
        ("", {}),
        ('{"n": 1}', {"n": 1}),
    ],
)
def test_malformed_tool_call_json_does_not_crash(
    server: FakeModelServer, raw: str, arguments: dict[str, Any]
) -> None:
    server.script(ToolCallReply("fetch_web_page", raw))
    [reply] = complete(server.url_openai, request(tools=(FETCH,)))
    assert reply.tool_calls[0].name == "fetch_web_page"
    assert reply.tool_calls[0].arguments == arguments


def test_parse_arguments() -> None:
    assert parse_arguments(None) == {}
    assert parse_arguments("  ") == {}
    assert parse_arguments('"text"') == {"_raw": '"text"'}


@pytest.mark.parametrize(
    ("item", "expected"),
    [
        (Reply("cut", stop_reason="max_tokens"), "max_tokens"),  # finish_reason "length"
        (Reply("", stop_reason="content_filter"), "other"),
        # Some compatible servers say "stop" although the model called a tool.
        (Reply(tool_calls=(ToolCallReply("a"),), stop_reason="end_turn"), "tool_use"),
    ],
)
def test_finish_reasons(server: FakeModelServer, item: ScriptItem, expected: str) -> None:
    server.script(item)
    [reply] = complete(server.url_openai, request())
    assert reply.stop_reason == expected


def test_a_lenient_server_without_ids_types_or_usage(server: FakeModelServer) -> None:
    # What some OpenAI-compatible servers send: no tool call id or type, no usage.
    server.script(
        RawReply(
            {
                "id": "x",
                "object": "chat.completion",
                "created": 0,
                "model": "llama3.2",
                "choices": [
                    {
                        "index": 0,
                        "finish_reason": "stop",
                        "message": {
                            "role": "assistant",
                            "content": "",
                            "tool_calls": [{"function": {"name": "a", "arguments": '{"n": 1}'}}],
                        },
                    }
                ],
            }
        )
    )
    [reply] = complete(server.url_openai, request(model="llama3.2"), key=None, name="compatible")
    [call] = reply.tool_calls
    assert (call.name, call.arguments) == ("a", {"n": 1})
    assert call.id.startswith("call_")
    assert reply.usage == Usage(0, 0, 1)
    assert reply.stop_reason == "tool_use"


@pytest.mark.parametrize("body", ["<html>Sign in</html>", {"unexpected": True}])
def test_a_200_that_is_not_a_completion_is_a_server_failure(
    server: FakeModelServer, body: str | dict[str, Any]
) -> None:
    server.script(RawReply(body))
    with pytest.raises(AttemptFailed) as caught:
        complete(server.url_openai, request(), name="compatible")
    assert caught.value.kind is FailureKind.SERVER
    assert "BACKBEAT_COMPATIBLE_BASE_URL" in caught.value.message


def test_no_choices_is_a_server_failure(server: FakeModelServer) -> None:
    body = {"id": "x", "object": "chat.completion", "created": 0, "model": MODEL, "choices": []}
    failed = failure(server, RawReply(body))
    assert failed.kind is FailureKind.SERVER


def test_429_with_retry_after_seconds_is_rate_limited(server: FakeModelServer) -> None:
    failed = failure(server, ErrorReply(429, retry_after=7))
    assert failed.kind is FailureKind.RATE_LIMITED
    assert failed.retry_after == timedelta(seconds=7)
    assert "Rate limit exceeded" in failed.message


def test_429_with_retry_after_as_http_date(server: FakeModelServer) -> None:
    failed = failure(server, ErrorReply(429, retry_after=http_date(30)))
    assert failed.kind is FailureKind.RATE_LIMITED
    assert failed.retry_after is not None
    assert timedelta(seconds=27) <= failed.retry_after <= timedelta(seconds=30)


def test_429_with_retry_after_ms(server: FakeModelServer) -> None:
    failed = failure(server, ErrorReply(429, retry_after_ms=250))
    assert failed.retry_after == timedelta(milliseconds=250)


@pytest.mark.parametrize(
    ("item", "kind"),
    [
        (ErrorReply(500), FailureKind.SERVER),
        (ErrorReply(529), FailureKind.SERVER),
        (ErrorReply(503), FailureKind.SERVER),
        (ErrorReply(502, body="Bad gateway"), FailureKind.SERVER),
        (ErrorReply(408), FailureKind.TIMEOUT),
        (ErrorReply(404), FailureKind.BAD_REQUEST),
        (ErrorReply(422), FailureKind.BAD_REQUEST),
        (ErrorReply(409), FailureKind.BAD_REQUEST),
        (Disconnect(), FailureKind.NETWORK),
    ],
)
def test_error_kinds(server: FakeModelServer, item: ScriptItem, kind: FailureKind) -> None:
    failed = failure(server, item)
    assert failed.kind is kind
    assert KEY not in failed.message


@pytest.mark.parametrize("status", [401, 403])
def test_refused_key_is_auth_and_names_the_setting(server: FakeModelServer, status: int) -> None:
    # Real OpenAI quotes part of the key in its 401 message; we never pass it on.
    failed = failure(server, ErrorReply(status, message=f"Incorrect API key provided: {KEY}"))
    assert failed.kind is FailureKind.AUTH
    assert "OpenAI key was refused" in failed.message
    assert "BACKBEAT_OPENAI_API_KEY" in failed.message
    assert KEY not in failed.message
    assert "Incorrect API key" not in failed.message


def test_refused_key_of_a_compatible_endpoint_names_its_setting(server: FakeModelServer) -> None:
    server.script(ErrorReply(401))
    with pytest.raises(AttemptFailed) as caught:
        complete(server.url_openai, request(), key="gw-key-123456789", name="compatible")
    assert caught.value.kind is FailureKind.AUTH
    assert "BACKBEAT_COMPATIBLE_API_KEY" in caught.value.message


def test_400_is_bad_request_with_the_providers_message(server: FakeModelServer) -> None:
    failed = failure(server, ErrorReply(400, message="Unsupported parameter: 'max_tokens'"))
    assert failed.kind is FailureKind.BAD_REQUEST
    assert "Unsupported parameter: 'max_tokens'" in failed.message


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
        complete(f"http://127.0.0.1:{port}/v1", request())
    assert caught.value.kind is FailureKind.NETWORK
    assert "127.0.0.1" in caught.value.message


# --- The fake server's scripting, through the real provider ----------------------------------


def test_scripts_per_model_serve_concurrent_callers(server: FakeModelServer) -> None:
    server.script(ErrorReply(429, retry_after=1), model="model-a")
    server.script(Delay(0.2), Reply("b answers"), model="model-b")
    server.script(Reply("shared"))
    server.always(Reply("a, from then on"), model="model-a")

    async def run() -> tuple[ModelReply | BaseException, ModelReply | BaseException]:
        provider = OpenAIProvider(KEY, base_url=server.url_openai)
        try:
            return await asyncio.gather(
                provider.complete(request(model="model-a")),
                provider.complete(request(model="model-b")),
                return_exceptions=True,
            )
        finally:
            await provider.aclose()

    a, b = asyncio.run(run())
    assert isinstance(a, AttemptFailed)
    assert a.kind is FailureKind.RATE_LIMITED
    assert isinstance(b, ModelReply)
    assert b.text == "b answers"
    assert server.pending == 1  # "shared" is left for any model

    replies = complete(
        server.url_openai, request(model="model-a"), request(model="model-a"), request()
    )
    assert [r.text for r in replies] == [
        "shared",
        "a, from then on",
        "Report: How did the release do?",
    ]
    assert [r.model for r in server.requests_for("model-a")] == ["model-a"] * 3

    server.reset()
    assert server.requests == []
    assert server.pending == 0


def test_a_responder_function_sees_the_request(server: FakeModelServer) -> None:
    server.always(lambda seen: Reply(f"{len(seen.messages)} messages, {seen.system}"))
    [reply] = complete(server.url_openai, request(system="be brief"))
    assert reply.text == "2 messages, be brief"


def test_the_fake_server_as_a_process() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "backbeat.testing.fake_models", "--port", "0", "--reply", "pong"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert process.stdout is not None
        url = process.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:")

        script = {"items": [{"type": "error", "status": 429, "retry_after": 2}]}
        control = urllib.request.Request(
            f"{url}/_control/script",
            data=json.dumps(script).encode(),
            headers={"content-type": "application/json"},
        )
        with urllib.request.urlopen(control, timeout=5) as answer:
            assert json.load(answer) == {"ok": True, "pending": 1}

        with pytest.raises(AttemptFailed) as caught:
            complete(f"{url}/v1", request())
        assert caught.value.kind is FailureKind.RATE_LIMITED
        assert caught.value.retry_after == timedelta(seconds=2)
        [reply] = complete(f"{url}/v1", request())
        assert reply.text == "pong"

        with urllib.request.urlopen(f"{url}/_control/requests", timeout=5) as answer:
            seen = json.load(answer)
        assert [r["body"]["model"] for r in seen] == [MODEL, MODEL]
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
