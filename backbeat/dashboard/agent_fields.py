"""The task form's Agent section: the tools the model may use, the cap on one run's cost, and
the per-call limits, read from the form as the API's own `tools`, `max_run_cost_usd`,
`max_output_tokens` and `model_timeout_seconds` fields (the request models check the ranges
and TaskService the tool names, as for the API), and shown back.

Tools: "all built-in tools" is the default (`tools` null); "pick" sends the checked built-ins
(none checked: `[]`, no tools). A stored tool that is not a built-in (an MCP server's
`SERVER/tool`) has no checkbox: the form keeps it, in a hidden field, unless the default is
chosen.

And the tasks page's line of the account's model spend this month, against its budget.
"""

from __future__ import annotations

import re
from typing import Any

from backbeat.domain.agent_settings import (
    BUILTIN_TOOLS,
    MAX_MODEL_TIMEOUT_SECONDS,
    MAX_OUTPUT_TOKENS,
    MAX_RUN_COST_USD,
)
from backbeat.domain.errors import InvalidInput
from backbeat.domain.models import Task
from backbeat.services.usage import MonthlyUsage

TOOLS = "agent_tools"  # "" (the built-ins, default) or PICK
PICK = "pick"
KEPT_TOOLS = "agent_tools_kept"  # stored tools without a checkbox, comma-separated
COST = "max_run_cost_usd"
TOKENS = "max_output_tokens"
TIMEOUT = "model_timeout_seconds"
NUMBERS = (COST, TOKENS, TIMEOUT)


def tool_field(name: str) -> str:
    """The checkbox of a built-in tool."""
    return f"agent_tool_{name}"


# The section's fields whose value the form shows back.
FIELDS = (TOOLS, KEPT_TOOLS, *(tool_field(name) for name in BUILTIN_TOOLS), *NUMBERS)

TOOLS_CHOICES = (("", "All built-in tools (default)"), (PICK, "Only the tools checked"))
# For what is not even a number: the request models' words (edge.agent_fields).
_NOT_A_NUMBER = {
    COST: f"{COST} must be greater than 0 and at most {MAX_RUN_COST_USD:g}",
    TOKENS: f"{TOKENS} must be a whole number, at least 1 and at most {MAX_OUTPUT_TOKENS:g}",
    TIMEOUT: f"{TIMEOUT} must be greater than 0 and at most {MAX_MODEL_TIMEOUT_SECONDS:g}",
}
_DECIMAL = re.compile(
    r"[+-]?(?:[0-9]{1,12}(?:\.[0-9]{0,12})?|\.[0-9]{1,12})(?:[eE][+-]?[0-9]{1,3})?"
)
_WHOLE = re.compile(r"[+-]?[0-9]{1,12}")


def _number_text(value: float | None) -> str:
    if value is None:
        return ""
    text = repr(float(value))
    return text[:-2] if text.endswith(".0") else text


def values_of(task: Task) -> dict[str, str]:
    """The section as the edit form first shows it."""
    agent = task.agent
    tools = agent.tools
    values = {
        TOOLS: "" if tools is None else PICK,
        KEPT_TOOLS: ", ".join(name for name in tools or () if name not in BUILTIN_TOOLS),
        COST: _number_text(agent.max_run_cost_usd),
        TOKENS: "" if agent.max_output_tokens is None else str(agent.max_output_tokens),
        TIMEOUT: _number_text(agent.model_timeout_seconds),
    }
    for name in BUILTIN_TOOLS:
        values[tool_field(name)] = "1" if tools is not None and name in tools else ""
    return values


def _number(name: str, text: str) -> float | int | None:
    text = text.strip()  # "1,5" is refused, never read as 15
    if not text:
        return None
    if name == TOKENS:
        if not _WHOLE.fullmatch(text):
            raise InvalidInput(_NOT_A_NUMBER[name], [name])
        return int(text)
    if not _DECIMAL.fullmatch(text):
        raise InvalidInput(_NOT_A_NUMBER[name], [name])
    return float(text)


def api_fields(form: dict[str, str]) -> dict[str, Any]:
    """The section as the API's request fields, for the fields the form sent (a form without
    them leaves the task's setting as it is)."""
    data: dict[str, Any] = {}
    if TOOLS in form:
        choice = form[TOOLS].strip()
        if choice not in dict(TOOLS_CHOICES):
            raise InvalidInput("choose all built-in tools or the tools checked", ["tools"])
        if not choice:
            data["tools"] = None
        else:
            picked = [name for name in BUILTIN_TOOLS if form.get(tool_field(name))]
            kept = [part for part in re.split(r"[,\s]+", form.get(KEPT_TOOLS, "")) if part]
            data["tools"] = picked + kept
    for name in NUMBERS:
        if name in form:
            data[name] = _number(name, form[name])
    return data


def field_of(error: InvalidInput) -> str | None:
    """The section's field an error is about, if it is one of them."""
    where = str(error.path[0]) if error.path else None
    if where == "tools":
        return TOOLS
    return where if where in NUMBERS else None


def _dollars(usd: float) -> str:
    if round(usd, 2) == usd:
        return f"${usd:,.2f}"
    return f"${usd:,.6f}".rstrip("0")


def summary(task: Task) -> str:
    """One line for the task's page: the tools offered, the cost cap, the per-call limits
    (those left to the server's settings are not mentioned)."""
    agent = task.agent
    if agent.tools is None:
        parts = ["built-in tools"]
    elif not agent.tools:
        parts = ["no tools"]
    else:
        parts = ["tools " + ", ".join(agent.tools)]
    cost = agent.max_run_cost_usd
    parts.append("no cost cap" if cost is None else f"at most {_dollars(cost)} per run")
    if agent.max_output_tokens is not None:
        tokens = agent.max_output_tokens
        parts.append(f"{tokens:,} output token{'s' if tokens != 1 else ''}")
    if agent.model_timeout_seconds is not None:
        parts.append(f"{agent.model_timeout_seconds:g} s per model call")
    return "Agent: " + " · ".join(parts)


def _cents(cents: float) -> str:
    """Dollars: to the cent, or finer for fractions of a cent (a cheap model's)."""
    text = f"{cents / 100:,.4f}".rstrip("0")
    whole, _, fraction = text.partition(".")
    return f"${whole}.{fraction.ljust(2, '0')}"


def month_spend(usage: MonthlyUsage) -> str:
    """The tasks page's line: the account's model spend since the first of the month (UTC),
    against its monthly budget if it has one."""
    line = f"This month: {_cents(usage.spent_cents)} spent"
    left = usage.left_cents
    if usage.budget_usd is not None and left is not None:
        line += f" of {_cents(usage.budget_usd * 100)} ({_cents(left)} left)"
        if left <= 0:
            line += "; new runs do not start until next month"
    return line
