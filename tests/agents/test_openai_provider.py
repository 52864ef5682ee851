"""What only the OpenAIProvider does: Chat Completions on the wire, the leniency that
OpenAI-compatible endpoints need, and the "compatible" name. What every provider does is in
test_providers.py."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from backbeat.agents.base import (
    AssistantMessage,
    ModelReply,
    ModelRequest,
    ToolCall,
    ToolResult,
    ToolResultsMessage,
    Usage,
    UserMessage,
)
from backbeat.agents.openai import OpenAIProvider, parse_arguments
from backbeat.domain.failures import AttemptFailed, FailureKind
from backbeat.testing.fake_models import (
    ErrorReply,
    FakeModelServer,
    RawReply,
    Reply,
    ToolCallReply,
)
from tests.agents.providers import FETCH, OPENAI, Api, complete_with


@pytest.fixture
def api() -> Iterator[Api]:
    with FakeModelServer() as server:
        yield Api(OPENAI, server)


def compatible(api: Api, *requests: ModelRequest, key: str | None = None) -> list[ModelReply]:
    """The requests through OpenAIProvider as an OpenAI-compatible endpoint."""
    return complete_with(OpenAIProvider(key, base_url=api.url, name="compatible"), *requests)


def test_a_plain_request_on_the_wire(api: Api) -> None:
    api.complete(api.request())
    [seen] = api.server.requests
    assert seen.body == {
        "model": OPENAI.model,
        "max_completion_tokens": 4096,
        "messages": [
            {"role": "system", "content": "You write weekly reports for music teams."},
            {"role": "user", "content": "How did the release do?"},
        ],
    }
    assert seen.headers["authorization"] == f"Bearer {OPENAI.key}"


def test_the_assistants_text_beside_tool_calls_is_sent_as_it_is(api: Api) -> None:
    call = ToolCall(id="call_1", name="fetch_web_page", arguments={})
    api.complete(
        api.request(
            UserMessage("Check."),
            AssistantMessage("Let me look.", (call,)),
            ToolResultsMessage((ToolResult("call_1", "done"),)),
            tools=(FETCH,),
        )
    )
    assistant = api.server.requests[0].body["messages"][2]
    assert (assistant["role"], assistant["content"]) == ("assistant", "Let me look.")


def test_the_model_the_server_names_is_the_replys(api: Api) -> None:
    # A local server or a gateway may answer with another model than the one asked for.
    api.server.script(Reply("ok", model="SmolLM2-135M-Instruct"), Reply("ok", model=" "))
    first, second = compatible(api, api.request(model="anthropic/claude-sonnet-4.6"), api.request())
    assert first.model == "SmolLM2-135M-Instruct"
    assert second.model is None  # a blank name says nothing


def test_compatible_endpoint_without_a_key(api: Api) -> None:
    api.server.script(Reply("ok"))
    [reply] = compatible(api, api.request(model="llama3.2"))
    assert reply.text == "ok"
    seen = api.server.requests[0]
    assert seen.headers["authorization"] == "Bearer not-needed"
    assert seen.body["max_tokens"] == 4096  # what Ollama, vLLM and llama.cpp understand
    assert "max_completion_tokens" not in seen.body


def test_a_tool_conversation_on_the_wire(api: Api) -> None:
    call = ToolCall(id="call_1", name="fetch_web_page", arguments={"url": "https://example.com"})
    api.complete(
        api.request(
            UserMessage("Check."),
            AssistantMessage("", (call,)),
            ToolResultsMessage(
                (
                    ToolResult("call_1", "<h1>Example</h1>"),
                    ToolResult("call_0", "404", is_error=True),
                )
            ),
            tools=(FETCH,),
        )
    )
    body = api.server.requests[0].body
    # Sent whenever tools are: llama-cpp-python's server takes a missing one as "none".
    assert body["tool_choice"] == "auto"
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
            "content": "",  # never null: llama-cpp-python's server answers 500 to null
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
    api: Api, raw: str, arguments: dict[str, Any]
) -> None:
    api.server.script(ToolCallReply("fetch_web_page", raw))
    [reply] = api.complete(api.request(tools=(FETCH,)))
    assert reply.tool_calls[0].name == "fetch_web_page"
    assert reply.tool_calls[0].arguments == arguments


def test_parse_arguments() -> None:
    assert parse_arguments(None) == {}
    assert parse_arguments("  ") == {}
    assert parse_arguments('"text"') == {"_raw": '"text"'}


def test_tool_calls_with_finish_reason_stop_are_tool_use(api: Api) -> None:
    # Some compatible servers say "stop" although the model called a tool.
    api.server.script(Reply(tool_calls=(ToolCallReply("a"),), stop_reason="end_turn"))
    [reply] = api.complete(api.request())
    assert reply.stop_reason == "tool_use"


def test_a_lenient_server_without_ids_types_or_usage(api: Api) -> None:
    # What some OpenAI-compatible servers send: no tool call id or type, no usage.
    api.server.script(
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
    [reply] = compatible(api, api.request(model="llama3.2"))
    [call] = reply.tool_calls
    assert (call.name, call.arguments) == ("a", {"n": 1})
    assert call.id.startswith("call_")
    assert reply.usage == Usage(0, 0, 1)
    assert reply.stop_reason == "tool_use"


@pytest.mark.parametrize("body", ["<html>Sign in</html>", {"unexpected": True}])
def test_a_200_that_is_not_a_completion_is_a_server_failure(
    api: Api, body: str | dict[str, Any]
) -> None:
    api.server.script(RawReply(body))
    with pytest.raises(AttemptFailed) as caught:
        compatible(api, api.request(), key=OPENAI.key)
    assert caught.value.kind is FailureKind.SERVER
    assert "BACKBEAT_COMPATIBLE_BASE_URL" in caught.value.message


def test_no_choices_is_a_server_failure(api: Api) -> None:
    body = {
        "id": "x",
        "object": "chat.completion",
        "created": 0,
        "model": OPENAI.model,
        "choices": [],
    }
    failed = api.failure(RawReply(body))
    assert failed.kind is FailureKind.SERVER


def test_refused_key_of_a_compatible_endpoint_names_its_setting(api: Api) -> None:
    api.server.script(ErrorReply(401))
    with pytest.raises(AttemptFailed) as caught:
        compatible(api, api.request(), key="gw-key-123456789")
    assert caught.value.kind is FailureKind.AUTH
    assert "BACKBEAT_COMPATIBLE_API_KEY" in caught.value.message
