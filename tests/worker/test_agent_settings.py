"""A task's agent settings at work: the tools it allows, its per-call limits, its cost cap
per run (the tool loop stops before a call that could pass it: FAILED, BudgetExceeded, not
retried) and the account's monthly budget (a run that finds it spent does not start)."""

from __future__ import annotations

from typing import Any

from backbeat.agents.base import ModelReply, ToolCall, Usage
from backbeat.agents.tools.registry import TOOLS
from backbeat.domain.failures import AttemptFailed, FailureKind
from backbeat.domain.runs import RunStatus
from backbeat.services.keys import Caller
from backbeat.services.tasks import TaskPatch
from backbeat.testing import FakeClock
from backbeat.testing.fake_provider import ScriptedProvider, reply
from backbeat.wiring import Backbeat
from tests.conftest import Tenant
from tests.worker.harness import Harness, make_harness, run


def expensive_tool_call(number: int) -> ModelReply:
    """A turn that read 10,000 tokens (3 cents on Sonnet 4.5) and calls a tool."""
    call = ToolCall(f"call_{number}", "read_artist_profile", {})
    return ModelReply("", (call,), Usage(10_000, 100, 1), "tool_use")


def finished(h: Harness, tenant: Tenant, task: Any) -> Any:
    queued = h.run_now(tenant, task)
    assert run(h.work()) == 1
    return h.get(queued.id)


def update(h: Harness, tenant: Tenant, task: Any, **fields: Any) -> None:
    caller = Caller(tenant.account_id, tenant.key_id(h.backbeat))
    h.backbeat.tasks.update(caller, task, TaskPatch(**fields))


def test_the_loop_stops_before_a_call_that_could_pass_the_cap(
    backbeat: Backbeat, clock: FakeClock, alice: Tenant
) -> None:
    provider = ScriptedProvider(*(expensive_tool_call(n) for n in range(10)))
    h = make_harness(backbeat, clock, provider)
    task = h.new_task(alice, max_run_cost_usd=0.10, max_output_tokens=1_000)
    done = finished(h, alice, task)

    assert done.status is RunStatus.FAILED
    assert done.error is not None
    assert done.error["name"] == "BudgetExceeded"
    assert "max_run_cost_usd of $0.1" in done.error["message"]
    assert done.attempt_count == 1  # not retried
    # 2 × 3.15 cents spent; a 3rd call reads at least the 10,000 tokens the 2nd did (3 cents)
    # and may write 1,000 (1.5 cents): it could pass 10 cents, so it is not made.
    assert len(provider.requests) == 2
    assert done.cost_in_cents == 6.3
    assert done.output is not None
    assert len(done.output["tool_calls"]) == 2  # what it did before it stopped is kept
    counted = backbeat.metrics.registry.get_sample_value("backbeat_runs_over_budget_total")
    assert counted == 1.0


def test_per_call_limits_and_tools_come_from_the_task(
    backbeat: Backbeat, clock: FakeClock, alice: Tenant
) -> None:
    provider = ScriptedProvider()
    h = make_harness(backbeat, clock, provider)
    task = h.new_task(
        alice,
        tools=["read_artist_profile", "fetch_web_page"],
        max_output_tokens=2_000,
        model_timeout_seconds=30.0,
    )
    assert finished(h, alice, task).status is RunStatus.COMPLETED
    asked = provider.requests[-1]
    assert [spec.name for spec in asked.tools] == ["read_artist_profile", "fetch_web_page"]
    assert asked.max_output_tokens == 2_000
    assert asked.timeout_seconds == 30.0

    update(h, alice, task, tools=[], max_output_tokens=None, model_timeout_seconds=None)
    assert finished(h, alice, task).status is RunStatus.COMPLETED
    asked = provider.requests[-1]
    assert asked.tools == ()
    assert asked.max_output_tokens == backbeat.settings.max_output_tokens
    assert asked.timeout_seconds == backbeat.settings.model_timeout_seconds

    update(h, alice, task, tools=None)
    assert finished(h, alice, task).status is RunStatus.COMPLETED
    assert [spec.name for spec in provider.requests[-1].tools] == [t.spec.name for t in TOOLS]


