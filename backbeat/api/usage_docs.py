"""The served schema of GET /api/accounts/usage (an extension)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import ConfigDict, with_config
from typing_extensions import TypedDict

from backbeat.api.docs import DateTime, _described, _error, _ok, _query
from backbeat.api.webhook_docs import _extension
from backbeat.edge.extension import EXTENSION


@with_config(ConfigDict(json_schema_extra=EXTENSION))
class AccountUsage(TypedDict):
    """Extension: an account's model spend this month (UTC) against its monthly budget."""

    status: Literal["success"]
    account_id: Annotated[str, _described("The account")]
    month_start: Annotated[str, DateTime]
    spent_usd: Annotated[float, _described("Model cost of its runs created this month")]
    monthly_budget_usd: Annotated[
        float | None, _described("Set by an operator; null: no monthly budget")
    ]
    left_usd: Annotated[float | None, _described("What runs may still spend; null: no budget")]


RESPONSE_MODELS: list[Any] = [AccountUsage]

USAGE: dict[str, Any] = _extension(
    "This month's model spend",
    "The model cost of the caller's account's runs (or of `account_id`'s) created since the "
    "first of the month, UTC, and its monthly budget when an operator set one (`backbeat "
    "accounts set-budget`). A run that finds the budget spent does not start "
    "(MonthlyBudgetExceeded); a run that starts may spend only what is left.",
    {200: _ok("The month so far", "AccountUsage"), 400: _error("Invalid query")},
    parameters=[
        _query(
            "account_id",
            "Extension: this account's usage, when the caller may act for it.",
            {"type": "string", "format": "uuid"},
        )
    ],
)
