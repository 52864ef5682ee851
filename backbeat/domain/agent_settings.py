"""What a task lets its agent do and spend (extension fields of the Task), and the budget
rules: pure, no framework.

- `tools`: the tools the model is offered, built-in names and `SERVER/tool` names of MCP
  servers; None (the default) offers the built-ins as before. An empty list offers none.
- `max_run_cost_usd`: a cap on one run's model cost. The tool loop stops before a model call
  that could take the run past it (its input as sent, its output at the most it may write),
  and the run ends FAILED with `BudgetExceeded`, not retried.
- `max_output_tokens`, `model_timeout_seconds`: per model call; the settings' values when
  None.

An account's monthly budget (set by an operator) is spent by the cost of its runs created
since the first of the month (UTC): a run that finds it spent does not start, and a run that
starts may spend only what is left of it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

from backbeat.domain.errors import InvalidInput
from backbeat.domain.failures import AttemptFailed, FailureKind

# The built-in tools, by the name the model sees (agents.tools; a test checks they agree).
BUILTIN_TOOLS = (
    "read_artist_profile",
    "read_previous_outputs",
    "fetch_web_page",
    "web_search",
    "send_email",
)
MAX_TOOLS = 50
MCP_TOOL = re.compile(r"^(?P<server>[A-Za-z0-9_-]{1,40})/(?P<tool>[A-Za-z0-9_.-]{1,64})$")
MAX_RUN_COST_USD = 1_000.0
MAX_OUTPUT_TOKENS = 64_000
MAX_MODEL_TIMEOUT_SECONDS = 3_600.0


@dataclass(frozen=True, slots=True)
class AgentSettings:
    tools: tuple[str, ...] | None = None
    max_run_cost_usd: float | None = None
    max_output_tokens: int | None = None
    model_timeout_seconds: float | None = None

    @property
    def mcp_tools(self) -> tuple[str, ...]:
        return tuple(name for name in self.tools or () if "/" in name)


NO_SETTINGS = AgentSettings()


def checked_tools(names: list[str] | None) -> tuple[str, ...] | None:
    """The tool list as stored: known built-ins and well-formed MCP names, without repeats
    (whether the MCP server exists is the service's to check)."""
    if names is None:
        return None
    found: list[str] = []
    for index, given in enumerate(names):
        name = given.strip()
        if name not in BUILTIN_TOOLS and MCP_TOOL.match(name) is None:
            raise InvalidInput(
                f"unknown tool {given!r}: use {', '.join(BUILTIN_TOOLS)} or SERVER/tool for "
                "a tool of a registered MCP server",
                path=["tools", index],
            )
        if name not in found:
            found.append(name)
    if len(found) > MAX_TOOLS:
        raise InvalidInput(f"at most {MAX_TOOLS} tools", path=["tools"])
    return tuple(found)


def month_start(now: datetime) -> datetime:
    """The first instant of `now`'s month, UTC: where a monthly budget starts over."""
    now = now.astimezone(UTC)
    return now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def dollars(cents: float) -> str:
    return f"${cents / 100:,.4f}".rstrip("0").rstrip(".") if cents else "$0"


def monthly_budget_left(
    budget_usd: float | None, spent_cents: float, since: datetime
) -> float | None:
    """Cents the account may still spend this month (None: no budget). Raises when none is
    left: the run does not start."""
    if budget_usd is None:
        return None
    left = budget_usd * 100 - spent_cents
    if left <= 0:
        raise AttemptFailed(
            FailureKind.BUDGET,
            f"the account's monthly budget of {dollars(budget_usd * 100)} is spent "
            f"({dollars(spent_cents)} since {since.date().isoformat()} UTC); the run did not "
            "start",
            name="MonthlyBudgetExceeded",
        )
    return left


@dataclass(frozen=True, slots=True)
class RunBudget:
    """The most a run may spend, in cents: the task's cap, or what is left of the account's
    monthly budget, whichever is less (None: no cap)."""

    task_cap_cents: float | None
    monthly_left_cents: float | None

    @property
    def cents(self) -> float | None:
        caps = [c for c in (self.task_cap_cents, self.monthly_left_cents) if c is not None]
        return min(caps) if caps else None

    def check(self, spent_cents: float, next_call_cents: float | None) -> None:
        """Raise BudgetExceeded when the next call, at its most, could pass the cap; an
        unknown price cannot be kept under a cap."""
        cap = self.cents
        if cap is None:
            return
        which = (
            "max_run_cost_usd"
            if self.monthly_left_cents is None
            or (self.task_cap_cents is not None and self.task_cap_cents <= self.monthly_left_cents)
            else "the account's monthly budget"
        )
        if next_call_cents is None:
            raise AttemptFailed(
                FailureKind.BUDGET,
                f"the model's price is unknown, so its cost cannot be kept under {which}",
                name="BudgetExceeded",
            )
        if not spent_cents + next_call_cents <= cap:  # a NaN anywhere refuses, never passes
            raise AttemptFailed(
                FailureKind.BUDGET,
                f"the next model call could cost up to {dollars(next_call_cents)}, which would "
                f"take this run past {which} of {dollars(cap)} ({dollars(spent_cents)} spent)",
                name="BudgetExceeded",
            )
