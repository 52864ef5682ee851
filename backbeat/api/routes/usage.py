"""/api/accounts/usage: an account's model spend this month against its budget (extension)."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from starlette.requests import Request
from starlette.responses import Response

from backbeat.api import usage_docs
from backbeat.api.auth import CallerDep, current_caller
from backbeat.domain.clock import iso_utc
from backbeat.edge.context import backbeat
from backbeat.edge.params import uuid_param
from backbeat.edge.responses import JSON
from backbeat.edge.validation import parse_query

router = APIRouter(dependencies=[Depends(current_caller)], tags=["usage"])


def _usd(cents: float | None) -> float | None:
    return None if cents is None else round(cents / 100, 6)


@router.get("/api/accounts/usage", **usage_docs.USAGE)
def usage(request: Request, caller: CallerDep) -> Response:
    query = parse_query(request.query_params.multi_items(), {"account_id": uuid_param})
    month = backbeat(request).usage.this_month(caller, query.get("account_id"))
    return JSON(
        {
            "status": "success",
            "account_id": str(month.account_id),
            "month_start": iso_utc(month.month_start),
            "spent_usd": _usd(month.spent_cents),
            "monthly_budget_usd": month.budget_usd,
            "left_usd": _usd(month.left_cents),
        }
    )
