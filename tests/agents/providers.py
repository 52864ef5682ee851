"""What the provider tests need to know about each SDK provider, and a way to drive one.

`ProviderCase` describes a provider: how to build it against the fake model server, where
its API lives there, and the names it uses in what it says (settings, error wording).
`Api` is a case wired to a running `FakeModelServer`: script the server, send requests
through the real provider, catch its failures.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from backbeat.agents.anthropic import AnthropicProvider
from backbeat.agents.base import ModelProvider, ModelReply, ModelRequest, ToolSpec, UserMessage
from backbeat.agents.openai import OpenAIProvider
from backbeat.domain.failures import AttemptFailed
from backbeat.testing.fake_models import FakeModelServer, ScriptItem

SYSTEM = "You write weekly reports for music teams."
QUESTION = "How did the release do?"
FETCH = ToolSpec(
    name="fetch_web_page",
    description="Fetch a web page.",
    parameters={"type": "object", "properties": {"url": {"type": "string"}}, "required": ["url"]},
)


@dataclass(frozen=True)
class ProviderCase:
    name: str
    key: str
    model: str
    build: Callable[[str], ModelProvider]  # base URL -> provider (with `key`)
    base_url: Callable[[FakeModelServer], str]
    api_root: str  # what the base URL adds to the server's own URL
    path: str  # where the fake server sees the requests
    max_tokens_field: str
    # The header that carries the key: any one of these (header, value) pairs.
    key_headers: tuple[tuple[str, str], ...]
    refused: str  # how a refused key is reported
    key_setting: str
    url_setting: str
    # What this provider's own 401 message says before it quotes the key.
    key_quote: str

    def __str__(self) -> str:
        return self.name


ANTHROPIC_KEY = "sk-ant-test-0123456789abcdef"
OPENAI_KEY = "sk-proj-test-0123456789abcdef"

ANTHROPIC = ProviderCase(
    name="anthropic",
    key=ANTHROPIC_KEY,
    model="claude-sonnet-4-6",
    build=lambda url: AnthropicProvider(ANTHROPIC_KEY, base_url=url),
    base_url=lambda server: server.url_anthropic,
    api_root="",
    path="/v1/messages",
    max_tokens_field="max_tokens",
    # SDK 2.x sends the key as a bearer token; older ones used x-api-key. Either is fine.
    key_headers=(("authorization", f"Bearer {ANTHROPIC_KEY}"), ("x-api-key", ANTHROPIC_KEY)),
    refused="Anthropic key was refused",
    key_setting="BACKBEAT_ANTHROPIC_API_KEY",
    url_setting="BACKBEAT_ANTHROPIC_BASE_URL",
    key_quote="invalid x-api-key",
)

OPENAI = ProviderCase(
    name="openai",
    key=OPENAI_KEY,
    model="gpt-5-mini",
    build=lambda url: OpenAIProvider(OPENAI_KEY, base_url=url),
    base_url=lambda server: server.url_openai,
    api_root="/v1",
    path="/v1/chat/completions",
    max_tokens_field="max_completion_tokens",
    key_headers=(("authorization", f"Bearer {OPENAI_KEY}"),),
    refused="OpenAI key was refused",
    key_setting="BACKBEAT_OPENAI_API_KEY",
    url_setting="BACKBEAT_OPENAI_BASE_URL",
    # Real OpenAI quotes part of the key in its 401 message; we never pass it on.
    key_quote="Incorrect API key provided:",
)

CASES = (ANTHROPIC, OPENAI)


def request(case: ProviderCase, *messages: Any, **fields: Any) -> ModelRequest:
    """A request for the case's model: the usual system prompt and question unless given."""
    fields.setdefault("model", case.model)
    fields.setdefault("system", SYSTEM)
    return ModelRequest(messages=messages or (UserMessage(QUESTION),), **fields)


def complete_with(provider: ModelProvider, *requests: ModelRequest) -> list[ModelReply]:
    """The requests one after another through `provider`, which is closed afterwards."""

    async def run() -> list[ModelReply]:
        try:
            return [await provider.complete(r) for r in requests]
        finally:
            await provider.aclose()

    return asyncio.run(run())


@dataclass(frozen=True)
class Api:
    """A provider case against a running fake model server."""

    case: ProviderCase
    server: FakeModelServer

    @property
    def key(self) -> str:
        return self.case.key

    @property
    def url(self) -> str:
        return self.case.base_url(self.server)

    def request(self, *messages: Any, **fields: Any) -> ModelRequest:
        return request(self.case, *messages, **fields)

    def complete(self, *requests: ModelRequest, url: str | None = None) -> list[ModelReply]:
        """The requests through a fresh provider (at the fake server unless `url` says)."""
        return complete_with(self.case.build(url or self.url), *requests)

    def failure(self, *items: ScriptItem, **fields: Any) -> AttemptFailed:
        """The AttemptFailed of one request (with `fields`) after scripting `items`."""
        self.server.script(*items)
        with pytest.raises(AttemptFailed) as caught:
            self.complete(self.request(**fields))
        return caught.value
