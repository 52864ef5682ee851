"""What model calls cost, from genai-prices' bundled list; None when unknown, never an error."""

from __future__ import annotations

import pytest

from backbeat.agents.base import Usage
from backbeat.agents.pricing import cost_in_cents
from backbeat.agents.routing import Route

USAGE = Usage(input_tokens=1000, output_tokens=500, requests=1)


def test_anthropic() -> None:
    # $3 per million input tokens, $15 per million output tokens.
    assert cost_in_cents(Route("anthropic", "claude-sonnet-4-5"), USAGE) == pytest.approx(1.05)


def test_openai() -> None:
    # $0.25 per million input tokens, $2 per million output tokens.
    assert cost_in_cents(Route("openai", "gpt-5-mini"), USAGE) == pytest.approx(0.125)


def test_gateway_ids_are_priced_as_the_vendors_model() -> None:
    via_gateway = cost_in_cents(Route("compatible", "anthropic/claude-sonnet-4.5"), USAGE)
    assert via_gateway == pytest.approx(1.05)
    kimi = cost_in_cents(Route("compatible", "moonshotai/kimi-k3"), USAGE)
    assert kimi is not None
    assert kimi > 0


def test_no_tokens_cost_nothing() -> None:
    assert cost_in_cents(Route("anthropic", "claude-sonnet-4-5"), Usage()) == 0.0


def test_the_figure_is_rounded() -> None:
    cost = cost_in_cents(Route("openai", "gpt-5-mini"), Usage(input_tokens=7, output_tokens=3))
    assert cost is not None
    assert cost == round(cost, 4)
    assert cost > 0


@pytest.mark.parametrize(
    "route",
    [
        Route("compatible", "llama3.2"),  # a local model: unknown, not free
        Route("compatible", "nobody/model-x"),
        Route("compatible", "moonshotai/no-such-model"),
        Route("anthropic", "claude-nonexistent"),
        Route("openai", ""),
        Route("compatible", "/"),
    ],
)
def test_unknown_models_have_no_price(route: Route) -> None:
    assert cost_in_cents(route, USAGE) is None


def test_a_local_server_answering_a_vendor_id_has_no_price() -> None:
    # Asked for `anthropic/claude-sonnet-4.6`, a local llama.cpp server answers with its own
    # model, and says so or not: unknown, never Sonnet's price and never free.
    local = Route("compatible", "anthropic/claude-sonnet-4.6", vendor_prices=False)
    assert cost_in_cents(local, USAGE) is None
    assert cost_in_cents(local, USAGE, "anthropic/claude-sonnet-4.6") is None
    assert cost_in_cents(local, USAGE, "SmolLM2-135M-Instruct") is None


def test_a_gateway_is_priced_by_the_model_it_says_it_served() -> None:
    gateway = Route("compatible", "openrouter/auto")
    assert cost_in_cents(gateway, USAGE) is None
    assert cost_in_cents(gateway, USAGE, "anthropic/claude-sonnet-4.5") == pytest.approx(1.05)
    # A bare name it reports is looked up at the vendor that was asked for.
    asked = Route("compatible", "anthropic/claude-sonnet-4.5")
    assert cost_in_cents(asked, USAGE, "claude-sonnet-4-5-20250929") == pytest.approx(1.05)
    # Another model than the one asked for, whose price is unknown: unknown, not the asked's.
    assert cost_in_cents(asked, USAGE, "SmolLM2-135M-Instruct") is None


def test_the_vendors_own_api_prices_the_served_model_then_the_asked_one() -> None:
    route = Route("anthropic", "claude-sonnet-4-5")
    assert cost_in_cents(route, USAGE, "claude-sonnet-4-5-20250929") == pytest.approx(1.05)
    assert cost_in_cents(route, USAGE, "no-such-snapshot") == pytest.approx(1.05)
    haiku = cost_in_cents(route, USAGE, "claude-haiku-4-5")
    assert haiku is not None
    assert haiku < 1.05
