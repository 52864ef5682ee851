"""Which provider serves a model id, and the providers themselves (made once, on first use).

The rules, first match wins (`resolve`):

1. `anthropic:<model>`, `openai:<model>`, `compatible:<model>` (or `ollama:<model>`): that
   provider, with the model name as written after the colon.
2. `<vendor>/<model>`, the gateway-style ids the Recoup service stores
   (`anthropic/claude-sonnet-4.5`, `openai/gpt-5-mini`, `moonshotai/kimi-k3`): the vendor's
   own API when Backbeat has its key (Anthropic's model names use dashes where gateways use
   dots: `claude-sonnet-4.5` → `claude-sonnet-4-5`), else the OpenAI-compatible endpoint with
   the whole id (gateways take those).
3. `claude-…` → Anthropic; `gpt-…`, `o1…`, `o3…`, `o4…`, `chatgpt-…` → OpenAI.
4. Anything else (`llama3.2`, `qwen3:8b`): the OpenAI-compatible endpoint.

A model whose provider is not configured fails with FailureKind.CONFIGURATION and a message
naming the setting that would fix it.

A route to the OpenAI-compatible endpoint says whether a `vendor/model` id there may be
priced as the vendor's model (`vendor_prices`: a gateway) or not (a local server, which may
answer any model name with the one model it has): BACKBEAT_COMPATIBLE_PRICING.
"""

from __future__ import annotations

import ipaddress
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlsplit

from pydantic import SecretStr

from backbeat.agents.base import ModelProvider
from backbeat.config import Settings
from backbeat.domain.failures import AttemptFailed, FailureKind

ProviderName = Literal["anthropic", "openai", "compatible"]

_EXPLICIT: dict[str, ProviderName] = {
    "anthropic": "anthropic",
    "openai": "openai",
    "compatible": "compatible",
    "ollama": "compatible",
}
_VENDORS: dict[str, ProviderName] = {"anthropic": "anthropic", "openai": "openai"}
_OPENAI_PREFIXES = ("gpt-", "o1", "o3", "o4", "chatgpt-")
_GATEWAY_HINT = "BACKBEAT_COMPATIBLE_BASE_URL"


@dataclass(frozen=True, slots=True)
class Route:
    provider_name: ProviderName
    model_name: str  # as the provider's API wants it
    # Whether a `vendor/model` id on the compatible endpoint is priced as the vendor's model:
    # False for a local server (agents/pricing.py). Anthropic and OpenAI routes ignore it.
    vendor_prices: bool = True


def resolve(model: str, settings: Settings) -> Route:
    """The provider and provider-side model name for a task's model id (rules above)."""
    model = model.strip()
    if not model:
        raise _configuration("No model given: set the task's model or BACKBEAT_DEFAULT_MODEL")
    anthropic_ok = _has_secret(settings.anthropic_api_key)
    openai_ok = _has_secret(settings.openai_api_key)
    compatible_ok = bool((settings.compatible_base_url or "").strip())

    prefix, colon, rest = model.partition(":")
    if colon and prefix.strip().lower() in _EXPLICIT:
        provider = _EXPLICIT[prefix.strip().lower()]
        name = rest.strip()
        if not name:
            raise _configuration(f"No model name after {prefix.strip()}: in {model!r}")
        return _direct(provider, name, settings)

    vendor, slash, rest = model.partition("/")
    if slash and vendor and rest:
        vendor_lower = vendor.lower()
        if vendor_lower == "anthropic" and anthropic_ok:
            return Route("anthropic", anthropic_model_name(rest))
        if vendor_lower == "openai" and openai_ok:
            return Route("openai", rest)
        if compatible_ok:
            return _compatible(model, settings)
        if vendor_lower == "anthropic":
            raise _configuration(
                f"No credentials for Anthropic: set BACKBEAT_ANTHROPIC_API_KEY "
                f"(or {_GATEWAY_HINT} for a gateway) to run {model!r}"
            )
        if vendor_lower == "openai":
            raise _configuration(
                f"No credentials for OpenAI: set BACKBEAT_OPENAI_API_KEY "
                f"(or {_GATEWAY_HINT} for a gateway) to run {model!r}"
            )
        raise _configuration(
            f"No gateway for {model!r}: set {_GATEWAY_HINT} to an OpenAI-compatible endpoint "
            "that serves it"
        )

    lower = model.lower()
    if lower.startswith("claude-"):
        return _direct("anthropic", model, settings)
    if lower.startswith(_OPENAI_PREFIXES):
        return _direct("openai", model, settings)
    return _direct("compatible", model, settings)


def anthropic_model_name(name: str) -> str:
    """A gateway's Claude id in the form Anthropic's API takes: `claude-sonnet-4.5` → `…-4-5`."""
    return name.replace(".", "-")


def configured_providers(settings: Settings) -> list[str]:
    """The providers Backbeat has credentials or an endpoint for, for a startup notice."""
    names: list[str] = []
    if _has_secret(settings.anthropic_api_key):
        names.append("anthropic")
    if _has_secret(settings.openai_api_key):
        names.append("openai")
    if (settings.compatible_base_url or "").strip():
        names.append("compatible")
    return names


