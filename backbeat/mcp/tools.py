"""The tools: Recoup's five task tools (`create_task`, `get_tasks`, `update_task`,
`delete_task`, `get_task_run_status`) with Recoup's argument names, and Backbeat's
`run_task_now`, `cancel_run` and `list_runs`.

Each tool reads its raw arguments, validates them with the API's request models (so a bad
argument answers the API's message), calls the same service as the API for the caller the
key names, and answers the API's success body as JSON. A refusal (bad arguments, not found,
access denied, the plan's limit…) is a tool error (`isError`) whose text is the API's
message and whose structured content is the API's error body.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import orjson
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.tools import Tool
from mcp_types import CallToolResult, TextContent, ToolAnnotations
from pydantic import BaseModel

from backbeat.domain.errors import BackbeatError, InvalidInput
from backbeat.domain.plans import PlanLimitReached
from backbeat.edge.errors import error_body
from backbeat.edge.params import DEFAULT_PAGE_SIZE, task_page_size
from backbeat.edge.requests import (
    CancelRunRequest,
    CreateTaskRequest,
    DeleteTaskRequest,
    TriggerRunRequest,
    UpdateTaskRequest,
)
from backbeat.edge.serialize import run_json, task_page_body, tasks_body
from backbeat.edge.validation import validate
from backbeat.mcp import descriptions as text
from backbeat.mcp.arguments import (
    GetTasksArguments,
    ListRunsArguments,
    RunIdArguments,
    tool_schema,
)
from backbeat.mcp.auth import CallerSource
from backbeat.services.keys import Caller
from backbeat.wiring import Backbeat

Handler = Callable[[Caller, dict[str, Any]], dict[str, Any]]


def success(body: dict[str, Any]) -> CallToolResult:
    return CallToolResult(
        content=[TextContent(type="text", text=orjson.dumps(body).decode())],
        structured_content=body,
    )


def failure(exc: BackbeatError) -> CallToolResult:
    """The API's error body; its message is the text a model reads."""
    if isinstance(exc, PlanLimitReached):  # Recoup's own body: `error` is "plan_limit"
        body = exc.refusal.body()
    else:
        body = error_body(exc.message, exc.path if isinstance(exc, InvalidInput) else None)
    return CallToolResult(
        content=[TextContent(type="text", text=str(body["message"]))],
        structured_content=body,
        is_error=True,
    )


def raw_arguments(ctx: Context[Any, Any]) -> dict[str, Any]:
    """The call's arguments as sent: validated here, by the API's models, not by the SDK."""
    params = ctx.request_context.params or {}
    arguments = params.get("arguments")
    return dict(arguments) if isinstance(arguments, dict) else {}


def _uuid(value: str | None) -> UUID | None:
    return None if value is None else UUID(value)


@dataclass(frozen=True)
class Handlers:
    """What each tool does, as the API's routes do it."""

    backbeat: Backbeat

    def create_task(self, caller: Caller, arguments: dict[str, Any]) -> dict[str, Any]:
        valid = validate(CreateTaskRequest, arguments)
        return tasks_body([self.backbeat.tasks.create(caller, valid.draft())])

    def get_tasks(self, caller: Caller, arguments: dict[str, Any]) -> dict[str, Any]:
        valid = validate(GetTasksArguments, arguments)
        cursor = valid.cursor or None
        size = task_page_size(valid.limit, cursor)  # as GET /api/tasks pages
        page = self.backbeat.tasks.page_tasks(
            caller,
            limit=size,
            cursor=cursor,
            account_id=valid.account_id,
            task_id=valid.id,
            artist_account_id=valid.artist_account_id,
            enabled=valid.enabled,
        )
        views = page.tasks
        # As GET /api/tasks?id=: an enabled task its owner's plan does not let run is the
        # plan's refusal; lists are never checked.
        blocked = views[0].plan_block if valid.id is not None and len(views) == 1 else None
        if blocked is not None:
            raise PlanLimitReached(blocked)
        return task_page_body(page, paged=size is not None)

    def update_task(self, caller: Caller, arguments: dict[str, Any]) -> dict[str, Any]:
        valid = validate(UpdateTaskRequest, arguments)
        view = self.backbeat.tasks.update(
            caller, UUID(valid.id), valid.patch(), account_id=_uuid(valid.account_id)
        )
        return tasks_body([view])

    def delete_task(self, caller: Caller, arguments: dict[str, Any]) -> dict[str, Any]:
        valid = validate(DeleteTaskRequest, arguments)
        self.backbeat.tasks.delete(caller, UUID(valid.id), account_id=_uuid(valid.account_id))
        return {"status": "success"}

    def get_task_run_status(self, caller: Caller, arguments: dict[str, Any]) -> dict[str, Any]:
        valid = validate(RunIdArguments, arguments)
        run = self.backbeat.runs.get(caller, valid.runId.strip())
        return {"status": "success", "runs": [run_json(run, full=True)]}

    def run_task_now(self, caller: Caller, arguments: dict[str, Any]) -> dict[str, Any]:
        valid = validate(TriggerRunRequest, arguments)
        run = self.backbeat.runs.trigger(
            caller,
            UUID(valid.task_id),
            account_id=_uuid(valid.account_id),
            is_test=bool(valid.is_test),
        )
        return {"status": "success", "runs": [run_json(run, full=True)]}

    def cancel_run(self, caller: Caller, arguments: dict[str, Any]) -> dict[str, Any]:
        valid = validate(CancelRunRequest, arguments)
        run = self.backbeat.runs.cancel(caller, valid.runId.strip())
        return {"status": "success", "runs": [run_json(run, full=True)]}

    def list_runs(self, caller: Caller, arguments: dict[str, Any]) -> dict[str, Any]:
        valid = validate(ListRunsArguments, arguments)
        page = self.backbeat.runs.list_runs(
            caller,
            limit=valid.limit or DEFAULT_PAGE_SIZE,
            account_id=valid.account_id,
            task_id=valid.task_id,
            status=valid.status,
            cursor=valid.cursor or None,
        )
        return {
            "status": "success",
            "runs": [run_json(run, full=False) for run in page.runs],
            "next_cursor": page.next_cursor,
        }


