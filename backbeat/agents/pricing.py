"""What a run's model calls cost, from genai-prices' bundled price list (no network)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from functools import lru_cache

from genai_prices import Usage as PriceUsage
from genai_prices import calc_price

from backbeat.agents.base import Usage
from backbeat.agents.routing import Route

_DECIMALS = 4  # of a cent: a ten-thousandth of a cent is below any real call's price


def cost_in_cents(route: Route, usage: Usage, served: str | None = None) -> float | None:
    """The price in US cents, or None when the model's price is unknown. Never raises.

    `served` is the model the server said answered (ModelReply.model), priced before the one
    asked for. Anthropic and OpenAI routes are priced as those providers; an OpenAI-compatible
    route with a gateway id (`moonshotai/kimi-k3`) is priced as the vendor's own model
    (`kimi-k3` at `moonshotai`), unless the route says the endpoint is a local server
    (`Route.vendor_prices`), which may answer any name with its own model. A local model
    (`llama3.2` on Ollama) is unknown: None, never 0 and never another model's price.
    """
    today = datetime.now(UTC).date()  # a price list may change prices from a date on
    return _price(route, usage.input_tokens, usage.output_tokens, served, today)


# A run is priced more than once (its output, the usage metric, a budget's checks) with the
# same tokens, and genai-prices' arithmetic costs about 0.2 ms a time.
@lru_cache(maxsize=1024)
def _price(
    route: Route, input_tokens: int, output_tokens: int, served: str | None, today: date
) -> float | None:
    price_usage = PriceUsage(input_tokens=input_tokens, output_tokens=output_tokens)
    for provider_id, model_ref in _candidates(route, served):
        try:
            dollars = calc_price(price_usage, model_ref, provider_id=provider_id).total_price
        except Exception:  # noqa: S112 - LookupError for unknown models; never fail a run on price
            continue
        return float(round(Decimal(dollars) * 100, _DECIMALS))
    return None


def _candidates(route: Route, served: str | None) -> list[tuple[str, str]]:
    if route.provider_name in ("anthropic", "openai"):
        names = dict.fromkeys(name for name in (served, route.model_name) if name)
        return [(route.provider_name, name) for name in names]
    if not route.vendor_prices:
        return []
    # A gateway is priced by the model it says it served (asked for `openrouter/auto`, say);
    # a bare name it reports (`claude-sonnet-4-5-20250929`) at the vendor that was asked for.
    vendor, slash, rest = route.model_name.partition("/")
    if served and "/" in served:
        vendor, slash, rest = served.partition("/")
    elif served:
        rest = served
    if slash and vendor and rest:
        return [(vendor.lower(), rest)]
    return []
