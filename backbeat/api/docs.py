"""What /openapi.json says about each route. The routes parse requests by hand (credentials
before body, the real service's messages), so their documentation is declared here, and
tests/api/test_openapi_agreement.py checks it against ../shared/openapi.yaml.

The TypedDicts below describe response bodies; routes build plain dicts of these shapes.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, NotRequired, Required

from pydantic import Field

# Pydantic needs typing_extensions' TypedDict on Python < 3.12 to build a schema from it.
from typing_extensions import TypedDict

from backbeat.api.delivery_docs import DELIVERY_FIELD, TaskDelivery
from backbeat.domain.runs import AttemptStatus, RunStatus
from backbeat.edge.extension import EXTENSION


def _described(description: str, **extra: Any) -> Any:
    return Field(description=description, json_schema_extra=extra or None)


def _extension(description: str, **extra: Any) -> Any:
    return Field(description=f"Extension: {description}", json_schema_extra={**EXTENSION, **extra})


_DATE_TIME = Field(json_schema_extra={"format": "date-time"})
_UUID_FIELD = Field(json_schema_extra={"format": "uuid"})
DateTime = Annotated[str, _DATE_TIME]


class Error(TypedDict):
    status: Literal["error"]
    error: Annotated[str, _described("Human-readable error message")]
    message: Annotated[str, _described("The same message, for clients that read `message`")]
    missing_fields: NotRequired[
        Annotated[
            list[str | int],
            _described("Path of the first field that failed validation (validation errors only)"),
        ]
    ]


class RunErrorInfo(TypedDict, total=False):
    message: str
    name: str
    stackTrace: str


class RunEnv(TypedDict, total=False):
    id: str
    name: str
    user: str | None


class RunAttempt(TypedDict, total=False):
    id: Annotated[str, _described("Attempt ID, prefixed with `attempt_`")]
    number: Annotated[int, _extension("1 for the first attempt, 2 for the first retry…")]
    status: AttemptStatus
    createdAt: DateTime
    updatedAt: DateTime
    startedAt: DateTime | None
    completedAt: DateTime | None
    error: RunErrorInfo | None


class TaskRunResponse(TypedDict, total=False):
    """A run, in Trigger.dev's run shape. Listings leave out payload, output, error, attempts."""

    id: Required[Annotated[str, _described("The unique run identifier, prefixed with `run_`")]]
    status: Required[RunStatus]
    taskIdentifier: Required[str]
    idempotencyKey: str | None
    version: str
    isTest: bool
    createdAt: Required[DateTime]
    updatedAt: Required[DateTime]
    startedAt: DateTime | None
    finishedAt: DateTime | None
    delayedUntil: DateTime | None
    ttl: Any
    expiredAt: DateTime | None
    tags: list[str]
    metadata: dict[str, Any] | None
    costInCents: float
    baseCostInCents: float
    durationMs: float
    env: RunEnv
    depth: int
    batchId: str | None
    triggerFunction: Literal["trigger", "triggerAndWait", "batchTrigger", "batchTriggerAndWait"]
    payload: Annotated[Any, _described("Only when retrieving by runId.")]
    output: Annotated[dict[str, Any] | None, _described("Only when retrieving by runId.")]
    error: Annotated[RunErrorInfo | None, _described("Only when retrieving by runId.")]
    attempts: Annotated[list[RunAttempt], _described("Only when retrieving by runId.")]
    schedule: Annotated[dict[str, Any] | None, _described("Only when retrieving by runId.")]
    relatedRuns: Annotated[dict[str, Any] | None, _described("Only when retrieving by runId.")]
    taskId: Annotated[str | None, _extension("the task this run belongs to.")]
    trigger: Annotated[
        Literal["scheduled", "catch_up", "manual"],
        _extension("why the run exists: on time, caught up late, or run now."),
    ]
    attemptCount: Annotated[int, _extension("attempts started so far.")]
    title: Annotated[
        str | None,
        _described(
            "The title of the task the run belongs to; null once the task is deleted. Not in "
            "a task's recent_runs."
        ),
    ]
    email_subject: Annotated[
        str | None,
        _described(
            "The subject of the first email the run sent; null when it sent none. Not in a "
            "task's recent_runs."
        ),
    ]


