"""The task's agent extension fields as every door reads them: `tools`, `max_run_cost_usd`,
`max_output_tokens`, `model_timeout_seconds` (domain.agent_settings). Ranges are checked
here; tool names by the service, which knows the registered MCP servers."""

from __future__ import annotations

import math
from typing import Annotated, Any

from pydantic import AfterValidator, WithJsonSchema
from pydantic_core import PydanticCustomError

from backbeat.domain.agent_settings import (
    BUILTIN_TOOLS,
    MAX_MODEL_TIMEOUT_SECONDS,
    MAX_OUTPUT_TOKENS,
    MAX_RUN_COST_USD,
    MAX_TOOLS,
)
from backbeat.edge.extension import EXTENSION

AGENT_FIELD_NAMES = ("tools", "max_run_cost_usd", "max_output_tokens", "model_timeout_seconds")


def _fail(message: str) -> PydanticCustomError:
    return PydanticCustomError("backbeat", "{message}", {"message": message})


def _between(field: str, low: float, high: float, *, low_open: bool = False) -> AfterValidator:
    def check(value: float | None) -> float | None:
        if value is None:
            return None
        if (
            isinstance(value, bool)
            or not math.isfinite(value)  # NaN would pass every comparison below
            or value > high
            or value < low
            or (low_open and value == low)
        ):
            shown = f"greater than {low:g}" if low_open else f"at least {low:g}"
            raise _fail(f"{field} must be {shown} and at most {high:g}")
        return float(value) if field != "max_output_tokens" else value

    return AfterValidator(check)


def _tool_list(value: list[str] | None) -> list[str] | None:
    if value is not None and len(value) > MAX_TOOLS:
        raise _fail(f"at most {MAX_TOOLS} tools")
    return value


def _schema(kind: str | list[str], description: str, **extra: Any) -> WithJsonSchema:
    return WithJsonSchema({"type": kind, "description": description, **extra, **EXTENSION})


Tools = Annotated[
    list[str] | None,
    AfterValidator(_tool_list),
    _schema(
        ["array", "null"],
        "Extension: the tools the model may use: built-in names ("
        + ", ".join(BUILTIN_TOOLS)
        + ") and SERVER/tool names of registered MCP servers; null (default): the built-ins; "
        "[]: none.",
        items={"type": "string"},
        maxItems=MAX_TOOLS,
    ),
]
MaxRunCost = Annotated[
    float | int | None,
    _between("max_run_cost_usd", 0, MAX_RUN_COST_USD, low_open=True),
    _schema(
        ["number", "null"],
        "Extension: the most one run may spend on model calls, in US dollars; the run stops "
        "with BudgetExceeded before a call that could pass it (null: no cap).",
        exclusiveMinimum=0,
        maximum=MAX_RUN_COST_USD,
    ),
]
MaxOutputTokens = Annotated[
    int | None,
    _between("max_output_tokens", 1, MAX_OUTPUT_TOKENS),
    _schema(
        ["integer", "null"],
        "Extension: the most tokens one model answer may have (server setting when null).",
        minimum=1,
        maximum=MAX_OUTPUT_TOKENS,
    ),
]
ModelTimeout = Annotated[
    float | int | None,
    _between("model_timeout_seconds", 0, MAX_MODEL_TIMEOUT_SECONDS, low_open=True),
    _schema(
        ["number", "null"],
        "Extension: how long one model call may take, in seconds (server setting when null).",
        exclusiveMinimum=0,
        maximum=MAX_MODEL_TIMEOUT_SECONDS,
    ),
]
