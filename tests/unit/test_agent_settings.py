"""domain.agent_settings: tool names, the month a budget covers, and the run's cost cap."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta, timezone
from uuid import uuid4

import pytest

from backbeat.agents.tools.registry import TOOLS
from backbeat.domain.agent_settings import (
    BUILTIN_TOOLS,
    RunBudget,
    checked_tools,
    dollars,
    month_start,
    monthly_budget_left,
)
from backbeat.domain.errors import InvalidInput
from backbeat.domain.failures import AttemptFailed, FailureKind
from backbeat.edge.requests import UpdateTaskRequest
from backbeat.edge.validation import validate


def test_the_builtin_names_are_the_registrys_and_web_search() -> None:
    assert sorted(BUILTIN_TOOLS) == sorted([tool.spec.name for tool in TOOLS] + ["web_search"])


def test_tool_lists_are_checked_and_kept_in_order_without_repeats() -> None:
    assert checked_tools(None) is None
    assert checked_tools([]) == ()
    assert checked_tools([" send_email", "charts/top_songs", "send_email"]) == (
        "send_email",
        "charts/top_songs",
    )
    with pytest.raises(InvalidInput, match="unknown tool 'rm -rf'") as refused:
        checked_tools(["read_artist_profile", "rm -rf"])
    assert refused.value.path == ["tools", 1]
    with pytest.raises(InvalidInput, match="at most 50 tools"):
        checked_tools([f"server/tool_{n}" for n in range(51)])


def test_a_month_starts_on_the_first_at_midnight_utc() -> None:
    late = datetime(2026, 12, 31, 23, 30, tzinfo=timezone(timedelta(hours=-5)))
    assert month_start(late) == datetime(2027, 1, 1, tzinfo=UTC)
    assert month_start(datetime(2026, 12, 7, 21, 0, tzinfo=UTC)) == datetime(
        2026, 12, 1, tzinfo=UTC
    )


def test_dollars_read_plainly() -> None:
    assert [dollars(c) for c in (0, 5, 10, 100, 12345, 0.63)] == [
        "$0",
        "$0.05",
        "$0.1",
        "$1",
        "$123.45",
        "$0.0063",
    ]


def test_a_spent_monthly_budget_raises_and_a_left_one_is_cents() -> None:
    since = datetime(2026, 12, 1, tzinfo=UTC)
    assert monthly_budget_left(None, 10_000.0, since) is None
    assert monthly_budget_left(1.0, 40.0, since) == 60.0
    with pytest.raises(AttemptFailed) as spent:
        monthly_budget_left(1.0, 100.0, since)
    assert spent.value.kind is FailureKind.BUDGET
    assert not spent.value.kind.retryable
    assert spent.value.name == "MonthlyBudgetExceeded"


def test_the_cap_is_the_smaller_of_the_tasks_and_the_months() -> None:
    assert RunBudget(None, None).cents is None
    assert RunBudget(50.0, None).cents == 50.0
    assert RunBudget(50.0, 20.0).cents == 20.0
    RunBudget(None, None).check(1e9, None)  # no cap: nothing to keep
    RunBudget(50.0, None).check(40.0, 10.0)  # exactly at the cap is within it
    with pytest.raises(AttemptFailed, match=r"past max_run_cost_usd of \$0\.5"):
        RunBudget(50.0, None).check(40.0, 10.5)
    with pytest.raises(AttemptFailed, match=r"past the account.s monthly budget of \$0\.2"):
        RunBudget(50.0, 20.0).check(15.0, 6.0)
    with pytest.raises(AttemptFailed, match="price is unknown"):
        RunBudget(50.0, None).check(0.0, None)


def test_nan_and_infinity_are_refused_at_the_edge_and_never_pass_a_cap() -> None:
    # The REST API's JSON parser refuses NaN, but MCP's and the CLI's do not.
    for field in ("max_run_cost_usd", "model_timeout_seconds"):
        for value in (math.nan, math.inf):
            with pytest.raises(InvalidInput, match=f"{field} must be greater than 0"):
                validate(UpdateTaskRequest, {"id": str(uuid4()), field: value})
    with pytest.raises(AttemptFailed, match="past max_run_cost_usd"):
        RunBudget(math.nan, None).check(0.0, 1.0)
