"""What only the AnthropicProvider does: the Messages API on the wire, Anthropic's own
errors, and the Retry-After parsing both SDK providers share (it lives in its module).
What every provider does is in test_providers.py."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from backbeat.agents.anthropic import retry_after_from_headers
from backbeat.agents.base import (
    AssistantMessage,
    ToolCall,
    ToolResult,
    ToolResultsMessage,
    UserMessage,
)
from backbeat.domain.failures import FailureKind
from backbeat.testing.fake_models import ErrorReply, FakeModelServer
from tests.agents.providers import ANTHROPIC, FETCH, Api


@pytest.fixture
def api() -> Iterator[Api]:
    with FakeModelServer() as server:
        yield Api(ANTHROPIC, server)


def test_a_plain_request_on_the_wire(api: Api) -> None:
    api.complete(api.request())
    [seen] = api.server.requests
    assert seen.body == {
        "model": ANTHROPIC.model,
        "max_tokens": 4096,
        "system": "You write weekly reports for music teams.",
        "messages": [
            {"role": "user", "content": [{"type": "text", "text": "How did the release do?"}]}
        ],
    }
    assert "anthropic-version" in seen.headers


def test_an_empty_system_prompt_is_left_out(api: Api) -> None:
    api.complete(api.request(system=""))
    assert "system" not in api.server.requests[0].body


def test_a_tool_conversation_on_the_wire(api: Api) -> None:
    call = ToolCall(id="toolu_1", name="fetch_web_page", arguments={"url": "https://example.com"})
    api.complete(
        api.request(
            UserMessage("Check the site."),
            AssistantMessage("Let me look.", (call,)),
            ToolResultsMessage((ToolResult("toolu_1", "<h1>Example</h1>"),)),
            tools=(FETCH,),
        )
    )
    body = api.server.requests[0].body
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


def test_tool_results_and_the_next_user_text_share_one_turn(api: Api) -> None:
    a = ToolCall(id="toolu_a", name="a", arguments={"n": 1})
    b = ToolCall(id="toolu_b", name="b", arguments={"n": 2})
    api.complete(
        api.request(
            UserMessage("Go."),
            AssistantMessage("", (a, b)),
            ToolResultsMessage((ToolResult(a.id, "ok"), ToolResult(b.id, "boom", is_error=True))),
            UserMessage("Also: keep it short."),
        ),
    )
    messages = api.server.requests[0].messages
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


def test_529_overloaded_names_the_error(api: Api) -> None:
    failed = api.failure(ErrorReply(529))
    assert failed.kind is FailureKind.SERVER
    assert "529" in failed.message
    assert failed.name == "OverloadedError"


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
