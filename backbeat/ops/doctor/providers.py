"""Each configured model provider, asked for one token (all at once): the key, the base URL,
and that the default model is served; a warning when the default model goes to another
provider than its name says (`anthropic/…` to a local OpenAI-compatible server)."""

from __future__ import annotations

import asyncio
import re
import time

from backbeat.agents.base import ModelRequest, UserMessage
from backbeat.agents.routing import (
    ProviderName,
    Providers,
    Route,
    configured_providers,
    rerouted,
    resolve,
)
from backbeat.config import Settings
from backbeat.domain.failures import AttemptFailed, FailureKind
from backbeat.ops.doctor.check import Check, os_reason
from backbeat.ops.logs import redacted_url

PROVIDER_TIMEOUT = 15.0  # seconds for the 1-token request

_PROVIDERS: tuple[ProviderName, ...] = ("anthropic", "openai", "compatible")
_KEY_SETTINGS = {
    "anthropic": "BACKBEAT_ANTHROPIC_API_KEY",
    "openai": "BACKBEAT_OPENAI_API_KEY",
    "compatible": "BACKBEAT_COMPATIBLE_API_KEY",
}
_URL_SETTINGS = {
    "anthropic": "BACKBEAT_ANTHROPIC_BASE_URL",
    "openai": "BACKBEAT_OPENAI_BASE_URL",
    "compatible": "BACKBEAT_COMPATIBLE_BASE_URL",
}
# Cheap models to ask when the default model is served by another provider.
_PROBE_MODELS = {"anthropic": "claude-haiku-4-5", "openai": "gpt-4o-mini"}


def check_providers(settings: Settings, timeout: float = PROVIDER_TIMEOUT) -> list[Check]:
    """Each configured provider, asked for one token (all at once)."""
    configured = configured_providers(settings)
    names = [name for name in _PROVIDERS if name in configured]
    if not names:
        return [
            Check(
                "providers",
                "warn",
                "no model provider is configured: runs fail until you set "
                "BACKBEAT_ANTHROPIC_API_KEY, BACKBEAT_OPENAI_API_KEY or "
                "BACKBEAT_COMPATIBLE_BASE_URL",
            )
        ]
    return asyncio.run(_check_providers(settings, names, timeout))


async def _check_providers(
    settings: Settings, names: list[ProviderName], timeout: float
) -> list[Check]:
    providers = Providers(settings)
    try:
        return list(
            await asyncio.gather(
                *(_check_provider(providers, name, settings, timeout) for name in names)
            )
        )
    finally:
        await providers.aclose()


def _probe_model(name: ProviderName, settings: Settings) -> tuple[str, bool]:
    """The model to ask, and whether it is the default model: the default when this
    provider serves it, else a cheap one (a gateway takes the default's id as written)."""
    try:
        route = resolve(settings.default_model, settings)
    except AttemptFailed:
        route = None
    if route is not None and route.provider_name == name:
        return route.model_name, True
    return _PROBE_MODELS.get(name, settings.default_model.strip()), False


def _base_url(name: ProviderName, settings: Settings) -> str:
    # Imported here: the SDKs take seconds to import (and most checks do not need them).
    from backbeat.agents import anthropic, openai

    if name == "anthropic":
        return settings.anthropic_base_url or anthropic.DEFAULT_BASE_URL
    if name == "openai":
        return settings.openai_base_url or openai.DEFAULT_BASE_URL
    return (settings.compatible_base_url or "").strip()


async def _check_provider(
    providers: Providers, name: ProviderName, settings: Settings, timeout: float
) -> Check:
    model, is_default = _probe_model(name, settings)
    url = redacted_url(_base_url(name, settings))
    request = ModelRequest(
        model=model,
        system="",
        messages=(UserMessage("Reply with OK."),),
        max_output_tokens=1,
        timeout_seconds=timeout,
    )
    try:
        provider = providers.get(Route(name, model))
        started = time.monotonic()
        reply = await provider.complete(request)
        took = time.monotonic() - started
    except AttemptFailed as exc:
        return _provider_failure(name, url, model, is_default, timeout, exc, settings)
    except Exception as exc:
        return Check(name, "fail", f"{url}: the check failed: {type(exc).__name__}: {exc}")
    served = f" (as {reply.model})" if reply.model and reply.model != model else ""
    answered = f"{url} answered a 1-token request for {model}{served} in {took:.1f} s"
    why = rerouted(settings.default_model, settings) if is_default else None
    if why is not None:
        return Check(name, "warn", f"{answered}, but the default model {why}")
    return Check(name, "ok", answered)


def _provider_failure(
    name: ProviderName,
    url: str,
    model: str,
    is_default: bool,
    timeout: float,
    exc: AttemptFailed,
    settings: Settings,
) -> Check:
    kind = exc.kind
    status = re.search(r"\((\d{3})\)", exc.message)
    code = f" ({status.group(1)})" if status else ""
    url_setting = _URL_SETTINGS[name]
    configured_url = {
        "anthropic": settings.anthropic_base_url,
        "openai": settings.openai_base_url,
        "compatible": settings.compatible_base_url,
    }[name] is not None
    where = (
        f"fix {url_setting}"
        if configured_url
        else "check this machine's network and proxy settings"
    )
    if kind == FailureKind.AUTH:
        return Check(name, "fail", f"{url} refused the key{code}: fix {_KEY_SETTINGS[name]}")
    if kind == FailureKind.NETWORK:
        return Check(name, "fail", f"cannot reach {url} ({_root_cause(exc)}): {where}")
    if kind == FailureKind.TIMEOUT:
        return Check(name, "fail", f"no answer from {url} within {timeout:g} s: {where}")
    if kind == FailureKind.RATE_LIMITED:
        return Check(
            name, "warn", f"{url} accepted the key but is rate limiting it now{code}: runs retry"
        )
    if kind == FailureKind.SERVER:
        if exc.name in ("UnexpectedResponse", "EmptyReply"):
            return Check(name, "fail", f"{url} does not answer like the {name} API: {where}")
        return Check(name, "warn", f"{url} answered with a server error{code}: try again later")
    if kind == FailureKind.BAD_REQUEST:
        if is_default and "(404)" in exc.message:
            return Check(
                name,
                "fail",
                f"{url} does not serve the default model {model!r}: fix BACKBEAT_DEFAULT_MODEL",
            )
        return Check(
            name,
            "warn",
            f"{url} accepted the key but refused the test request for {model}: {exc.message}",
        )
    return Check(name, "fail", f"{url}: {exc.message}")


def _root_cause(exc: BaseException) -> str:
    """Why a connection failed, from the innermost exception ("Connection refused")."""
    seen: set[int] = set()
    current: BaseException = exc
    while id(current) not in seen:
        seen.add(id(current))
        following = current.__cause__ or current.__context__
        if following is None:
            break
        current = following
    if isinstance(current, OSError):
        return os_reason(current)
    text = str(current).strip()
    return text.splitlines()[0] if text else type(current).__name__
