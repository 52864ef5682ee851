"""A run records the model the server says answered, and prices that one, through the worker
with the real OpenAIProvider against the fake model server (an OpenAI-compatible endpoint).

The case from the field: only a local OpenAI-compatible server is configured, and a task with
the default model `anthropic/claude-sonnet-4.6` goes there; the server answers with its own
model. The run must say which, and be priced as unknown: not $0, not Sonnet's price.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from backbeat.config import Settings
from backbeat.domain.models import Run
from backbeat.domain.runs import RunStatus
from backbeat.testing import FakeClock
from backbeat.testing.fake_models import FakeModelServer, Reply, ToolCallReply
from backbeat.wiring import Backbeat
from tests.conftest import Tenant, make_backbeat, make_tenant
from tests.worker.harness import make_harness, run

DEFAULT = Settings.model_fields["default_model"].default  # anthropic/claude-sonnet-4.6
SERVED = "SmolLM2-135M-Instruct"


@pytest.fixture
def backbeat(sqlite_url: str, clock: FakeClock) -> Iterator[Backbeat]:
    app = make_backbeat(sqlite_url, clock)
    yield app
    app.close()


@pytest.fixture
def alice(backbeat: Backbeat) -> Tenant:
    return make_tenant(backbeat, "alice@example.com")


def run_once(
    backbeat: Backbeat, clock: FakeClock, alice: Tenant, models: FakeModelServer, **settings: Any
) -> Run:
    """One run of a task with the default model, on a setup whose only provider is the
    compatible endpoint at the fake model server (on 127.0.0.1: a local server)."""
    h = make_harness(
        backbeat,
        clock,
        anthropic_api_key=None,
        compatible_base_url=models.url_openai,
        **settings,
    )
    queued = h.run_now(alice, h.new_task(alice, model=DEFAULT))
    assert run(h.work()) == 1
    return h.get(queued.id)


def test_a_local_server_answering_the_default_model_is_recorded_as_what_it_said(
    backbeat: Backbeat, clock: FakeClock, alice: Tenant, models: FakeModelServer
) -> None:
    models.script(
        ToolCallReply("read_artist_profile", {}, text=""),
        Reply("The report.", input_tokens=900, output_tokens=40, model=SERVED),
    )

    done = run_once(backbeat, clock, alice, models)

    assert done.status is RunStatus.COMPLETED, done.error
    assert done.output is not None
    assert done.output["provider"] == "compatible"
    assert done.output["provider_model"] == SERVED
    assert done.output["price_known"] is False
    assert done.output["usage"]["requests"] == 2
    # What the endpoint was sent: the id as written, the tools with tool_choice, and the
    # assistant's tool call with an empty string for its content.
    first, second = models.requests
    assert first.model == DEFAULT
    assert first.tools
    assert first.body["tool_choice"] == "auto"
    [assistant] = [m for m in second.messages if m.get("role") == "assistant"]
    assert assistant["content"] == ""
    assert assistant["tool_calls"][0]["function"]["name"] == "read_artist_profile"


def test_a_local_server_that_echoes_the_id_is_still_not_priced_as_sonnet(
    backbeat: Backbeat, clock: FakeClock, alice: Tenant, models: FakeModelServer
) -> None:
    # llama-cpp-python's server answers with the model name it was asked for, whatever it ran.
    models.script(Reply("The report.", input_tokens=900, output_tokens=40))

    done = run_once(backbeat, clock, alice, models)

    assert done.status is RunStatus.COMPLETED, done.error
    assert done.output is not None
    assert done.output["provider_model"] == DEFAULT
    assert done.output["price_known"] is False


def test_a_gateway_is_priced_by_the_model_it_says_it_served(
    backbeat: Backbeat, clock: FakeClock, alice: Tenant, models: FakeModelServer
) -> None:
    models.script(
        Reply(
            "The report.", input_tokens=1000, output_tokens=500, model="anthropic/claude-sonnet-4.5"
        )
    )

    done = run_once(backbeat, clock, alice, models, compatible_pricing="vendor")

    assert done.status is RunStatus.COMPLETED, done.error
    assert done.output is not None
    assert done.output["provider_model"] == "anthropic/claude-sonnet-4.5"
    assert done.output["price_known"] is True
    assert done.cost_in_cents == pytest.approx(1.05)  # $3 and $15 per million tokens