class Providers:
    """The configured providers, each created on first use and then shared; aclose() at exit.

    `preset` puts ready-made providers (a fake, say) in place of the real ones; `resolve`
    still follows the settings. With `limited` (a worker's), each provider made here is kept
    within its concurrency and rate limits (agents/limits.py).
    """

    def __init__(
        self,
        settings: Settings,
        *,
        preset: Mapping[ProviderName, ModelProvider] | None = None,
        limited: bool = False,
    ) -> None:
        self._settings = settings
        self._limited = limited
        self._providers: dict[ProviderName, ModelProvider] = dict(preset or {})
        self._lock = threading.Lock()

    def resolve(self, model: str) -> Route:
        return resolve(model, self._settings)

    def get(self, route: Route) -> ModelProvider:
        with self._lock:
            provider = self._providers.get(route.provider_name)
            if provider is None:
                provider = self._create(route.provider_name)
                if self._limited:
                    from backbeat.agents.limits import LimitedProvider, Limiter, limits_for

                    limits = limits_for(self._settings, route.provider_name)
                    limiter = Limiter(limits, name=route.provider_name)
                    provider = LimitedProvider(provider, limiter)
                self._providers[route.provider_name] = provider
            return provider

    async def aclose(self) -> None:
        with self._lock:
            providers = list(self._providers.values())
            self._providers.clear()
        for provider in providers:
            await provider.aclose()

    def _create(self, name: ProviderName) -> ModelProvider:
        # Each SDK imported here, only when its provider is configured: they take seconds to
        # import, and resolve() needs neither (the worker loads the configured ones at start).
        settings = self._settings
        if name == "anthropic":
            key = _secret(settings.anthropic_api_key)
            if key is None:
                raise _configuration(_missing("anthropic"))
            from backbeat.agents.anthropic import AnthropicProvider

            return AnthropicProvider(key, settings.anthropic_base_url)
        if name == "openai":
            key = _secret(settings.openai_api_key)
            if key is None:
                raise _configuration(_missing("openai"))
            base_url: str | None = settings.openai_base_url
        else:
            base_url = (settings.compatible_base_url or "").strip()
            if not base_url:
                raise _configuration(_missing("compatible"))
            key = _secret(settings.compatible_api_key)
        from backbeat.agents.openai import OpenAIProvider

        return OpenAIProvider(key, base_url, name="openai" if name == "openai" else "compatible")


def named_provider(model: str) -> ProviderName | None:
    """The provider a model id names, whatever serves it: its `provider:` prefix, `anthropic/`
    or `openai/`, or a `claude-` or `gpt-`… name. None when it names none of them
    (`llama3.2`, `moonshotai/kimi-k3`)."""
    model = model.strip()
    prefix, colon, _ = model.partition(":")
    if colon and prefix.strip().lower() in _EXPLICIT:
        return _EXPLICIT[prefix.strip().lower()]
    vendor, slash, rest = model.partition("/")
    if slash and rest:
        return _VENDORS.get(vendor.lower())
    if model.lower().startswith("claude-"):
        return "anthropic"
    if model.lower().startswith(_OPENAI_PREFIXES):
        return "openai"
    return None


def rerouted(model: str, settings: Settings) -> str | None:
    """Why `model` goes to another provider than its name says, or None when it does not.

    `anthropic/…` and `openai/…` ids go to the OpenAI-compatible endpoint when Backbeat has
    no key for that vendor: right for a gateway, wrong for a local server, which answers with
    whatever model it has (and the run is then recorded as the model the server reports).
    """
    try:
        route = resolve(model, settings)
    except AttemptFailed:
        return None
    named = named_provider(model)
    if named is None or named == route.provider_name:
        return None
    vendor = "Anthropic" if named == "anthropic" else "OpenAI"
    key = "BACKBEAT_ANTHROPIC_API_KEY" if named == "anthropic" else "BACKBEAT_OPENAI_API_KEY"
    return (
        f"{model.strip()!r} names {vendor}, but with no {key} it goes to the OpenAI-compatible "
        f"endpoint ({_GATEWAY_HINT}), which may serve another model under that name: set {key}, "
        f"or name the endpoint's own model (compatible:NAME)"
    )


def compatible_is_local(base_url: str) -> bool:
    """Whether an endpoint is on this machine or a private network (not a public gateway):
    localhost, a bare host name (`ollama`), `.local`, or a loopback, private or link-local
    address."""
    host = (urlsplit(base_url.strip()).hostname or "").lower().rstrip(".")
    if not host:
        return False
    if host == "localhost" or host.endswith((".localhost", ".local")):
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return "." not in host
    return address.is_loopback or address.is_private or address.is_link_local


def _compatible(name: str, settings: Settings) -> Route:
    pricing = settings.compatible_pricing
    if pricing == "auto":
        local = compatible_is_local(settings.compatible_base_url or "")
        pricing = "unknown" if local else "vendor"
    return Route("compatible", name, vendor_prices=pricing == "vendor")


def _direct(provider: ProviderName, name: str, settings: Settings) -> Route:
    if provider == "compatible" and "compatible" in configured_providers(settings):
        return _compatible(name, settings)
    if provider in configured_providers(settings):
        return Route(provider, name)
    message = _missing(provider, name)
    if provider != "compatible" and "compatible" in configured_providers(settings):
        message += f" (or write compatible:{name} for the OpenAI-compatible endpoint)"
    raise _configuration(message)


def _missing(provider: ProviderName, model: str | None = None) -> str:
    to_run = f" to run {model!r}" if model else ""
    if provider == "anthropic":
        return f"No credentials for Anthropic: set BACKBEAT_ANTHROPIC_API_KEY{to_run}"
    if provider == "openai":
        return f"No credentials for OpenAI: set BACKBEAT_OPENAI_API_KEY{to_run}"
    return (
        f"No OpenAI-compatible endpoint: set {_GATEWAY_HINT}{to_run} "
        "(or name an Anthropic or OpenAI model)"
    )


def _secret(value: SecretStr | None) -> str | None:
    if value is None:
        return None
    text = value.get_secret_value().strip()
    return text or None


def _has_secret(value: SecretStr | None) -> bool:
    return _secret(value) is not None


def _configuration(message: str) -> AttemptFailed:
    return AttemptFailed(FailureKind.CONFIGURATION, message, name="ConfigurationError")
