"""Which provider serves a model id, what fails when none is configured, and the Providers
holder (end to end against the fake model server)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest

from backbeat.agents.anthropic import AnthropicProvider
from backbeat.agents.base import ModelReply, ModelRequest, UserMessage
from backbeat.agents.openai import OpenAIProvider
from backbeat.agents.routing import (
    Providers,
    Route,
    anthropic_model_name,
    compatible_is_local,
    configured_providers,
    named_provider,
    rerouted,
    resolve,
)
from backbeat.config import Settings
from backbeat.domain.failures import AttemptFailed, FailureKind
from backbeat.testing.fake_models import FakeModelServer, Reply

ANTHROPIC = {"anthropic_api_key": "sk-ant-test-key"}
OPENAI = {"openai_api_key": "sk-openai-test-key"}
GATEWAY = {"compatible_base_url": "https://gateway.example/api/v1"}
LOCAL = {"compatible_base_url": "http://127.0.0.1:11434/v1"}  # Ollama on this machine
EVERYTHING = {**ANTHROPIC, **OPENAI, **GATEWAY}


def settings(**fields: Any) -> Settings:
    """Settings with no provider configured except what the test gives (env ignored)."""
    base: dict[str, Any] = {
        "anthropic_api_key": None,
        "anthropic_base_url": None,
        "openai_api_key": None,
        "openai_base_url": None,
        "compatible_base_url": None,
        "compatible_api_key": None,
    }
    return Settings(**{**base, **fields})


def refused(model: str, **fields: Any) -> str:
    with pytest.raises(AttemptFailed) as caught:
        resolve(model, settings(**fields))
    assert caught.value.kind is FailureKind.CONFIGURATION
    assert not caught.value.kind.retryable
    return caught.value.message


@pytest.mark.parametrize(
    ("model", "route"),
    [
        ("anthropic:claude-opus-4-7", Route("anthropic", "claude-opus-4-7")),
        ("Anthropic: claude-opus-4-7 ", Route("anthropic", "claude-opus-4-7")),
        ("openai:gpt-5", Route("openai", "gpt-5")),
        ("openai:my-fine-tune", Route("openai", "my-fine-tune")),
        ("compatible:llama3.2", Route("compatible", "llama3.2")),
        ("ollama:qwen3:8b", Route("compatible", "qwen3:8b")),
        ("compatible:moonshotai/kimi-k3", Route("compatible", "moonshotai/kimi-k3")),
        ("claude-sonnet-4-6", Route("anthropic", "claude-sonnet-4-6")),
        ("gpt-4o", Route("openai", "gpt-4o")),
        ("gpt-5-mini", Route("openai", "gpt-5-mini")),
        ("o1", Route("openai", "o1")),
        ("o3-mini", Route("openai", "o3-mini")),
        ("o4-mini", Route("openai", "o4-mini")),
        ("chatgpt-4o-latest", Route("openai", "chatgpt-4o-latest")),
        ("  gpt-4o  ", Route("openai", "gpt-4o")),
        ("llama3.2", Route("compatible", "llama3.2")),
        ("qwen3:8b", Route("compatible", "qwen3:8b")),
    ],
)
def test_direct_rules(model: str, route: Route) -> None:
    assert resolve(model, settings(**EVERYTHING)) == route


@pytest.mark.parametrize(
    ("model", "fields", "route"),
    [
        (
            "anthropic/claude-sonnet-4.5",
            ANTHROPIC,
            Route("anthropic", "claude-sonnet-4-5"),
        ),
        (
            "anthropic/claude-sonnet-4.5",
            {**ANTHROPIC, **GATEWAY},
            Route("anthropic", "claude-sonnet-4-5"),
        ),
        (
            "anthropic/claude-sonnet-4.5",
            GATEWAY,
            Route("compatible", "anthropic/claude-sonnet-4.5"),
        ),
        ("openai/gpt-5-mini", OPENAI, Route("openai", "gpt-5-mini")),
        ("openai/gpt-5-mini", GATEWAY, Route("compatible", "openai/gpt-5-mini")),
        ("moonshotai/kimi-k3", GATEWAY, Route("compatible", "moonshotai/kimi-k3")),
        ("moonshotai/kimi-k3", EVERYTHING, Route("compatible", "moonshotai/kimi-k3")),
    ],
)
def test_gateway_ids(model: str, fields: dict[str, Any], route: Route) -> None:
    assert resolve(model, settings(**fields)) == route


def test_the_default_model_resolves() -> None:
    config = settings(**ANTHROPIC)
    assert resolve(config.default_model, config) == Route("anthropic", "claude-sonnet-4-6")


def test_anthropic_model_names() -> None:
    assert anthropic_model_name("claude-sonnet-4.5") == "claude-sonnet-4-5"
    assert anthropic_model_name("claude-opus-4.1") == "claude-opus-4-1"
    assert anthropic_model_name("claude-haiku-4-5") == "claude-haiku-4-5"


def test_gateway_id_for_anthropic_without_credentials_names_both_settings() -> None:
    message = refused("anthropic/claude-sonnet-4.5", **OPENAI)
    assert message.startswith(
        "No credentials for Anthropic: set BACKBEAT_ANTHROPIC_API_KEY "
        "(or BACKBEAT_COMPATIBLE_BASE_URL for a gateway)"
    )


def test_gateway_id_for_openai_without_credentials_names_both_settings() -> None:
    message = refused("openai/gpt-5-mini", **ANTHROPIC)
    assert "BACKBEAT_OPENAI_API_KEY" in message
    assert "BACKBEAT_COMPATIBLE_BASE_URL" in message


def test_other_vendors_need_a_gateway() -> None:
    message = refused("moonshotai/kimi-k3", **ANTHROPIC, **OPENAI)
    assert "BACKBEAT_COMPATIBLE_BASE_URL" in message
    assert "moonshotai/kimi-k3" in message


@pytest.mark.parametrize(
    ("model", "setting"),
    [
        ("claude-sonnet-4-6", "BACKBEAT_ANTHROPIC_API_KEY"),
        ("anthropic:claude-sonnet-4-6", "BACKBEAT_ANTHROPIC_API_KEY"),
        ("gpt-5", "BACKBEAT_OPENAI_API_KEY"),
        ("o3", "BACKBEAT_OPENAI_API_KEY"),
        ("openai:gpt-5", "BACKBEAT_OPENAI_API_KEY"),
        ("llama3.2", "BACKBEAT_COMPATIBLE_BASE_URL"),
        ("compatible:llama3.2", "BACKBEAT_COMPATIBLE_BASE_URL"),
        ("ollama:llama3.2", "BACKBEAT_COMPATIBLE_BASE_URL"),
    ],
)
def test_unconfigured_provider_names_the_setting(model: str, setting: str) -> None:
    assert setting in refused(model)


def test_bare_names_do_not_fall_back_to_the_gateway() -> None:
    message = refused("gpt-oss:20b", **GATEWAY)
    assert "BACKBEAT_OPENAI_API_KEY" in message
    assert "compatible:gpt-oss:20b" in message  # the way to mean the local model


def test_an_empty_key_is_no_key() -> None:
    assert "BACKBEAT_ANTHROPIC_API_KEY" in refused("claude-sonnet-4-6", anthropic_api_key="  ")
    assert configured_providers(settings(anthropic_api_key="", compatible_base_url=" ")) == []


@pytest.mark.parametrize("model", ["", "   ", "anthropic:", "ollama:  "])
def test_empty_model_is_a_configuration_failure(model: str) -> None:
    refused(model, **EVERYTHING)


def test_configured_providers() -> None:
    assert configured_providers(settings()) == []
    assert configured_providers(settings(**EVERYTHING)) == ["anthropic", "openai", "compatible"]
    assert configured_providers(settings(**GATEWAY)) == ["compatible"]


def test_providers_are_made_once_and_on_demand() -> None:
    async def run() -> None:
        providers = Providers(settings(**EVERYTHING))
        first = providers.get(Route("anthropic", "claude-sonnet-4-6"))
        assert isinstance(first, AnthropicProvider)
        assert providers.get(Route("anthropic", "claude-opus-4-7")) is first
        openai = providers.get(providers.resolve("gpt-5"))
        compatible = providers.get(providers.resolve("llama3.2"))
        assert isinstance(openai, OpenAIProvider)
        assert isinstance(compatible, OpenAIProvider)
        assert (openai.name, compatible.name) == ("openai", "compatible")
        assert openai is not compatible
        await providers.aclose()

    asyncio.run(run())


def test_a_provider_without_settings_cannot_be_got() -> None:
    providers = Providers(settings(**GATEWAY))
    with pytest.raises(AttemptFailed) as caught:
        providers.get(Route("openai", "gpt-5"))
    assert caught.value.kind is FailureKind.CONFIGURATION
    assert "BACKBEAT_OPENAI_API_KEY" in caught.value.message


def test_preset_providers_stand_in_for_real_ones() -> None:
    class Canned:
        name = "fake"
        closed = False

        async def complete(self, request: ModelRequest) -> ModelReply:
            return ModelReply(text=f"canned for {request.model}")

        async def aclose(self) -> None:
            self.closed = True

    canned = Canned()
    providers = Providers(settings(**ANTHROPIC), preset={"anthropic": canned})
    route = providers.resolve("anthropic/claude-sonnet-4.5")
    assert providers.get(route) is canned
    asyncio.run(providers.aclose())
    assert canned.closed


@pytest.fixture
def server() -> Iterator[FakeModelServer]:
    with FakeModelServer() as fake:
        yield fake


def test_routes_reach_the_right_api(server: FakeModelServer) -> None:
    config = settings(
        anthropic_api_key="sk-ant-direct-key",
        anthropic_base_url=server.url_anthropic,
        compatible_base_url=server.url_openai,
        compatible_api_key="gateway-key",
    )
    server.script(Reply("via Anthropic"), model="claude-sonnet-4-6")
    server.script(Reply("via the gateway"), model="moonshotai/kimi-k3")

    async def run() -> list[str]:
        providers = Providers(config)
        texts = []
        try:
            for model in ("anthropic/claude-sonnet-4.6", "moonshotai/kimi-k3"):
                route = providers.resolve(model)
                request = ModelRequest(
                    model=route.model_name, system="", messages=(UserMessage("hi"),)
                )
                texts.append((await providers.get(route).complete(request)).text)
        finally:
            await providers.aclose()
        return texts

    assert asyncio.run(run()) == ["via Anthropic", "via the gateway"]
    anthropic, gateway = server.requests
    assert (anthropic.path, anthropic.model) == ("/v1/messages", "claude-sonnet-4-6")
    assert (gateway.path, gateway.model) == ("/v1/chat/completions", "moonshotai/kimi-k3")
    assert gateway.headers["authorization"] == "Bearer gateway-key"


# --- Local servers and gateways: pricing, and models that go elsewhere than they say ---------


@pytest.mark.parametrize(
    ("url", "local"),
    [
        ("http://127.0.0.1:8080/v1", True),
        ("http://localhost:11434/v1", True),
        ("http://[::1]:8000/v1", True),
        ("http://10.0.3.7/v1", True),
        ("http://192.168.1.20:1234/v1", True),
        ("http://ollama:11434/v1", True),  # a bare host name: a container beside this one
        ("http://gpu-box.local:8000/v1", True),
        ("https://openrouter.ai/api/v1", False),
        ("https://gateway.example/api/v1", False),
        ("https://8.8.8.8/v1", False),
        ("", False),
    ],
)
def test_which_endpoints_are_local(url: str, local: bool) -> None:
    assert compatible_is_local(url) is local


@pytest.mark.parametrize(
    ("fields", "vendor_prices"),
    [
        (GATEWAY, True),
        (LOCAL, False),
        ({**LOCAL, "compatible_pricing": "vendor"}, True),  # a gateway on this machine
        ({**GATEWAY, "compatible_pricing": "unknown"}, False),
    ],
    ids=["gateway", "local", "local-as-vendor", "gateway-as-unknown"],
)
def test_compatible_routes_say_whether_vendor_prices_apply(
    fields: dict[str, Any], vendor_prices: bool
) -> None:
    for model in ("anthropic/claude-sonnet-4.6", "compatible:llama3.2", "llama3.2"):
        route = resolve(model, settings(**fields))
        assert route.provider_name == "compatible"
        assert route.vendor_prices is vendor_prices
    # The vendors' own APIs are priced as themselves whatever the setting.
    direct = resolve("anthropic/claude-sonnet-4.6", settings(**fields, **ANTHROPIC))
    assert direct == Route("anthropic", "claude-sonnet-4-6")


@pytest.mark.parametrize(
    ("model", "named"),
    [
        ("anthropic/claude-sonnet-4.6", "anthropic"),
        ("OpenAI/gpt-5-mini", "openai"),
        ("claude-haiku-4-5", "anthropic"),
        ("gpt-5", "openai"),
        ("compatible:anthropic/claude-sonnet-4.6", "compatible"),
        ("ollama:qwen3:8b", "compatible"),
        ("anthropic:claude-opus-4-7", "anthropic"),
        ("moonshotai/kimi-k3", None),
        ("llama3.2", None),
    ],
)
def test_the_provider_a_model_id_names(model: str, named: str | None) -> None:
    assert named_provider(model) == named


def test_the_default_model_on_a_local_server_alone_is_rerouted() -> None:
    config = settings(**LOCAL)
    why = rerouted(config.default_model, config)
    assert why is not None
    assert config.default_model in why
    assert "Anthropic" in why
    assert "BACKBEAT_ANTHROPIC_API_KEY" in why
    assert "BACKBEAT_COMPATIBLE_BASE_URL" in why
    assert "compatible:NAME" in why
    openai_id = rerouted("openai/gpt-5-mini", config)
    assert openai_id is not None
    assert "BACKBEAT_OPENAI_API_KEY" in openai_id


@pytest.mark.parametrize(
    ("model", "fields"),
    [
        ("anthropic/claude-sonnet-4.6", {**ANTHROPIC, **LOCAL}),  # the key: Anthropic serves it
        ("compatible:anthropic/claude-sonnet-4.6", LOCAL),  # sent there on purpose
        ("moonshotai/kimi-k3", GATEWAY),  # names no provider of Backbeat's
        ("llama3.2", LOCAL),
        ("claude-sonnet-4-6", ANTHROPIC),
        ("anthropic/claude-sonnet-4.6", {}),  # does not resolve at all: runs say so
    ],
)
def test_models_that_go_where_they_say_are_not_rerouted(model: str, fields: dict[str, Any]) -> None:
    assert rerouted(model, settings(**fields)) is None
