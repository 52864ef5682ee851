"""/api/tasks: list, create, update, delete."""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter, Depends
from starlette.requests import Request
from starlette.responses import Response

from backbeat.api import docs
from backbeat.api.auth import CallerDep, current_caller
from backbeat.api.body import BodyDep
from backbeat.domain.plans import PlanLimitReached
from backbeat.edge.context import backbeat
from backbeat.edge.params import bool_param, limit_param, task_page_size, text_param, uuid_param
from backbeat.edge.requests import CreateTaskRequest, DeleteTaskRequest, UpdateTaskRequest
from backbeat.edge.responses import JSON
from backbeat.edge.serialize import task_page_body, tasks_body
from backbeat.edge.validation import parse_query, validate
from backbeat.services.tasks import TaskView

router = APIRouter(dependencies=[Depends(current_caller)], tags=["tasks"])

LIST_QUERY = {
    "id": uuid_param,
    "account_id": uuid_param,
    "artist_account_id": uuid_param,
    "enabled": bool_param,
    "limit": limit_param,  # extension: a page at a time (without it, every task)
    "cursor": text_param,
}


def _tasks(views: list[TaskView]) -> Response:
    return JSON(tasks_body(views))


@router.get("/api/tasks", **docs.LIST_TASKS)
def list_tasks(request: Request, caller: CallerDep) -> Response:
    query = parse_query(request.query_params.multi_items(), LIST_QUERY)
    cursor = query.get("cursor") or None
    size = task_page_size(query.get("limit"), cursor)
    page = backbeat(request).tasks.page_tasks(
        caller,
        limit=size,
        cursor=cursor,
        account_id=query.get("account_id"),
        task_id=query.get("id"),
        artist_account_id=query.get("artist_account_id"),
        enabled=query.get("enabled"),
    )
    views = page.tasks
    # Read by id, an enabled task its owner's plan does not let run answers the plan's 402
    # (Recoup's worker reads this before each run); lists are never checked.
    blocked = views[0].plan_block if query.get("id") is not None and len(views) == 1 else None
    if blocked is not None:
        raise PlanLimitReached(blocked)
    return JSON(task_page_body(page, paged=size is not None))


@router.post("/api/tasks", **docs.CREATE_TASK)
def create_task(request: Request, caller: CallerDep, body: BodyDep) -> Response:
    parse_query(request.query_params.multi_items(), {})
    valid = validate(CreateTaskRequest, body)
    return _tasks([backbeat(request).tasks.create(caller, valid.draft())])


@router.patch("/api/tasks", **docs.UPDATE_TASK)
def update_task(request: Request, caller: CallerDep, body: BodyDep) -> Response:
    parse_query(request.query_params.multi_items(), {})
    valid = validate(UpdateTaskRequest, body)
    account_id = None if valid.account_id is None else UUID(valid.account_id)
    view = backbeat(request).tasks.update(
        caller, UUID(valid.id), valid.patch(), account_id=account_id
    )
    return _tasks([view])


@router.delete("/api/tasks", **docs.DELETE_TASK)
def delete_task(request: Request, caller: CallerDep, body: BodyDep) -> Response:
    parse_query(request.query_params.multi_items(), {})
    valid = validate(DeleteTaskRequest, body)
    account_id = None if valid.account_id is None else UUID(valid.account_id)
    backbeat(request).tasks.delete(caller, UUID(valid.id), account_id=account_id)
    return JSON({"status": "success"})