class Task(TypedDict, total=False):
    id: Annotated[str, _UUID_FIELD]
    title: str
    prompt: str
    schedule: str
    account_id: Annotated[str, _UUID_FIELD]
    artist_account_id: Annotated[str, _UUID_FIELD]
    enabled: bool | None
    trigger_schedule_id: str | None
    recent_runs: Annotated[list[TaskRunResponse], _described("Last 5 runs, newest first.")]
    upcoming: Annotated[list[DateTime], _described("Next 5 fire times, ISO 8601 UTC.")]
    owner_email: str | None
    artist_name: Annotated[str | None, _described("The artist account's name; null when unknown.")]
    model: Annotated[str, Field(min_length=1)] | None
    timezone: str | None
    created_at: Annotated[str, _extension("when the task was created.", format="date-time")]
    updated_at: Annotated[str, _extension("when the task last changed.", format="date-time")]
    misfire_grace_seconds: Annotated[int | None, _extension("catch-up window, seconds.")]
    max_attempts: Annotated[int | None, _extension("attempts per run.")]
    delivery: Annotated[TaskDelivery | None, DELIVERY_FIELD]
    pause_after_failures: Annotated[int | None, _extension("failed runs in a row that pause it.")]
    tools: Annotated[list[str] | None, _extension("the tools it may use; null: the built-ins.")]
    max_run_cost_usd: Annotated[float | None, _extension("the most one run may spend, USD.")]
    max_output_tokens: Annotated[int | None, _extension("the most tokens per model answer.")]
    model_timeout_seconds: Annotated[float | None, _extension("time limit per model call.")]


class TasksResponse(TypedDict):
    status: Literal["success", "error"]
    tasks: list[Task]
    error: NotRequired[str]
    next_cursor: NotRequired[
        Annotated[
            str | None,
            _extension(
                "listed with `limit` or `cursor`: pass as `cursor` for the next, older page "
                "(null on the last)."
            ),
        ]
    ]


class TaskRunsResponse(TypedDict):
    status: Literal["success", "error"]
    runs: list[TaskRunResponse]
    error: NotRequired[str]
    next_cursor: NotRequired[
        Annotated[str | None, _extension("pass as `cursor` for the next, older page.")]
    ]


class DeleteTaskResponse(TypedDict):
    status: Literal["success", "error"]
    error: NotRequired[str]


class PlanLimitError(TypedDict):
    """The owner's plan does not allow the task (HTTP 402), in Recoup's shape. Plans are off
    by default: only an account an operator gave a plan is ever refused."""

    status: Literal["error"]
    error: Literal["plan_limit"]
    limit: Annotated[
        Literal["task_count", "min_cadence"],
        _described("task_count: enabled tasks at the plan's limit; min_cadence: too frequent."),
    ]
    message: str
    plan: Literal["free", "starter", "pro"]
    task_limit: Annotated[int | None, _described("Enabled tasks at most; null: no limit.")]
    min_cadence_minutes: Annotated[
        int, _described("The shortest gap between two fires of a task the plan allows.")
    ]
    current_task_count: Annotated[
        int, _described("The owner's enabled tasks, the task in question left out.")
    ]
    billingUrl: Annotated[
        str | None, _described("Where to upgrade (BACKBEAT_BILLING_URL); null when unset.")
    ]


RESPONSE_MODELS: list[Any] = [
    Error,
    PlanLimitError,
    Task,
    TaskRunResponse,
    TasksResponse,
    TaskRunsResponse,
    DeleteTaskResponse,
]


def _json(component: str) -> dict[str, Any]:
    return {"application/json": {"schema": {"$ref": f"#/components/schemas/{component}"}}}


def _ok(description: str, component: str) -> dict[str, Any]:
    return {"description": description, "content": _json(component)}


def _error(description: str) -> dict[str, Any]:
    return _ok(description, "Error")


