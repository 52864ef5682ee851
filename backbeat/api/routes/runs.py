"""/api/tasks/runs: one run in full, or the caller's recent runs."""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter, Depends
from starlette.requests import Request
from starlette.responses import Response

from backbeat.api import run_docs
from backbeat.api.auth import CallerDep, current_caller
from backbeat.api.body import BodyDep
from backbeat.domain.errors import NotFound
from backbeat.edge.context import backbeat
from backbeat.edge.params import (
    DEFAULT_PAGE_SIZE,
    limit_param,
    status_param,
    text_param,
    uuid_param,
)
from backbeat.edge.requests import CancelRunRequest, TriggerRunRequest
from backbeat.edge.responses import JSON
from backbeat.edge.serialize import run_json
from backbeat.edge.validation import parse_query, validate

router = APIRouter(dependencies=[Depends(current_caller)], tags=["runs"])

RUNS_QUERY = {
    "runId": text_param,
    "account_id": uuid_param,
    "limit": limit_param,
    "task_id": uuid_param,
    "status": status_param,
    "cursor": text_param,
}


@router.get("/api/tasks/runs", **run_docs.LIST_RUNS)
def runs(request: Request, caller: CallerDep) -> Response:
    query = parse_query(request.query_params.multi_items(), RUNS_QUERY)
    app = backbeat(request)
    run_id = (query.get("runId") or "").strip()
    if run_id:  # a blank runId means "no runId"
        if "\x00" in run_id:  # no run has one, and PostgreSQL refuses to even compare it
            raise NotFound("Task run not found")
        run = app.runs.get(caller, run_id)
        return JSON({"status": "success", "runs": [run_json(run, full=True)]})
    page = app.runs.list_runs(
        caller,
        limit=query.get("limit", DEFAULT_PAGE_SIZE),
        account_id=query.get("account_id"),
        task_id=query.get("task_id"),
        status=query.get("status"),
        cursor=query.get("cursor") or None,
    )
    return JSON(
        {
            "status": "success",
            "runs": [run_json(run, full=False) for run in page.runs],
            "next_cursor": page.next_cursor,
        }
    )


@router.post("/api/tasks/runs/trigger", **run_docs.TRIGGER_RUN)
def trigger_run(request: Request, caller: CallerDep, body: BodyDep) -> Response:
    parse_query(request.query_params.multi_items(), {})
    valid = validate(TriggerRunRequest, body)
    account_id = None if valid.account_id is None else UUID(valid.account_id)
    run = backbeat(request).runs.trigger(
        caller, UUID(valid.task_id), account_id=account_id, is_test=bool(valid.is_test)
    )
    return JSON({"status": "success", "runs": [run_json(run, full=True)]})


@router.post("/api/tasks/runs/cancel", **run_docs.CANCEL_RUN)
def cancel_run(request: Request, caller: CallerDep, body: BodyDep) -> Response:
    parse_query(request.query_params.multi_items(), {})
    valid = validate(CancelRunRequest, body)
    run = backbeat(request).runs.cancel(caller, valid.runId.strip())
    return JSON({"status": "success", "runs": [run_json(run, full=True)]})
