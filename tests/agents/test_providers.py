"""What every SDK provider does, run once per provider (see `providers.CASES`): the real
AnthropicProvider and OpenAIProvider (official SDKs) against the fake model server, over
loopback. What only one of them does (its wire format, its own quirks) is in
test_anthropic_provider.py and test_openai_provider.py."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from backbeat.agents.base import (
    AssistantMessage,
    ModelReply,
    ToolCall,
    ToolResult,
    ToolResultsMessage,
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
from tests.agents.providers import CASES, FETCH, QUESTION, SYSTEM, Api


@pytest.fixture(params=CASES, ids=str)
def api(request: pytest.FixtureRequest) -> Iterator[Api]:
    with FakeModelServer() as server:
        yield Api(request.param, server)


# --- Answers ---------------------------------------------------------------------------------


def test_plain_text_reply(api: Api) -> None:
    api.server.script(Reply("Streams are up 12%.", input_tokens=120, output_tokens=30))

    [reply] = api.complete(api.request())

    assert reply == ModelReply(
        text="Streams are up 12%.",
        usage=Usage(input_tokens=120, output_tokens=30, requests=1),
        stop_reason="end_turn",
        model=api.case.model,  # the model the answer names
    )
    [seen] = api.server.requests
    assert seen.path == api.case.path
    assert (seen.model, seen.system, seen.last_user_text()) == (api.case.model, SYSTEM, QUESTION)
    assert seen.body[api.case.max_tokens_field] == 4096
    assert any(seen.headers.get(header) == value for header, value in api.case.key_headers)
    # The SDK's own retries are off: the worker's retry policy decides.
    assert seen.headers["x-stainless-retry-count"] == "0"


def test_the_reply_names_the_model_the_server_says_answered(api: Api) -> None:
    api.server.script(Reply("Streams are up.", model="served-model-7b"))
    [reply] = api.complete(api.request())
    assert reply.model == "served-model-7b"
    assert api.server.requests[0].model == api.case.model


def test_the_default_answer_echoes_the_last_user_message(api: Api) -> None:
    [reply] = api.complete(api.request(UserMessage("Plan the tour  posts")))
    assert reply.text == "Report: Plan the tour posts"
    assert reply.usage.input_tokens > 0
    assert reply.usage.output_tokens > 0


@pytest.mark.parametrize("text", ["Let me look.", ""], ids=["text", "no-text"])
def test_tool_call_round_trip(api: Api, text: str) -> None:
    api.server.script(
        ToolCallReply("fetch_web_page", {"url": "https://example.com"}, text=text, id="call_1"),
        Reply("Final report.", input_tokens=200, output_tokens=10),
    )
    first = api.request(UserMessage("Check the site."), tools=(FETCH,))
    [call_reply] = api.complete(first)
    assert call_reply.text == text
    assert call_reply.tool_calls == (
        ToolCall(id="call_1", name="fetch_web_page", arguments={"url": "https://example.com"}),
    )
    assert call_reply.stop_reason == "tool_use"

    second = api.request(
        UserMessage("Check the site."),
        AssistantMessage(call_reply.text, call_reply.tool_calls),
        ToolResultsMessage((ToolResult("call_1", "<h1>Example</h1>"),)),
        tools=(FETCH,),
    )
    [final] = api.complete(second)
    assert final.text == "Final report."
    assert final.tool_calls == ()
    assert final.usage == Usage(200, 10, 1)
    assert [len(r.tools) for r in api.server.requests] == [1, 1]
    assert api.server.requests[1].last_user_text() == "<h1>Example</h1>"


@pytest.mark.parametrize(
    ("text", "b_arguments"), [("", {"n": 2}), ("Two lookups.", {})], ids=["no-text", "text"]
)
def test_several_tool_calls_in_one_reply(api: Api, text: str, b_arguments: dict[str, Any]) -> None:
    api.server.script(
        Reply(text, tool_calls=(ToolCallReply("a", {"n": 1}), ToolCallReply("b", b_arguments))),
    )
    [reply] = api.complete(api.request(tools=(FETCH,)))
    assert reply.text == text
    assert [(c.name, c.arguments) for c in reply.tool_calls] == [
        ("a", {"n": 1}),
        ("b", b_arguments),
    ]
    a, b = reply.tool_calls
    assert a.id != b.id
    assert reply.stop_reason == "tool_use"


@pytest.mark.parametrize(
    ("text", "stop", "expected"),
    [
        ("partial", "max_tokens", "max_tokens"),  # OpenAI's finish_reason "length"
        ("partial", "refusal", "other"),
        ("partial", "pause_turn", "other"),
        ("", "content_filter", "other"),
    ],
    ids=["max_tokens", "refusal", "pause_turn", "content_filter"],
)
def test_stop_reasons(api: Api, text: str, stop: str, expected: str) -> None:
    api.server.script(Reply(text, stop_reason=stop))
    [reply] = api.complete(api.request(max_output_tokens=5))
    assert reply.stop_reason == expected
    assert reply.text == text
    assert api.server.requests[0].body[api.case.max_tokens_field] == 5


def test_a_failed_request_is_not_retried(api: Api) -> None:
    failed = api.failure(ErrorReply(500), Reply("a retry would get this"))
    assert failed.kind is FailureKind.SERVER
    assert len(api.server.requests) == 1
    assert api.server.pending == 1


# --- Failures --------------------------------------------------------------------------------


def test_429_with_retry_after_seconds_is_rate_limited(api: Api) -> None:
    failed = api.failure(ErrorReply(429, retry_after=7))
    assert failed.kind is FailureKind.RATE_LIMITED
    assert failed.kind.retryable
    assert failed.retry_after == timedelta(seconds=7)
    assert failed.name == "RateLimitError"
    assert "Rate limit exceeded" in failed.message


def test_429_with_retry_after_as_http_date(api: Api) -> None:
    failed = api.failure(ErrorReply(429, retry_after=http_date(30)))
    assert failed.kind is FailureKind.RATE_LIMITED
    assert failed.retry_after is not None
    assert timedelta(seconds=27) <= failed.retry_after <= timedelta(seconds=30)


@pytest.mark.parametrize(
    ("milliseconds", "seconds"), [(1500, 9), (250, None)], ids=["and-seconds", "alone"]
)
def test_429_with_retry_after_ms(api: Api, milliseconds: float, seconds: float | None) -> None:
    failed = api.failure(ErrorReply(429, retry_after_ms=milliseconds, retry_after=seconds))
    assert failed.retry_after == timedelta(milliseconds=milliseconds)


def test_429_without_retry_after(api: Api) -> None:
    failed = api.failure(ErrorReply(429))
    assert failed.kind is FailureKind.RATE_LIMITED
    assert failed.retry_after is None


@pytest.mark.parametrize(
    ("item", "kind"),
    [
        pytest.param(ErrorReply(500), FailureKind.SERVER, id="500"),
        pytest.param(ErrorReply(529), FailureKind.SERVER, id="529"),
        pytest.param(ErrorReply(503), FailureKind.SERVER, id="503"),
        pytest.param(ErrorReply(503, retry_after=3), FailureKind.SERVER, id="503-retry-after"),
        pytest.param(ErrorReply(502, body="Bad gateway"), FailureKind.SERVER, id="502-text"),
        pytest.param(
            ErrorReply(502, body="<html>Bad gateway</html>"), FailureKind.SERVER, id="502-html"
        ),
        pytest.param(ErrorReply(408), FailureKind.TIMEOUT, id="408"),
        pytest.param(ErrorReply(404), FailureKind.BAD_REQUEST, id="404"),
        pytest.param(ErrorReply(409), FailureKind.BAD_REQUEST, id="409"),
        pytest.param(ErrorReply(413), FailureKind.BAD_REQUEST, id="413"),
        pytest.param(ErrorReply(422), FailureKind.BAD_REQUEST, id="422"),
        pytest.param(Disconnect(), FailureKind.NETWORK, id="disconnect"),
    ],
)
def test_error_kinds(api: Api, item: ScriptItem, kind: FailureKind) -> None:
    failed = api.failure(item)
    assert failed.kind is kind
    assert api.key not in failed.message


@pytest.mark.parametrize("status", [401, 403])
def test_refused_key_is_auth_and_names_the_setting(api: Api, status: int) -> None:
    # The provider's own message may quote (part of) the key: it is never passed on.
    failed = api.failure(ErrorReply(status, message=f"{api.case.key_quote} {api.key}"))
    assert failed.kind is FailureKind.AUTH
    assert not failed.kind.retryable
    assert api.case.refused in failed.message
    assert api.case.key_setting in failed.message
    assert api.key not in failed.message
    assert api.key not in str(failed)
    assert api.case.key_quote not in failed.message


@pytest.mark.parametrize(
    "message",
    ["max_tokens: must be at most 64000", "Unsupported parameter: 'max_tokens'"],
    ids=["anthropic-wording", "openai-wording"],
)
def test_400_is_bad_request_with_the_providers_message(api: Api, message: str) -> None:
    failed = api.failure(ErrorReply(400, message=message))
    assert failed.kind is FailureKind.BAD_REQUEST
    assert message in failed.message


def test_a_key_echoed_by_the_provider_is_redacted(api: Api) -> None:
    failed = api.failure(ErrorReply(400, message=f"bad header value {api.key}"))
    assert api.key not in failed.message
    assert "[redacted]" in failed.message


@pytest.mark.parametrize(
    "body", ["<html>Sign in</html>", {"unexpected": True}], ids=["html", "json"]
)
def test_a_200_that_is_not_an_answer_is_a_server_failure(
    api: Api, body: str | dict[str, Any]
) -> None:
    failed = api.failure(RawReply(body))
    assert failed.kind is FailureKind.SERVER
    assert api.case.url_setting in failed.message


def test_slow_answer_beyond_the_request_timeout_is_timeout(api: Api) -> None:
    started = time.monotonic()
    failed = api.failure(Delay(1.0), Reply("too late"), timeout_seconds=0.25)
    assert failed.kind is FailureKind.TIMEOUT
    assert time.monotonic() - started < 0.9


def test_connection_refused_is_network(api: Api) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(AttemptFailed) as caught:
        api.complete(api.request(), url=f"http://127.0.0.1:{port}{api.case.api_root}")
    assert caught.value.kind is FailureKind.NETWORK
    assert "127.0.0.1" in caught.value.message
    assert api.key not in caught.value.message