@dataclass(frozen=True)
class Spec:
    name: str
    title: str
    description: str
    arguments: type[BaseModel]
    described: dict[str, str]
    annotations: ToolAnnotations


READ = ToolAnnotations(read_only_hint=True, open_world_hint=False)
WRITE = ToolAnnotations(read_only_hint=False, destructive_hint=False, open_world_hint=False)
EDIT = ToolAnnotations(
    read_only_hint=False, destructive_hint=False, idempotent_hint=True, open_world_hint=False
)
REMOVE = ToolAnnotations(
    read_only_hint=False, destructive_hint=True, idempotent_hint=True, open_world_hint=False
)

SPECS = [
    Spec(
        "create_task",
        "Create a task",
        text.CREATE_TASK,
        CreateTaskRequest,
        text.TASK_FIELDS,
        WRITE,
    ),
    Spec("get_tasks", "Get tasks", text.GET_TASKS, GetTasksArguments, text.FILTERS, READ),
    Spec(
        "update_task",
        "Update a task",
        text.UPDATE_TASK,
        UpdateTaskRequest,
        {**text.TASK_FIELDS, **text.UPDATE_FIELDS},
        EDIT,
    ),
    Spec(
        "delete_task",
        "Delete a task",
        text.DELETE_TASK,
        DeleteTaskRequest,
        text.DELETE_FIELDS,
        REMOVE,
    ),
    Spec(
        "get_task_run_status",
        "Get a run's status",
        text.GET_TASK_RUN_STATUS,
        RunIdArguments,
        text.RUN_ID,
        READ,
    ),
    Spec(
        "run_task_now",
        "Run a task now",
        text.RUN_TASK_NOW,
        TriggerRunRequest,
        text.RUN_NOW_FIELDS,
        WRITE,
    ),
    Spec("cancel_run", "Cancel a run", text.CANCEL_RUN, CancelRunRequest, text.RUN_ID, REMOVE),
    Spec("list_runs", "List runs", text.LIST_RUNS, ListRunsArguments, text.RUN_FILTERS, READ),
]


def _tool(spec: Spec, handler: Handler, caller_of: CallerSource) -> Tool:
    def call(ctx: Context[Any, Any]) -> CallToolResult:  # the SDK runs it on a worker thread
        try:
            caller = caller_of(ctx)  # credentials first, as the API checks them
            return success(handler(caller, raw_arguments(ctx)))
        except BackbeatError as exc:
            return failure(exc)

    return _template(spec).model_copy(update={"fn": call})


def _signature(ctx: Context[Any, Any]) -> CallToolResult:  # pragma: no cover - never called
    """The shape of every tool's function (`call` above), for the SDK to read once."""
    raise NotImplementedError


_TEMPLATES: dict[str, Tool] = {}


def _template(spec: Spec) -> Tool:
    """The spec's tool without its function. Built once per process: the SDK reads the
    function's signature and our schema comes from the API's model, about 5 ms a tool, and
    every app (each `serve` worker, each test) lists the same tools."""
    if spec.name not in _TEMPLATES:
        tool = Tool.from_function(
            _signature,
            name=spec.name,
            title=spec.title,
            description=spec.description,
            annotations=spec.annotations,
            structured_output=False,
        )
        # The function takes only the context; the advertised schema is the API's model's.
        schema = tool_schema(spec.arguments, spec.described)
        _TEMPLATES[spec.name] = tool.model_copy(update={"parameters": schema})
    return _TEMPLATES[spec.name]


def task_tools(backbeat: Backbeat, caller_of: CallerSource) -> list[Tool]:
    handlers = Handlers(backbeat)
    return [_tool(spec, getattr(handlers, spec.name), caller_of) for spec in SPECS]