def test_a_tool_this_worker_lacks_fails_the_run_clearly(
    backbeat: Backbeat, clock: FakeClock, alice: Tenant
) -> None:
    provider = ScriptedProvider()
    h = make_harness(backbeat, clock, provider)
    task = h.new_task(alice, tools=["web_search"])
    done = finished(h, alice, task)
    assert done.status is RunStatus.SYSTEM_FAILURE  # the worker's setup, not the task
    assert done.error is not None
    assert done.error["name"] == "ToolUnavailable"
    assert "BACKBEAT_SEARCH_PROVIDER" in done.error["message"]
    assert provider.requests == []


def test_an_unknown_price_cannot_be_kept_under_a_cap(
    backbeat: Backbeat, clock: FakeClock, alice: Tenant
) -> None:
    provider = ScriptedProvider()
    h = make_harness(backbeat, clock, provider)
    task = h.new_task(alice, model="claude-nonesuch-9", max_run_cost_usd=1.0)
    done = finished(h, alice, task)
    assert done.status is RunStatus.FAILED
    assert done.error is not None
    assert "price is unknown" in done.error["message"]
    assert provider.requests == []


def test_a_spent_monthly_budget_stops_runs_from_starting(
    backbeat: Backbeat, clock: FakeClock, alice: Tenant
) -> None:
    provider = ScriptedProvider(reply("first", tokens=(10_000, 100)))
    h = make_harness(backbeat, clock, provider)
    task = h.new_task(alice, pause_after_failures=1)
    first = finished(h, alice, task)
    assert first.status is RunStatus.COMPLETED
    assert first.cost_in_cents > 3.0

    backbeat.usage.set_monthly_budget(alice.account_id, 0.03)  # 3 cents: already spent
    stopped = finished(h, alice, task)
    assert stopped.status is RunStatus.FAILED
    assert stopped.error is not None
    assert stopped.error["name"] == "MonthlyBudgetExceeded"
    assert "monthly budget of $0.03 is spent" in stopped.error["message"]
    assert stopped.attempt_count == 1
    assert len(provider.requests) == 1  # the model was not called
    with backbeat.uow() as uow:
        kept = uow.tasks.get(task)
    assert kept is not None
    assert kept.is_active  # a budget stop never pauses a task: the budget starts over

    clock.advance(days=31)  # a new month: the budget starts over
    update(h, alice, task, max_output_tokens=100)  # so that a call fits in 3 cents
    assert finished(h, alice, task).status is RunStatus.COMPLETED


def test_what_is_left_of_the_monthly_budget_caps_a_run(
    backbeat: Backbeat, clock: FakeClock, alice: Tenant
) -> None:
    provider = ScriptedProvider(*(expensive_tool_call(n) for n in range(10)))
    h = make_harness(backbeat, clock, provider)
    backbeat.usage.set_monthly_budget(alice.account_id, 0.05)  # 5 cents
    task = h.new_task(alice, max_run_cost_usd=10.0, max_output_tokens=1_000)
    done = finished(h, alice, task)
    assert done.status is RunStatus.FAILED
    assert done.error is not None
    assert "the account's monthly budget of $0.05" in done.error["message"]
    assert done.cost_in_cents <= 5.0  # never past what was left
    assert len(provider.requests) < 10


def test_the_cap_counts_what_earlier_attempts_of_the_run_spent(
    backbeat: Backbeat, clock: FakeClock, alice: Tenant
) -> None:
    """A retried run does not start over at $0: the cap is one run's, whatever its attempts."""
    busy = AttemptFailed(FailureKind.SERVER, "overloaded")
    steps = [expensive_tool_call(1), busy, *(expensive_tool_call(n) for n in range(2, 9))]
    provider = ScriptedProvider(*steps)
    h = make_harness(backbeat, clock, provider)
    task = h.new_task(alice, max_run_cost_usd=0.10, max_output_tokens=1_000)
    queued = h.run_now(alice, task)
    assert run(h.work()) == 1
    assert h.get(queued.id).status is RunStatus.REATTEMPTING
    assert h.get(queued.id).cost_in_cents == 3.15
    clock.advance(minutes=1)
    assert run(h.work()) == 1
    done = h.get(queued.id)
    assert done.status is RunStatus.FAILED
    assert done.error is not None
    assert done.error["name"] == "BudgetExceeded"
    # 3.15 cents before the retry and 3.15 in it: a third call could pass 10 cents. Counting
    # only the retry's own spend, it would have made one more call.
    assert len(provider.requests) == 3
    assert done.cost_in_cents == 6.3