_COMMON_ERRORS: dict[int | str, dict[str, Any]] = {
    401: _error("Missing or invalid credentials"),
    403: _error("Forbidden: the account, task or artist is outside the caller's scope"),
    500: _error("Internal server error"),
    503: {
        **_error("The database is unavailable; retry after the Retry-After header"),
        "headers": {
            "Retry-After": {
                "description": "Seconds to wait before retrying",
                "schema": {"type": "integer"},
            }
        },
    },
}
_PLAN_LIMIT = {
    402: _ok("The owner's plan does not allow this (task count or cadence)", "PlanLimitError")
}
_BODY_ERRORS: dict[int | str, dict[str, Any]] = {
    400: _error("Invalid JSON or a field that failed validation (first issue reported)"),
    413: _error("Body larger than the server's limit"),
}


def _query(name: str, description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "schema": schema,
        "description": description,
    }


def _body(component: str, description: str) -> dict[str, Any]:
    return {
        "requestBody": {
            "description": description,
            "required": True,
            "content": _json(component),
        }
    }


_UUID = {"type": "string", "format": "uuid"}

LIST_TASKS: dict[str, Any] = {
    "summary": "List scheduled tasks",
    "description": "Tasks of the caller's account (or of `account_id`), newest first.",
    "responses": {
        200: _ok("Tasks retrieved successfully", "TasksResponse"),
        400: _error("Bad request"),
        402: _ok(
            "Read by `id`, an enabled task its owner's plan does not let run (as the real "
            "service answers, so that its worker skips the run). Lists are never refused.",
            "PlanLimitError",
        ),
        **_COMMON_ERRORS,
    },
    "openapi_extra": {
        "parameters": [
            _query("id", "Filter by task ID (UUID).", _UUID),
            _query(
                "account_id", "List this account's tasks, when the caller may act for it.", _UUID
            ),
            _query("artist_account_id", "Only tasks for this artist account.", _UUID),
            _query("enabled", "Filter by enabled state (true/false).", {"type": "boolean"}),
            {
                **_query(
                    "limit",
                    "Extension: a page of at most this many tasks, with `next_cursor`. Without "
                    "`limit` or `cursor`, every task (as Recoup lists them).",
                    {"type": "integer", "minimum": 1, "maximum": 100},
                ),
                **EXTENSION,
            },
            {
                **_query(
                    "cursor",
                    "Extension: `next_cursor` of the previous page (20 a page without `limit`).",
                    {"type": "string"},
                ),
                **EXTENSION,
            },
        ]
    },
}

CREATE_TASK: dict[str, Any] = {
    "summary": "Create scheduled task",
    "description": "Create a task that runs a prompt against an artist on a cron schedule. "
    "Answers a `TasksResponse` with the created task.",
    "responses": {
        200: _ok("Task created successfully", "TasksResponse"),
        **_BODY_ERRORS,
        **_PLAN_LIMIT,
        **_COMMON_ERRORS,
    },
    "openapi_extra": _body("CreateTaskRequest", "Task to create"),
}

UPDATE_TASK: dict[str, Any] = {
    "summary": "Update scheduled task",
    "description": "Only `id` is required; the fields given are updated. The caller may "
    "change a task whose owner it may act for (itself, an account sharing an organization, "
    "any account for an admin organization) without `account_id`. With a plan, enabling a "
    "task takes a slot and a new schedule must not fire more often than the plan allows.",
    "responses": {
        200: _ok("Task updated successfully", "TasksResponse"),
        **_BODY_ERRORS,
        **_PLAN_LIMIT,
        **_COMMON_ERRORS,
        404: _error("No task exists with the given `id`."),
    },
    "openapi_extra": _body(
        "UpdateTaskRequest", "JSON object with `id` and optional fields to merge onto the task."
    ),
}

DELETE_TASK: dict[str, Any] = {
    "summary": "Delete scheduled task",
    "description": "Delete a task by id (JSON body), the caller's or one whose owner it may act "
    "for. Its schedule stops at once and its unfinished runs are canceled; past runs stay "
    "retrievable through /api/tasks/runs. Answers only the status.",
    "responses": {
        200: _ok("Deleted", "DeleteTaskResponse"),
        **_BODY_ERRORS,
        **_COMMON_ERRORS,
        404: _error("Task not found"),
    },
    "openapi_extra": _body("DeleteTaskRequest", "The task to delete"),
}
