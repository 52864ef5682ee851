"""What a run's model calls cost, from genai-prices' bundled price list (no network)."""

from __future__ import annotations

from decimal import Decimal

from genai_prices import Usage as PriceUsage
from genai_prices import calc_price

from backbeat.agents.base import Usage
from backbeat.agents.routing import Route

_DECIMALS = 4  # of a cent: a ten-thousandth of a cent is below any real call's price


def cost_in_cents(route: Route, usage: Usage) -> float | None:
    """The price in US cents, or None when the model's price is unknown. Never raises.

    Anthropic and OpenAI routes are priced as those providers; an OpenAI-compatible route
    with a gateway id (`moonshotai/kimi-k3`) is priced as the vendor's own model
    (`kimi-k3` at `moonshotai`). A local model (`llama3.2` on Ollama) is unknown: None.
    """
    price_usage = PriceUsage(input_tokens=usage.input_tokens, output_tokens=usage.output_tokens)
    for provider_id, model_ref in _candidates(route):
        try:
            dollars = calc_price(price_usage, model_ref, provider_id=provider_id).total_price
        except Exception:  # noqa: S112 - LookupError for unknown models; never fail a run on price
            continue
        return float(round(Decimal(dollars) * 100, _DECIMALS))
    return None


def _candidates(route: Route) -> list[tuple[str, str]]:
    if route.provider_name in ("anthropic", "openai"):
        return [(route.provider_name, route.model_name)]
    vendor, slash, rest = route.model_name.partition("/")
    if slash and vendor and rest:
        return [(vendor.lower(), rest)]
    return []
